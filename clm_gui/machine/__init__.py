"""The machine: CPU, memory, disk and GPUs, and the torch devices training runs on."""
