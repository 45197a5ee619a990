"""What the machine has: CPU, memory, disk and NVIDIA GPUs, and what a GPU can compute at peak."""

from __future__ import annotations

# Dense (no sparsity) peak throughput in TFLOP/s, from the vendors' datasheets.
PEAK_TFLOPS = {
    "H100 SXM": {"bf16": 989.0, "fp16": 989.0, "fp32": 67.0},
    "H100 PCIe": {"bf16": 756.0, "fp16": 756.0, "fp32": 51.0},
    "H200": {"bf16": 989.0, "fp16": 989.0, "fp32": 67.0},
    "A100": {"bf16": 312.0, "fp16": 312.0, "fp32": 19.5},
}


def gpu_model_key(name: str) -> str | None:
    """Map a device name as the driver reports it to a row of PEAK_TFLOPS."""
    upper = name.upper()
    if "H200" in upper:
        return "H200"
    if "H100" in upper:
        return "H100 PCIe" if "PCIE" in upper else "H100 SXM"
    if "A100" in upper:
        return "A100"
    return None


def peak_flops(name: str, precision: str) -> float | None:
    """Peak FLOP/s of the named GPU at this precision, or None when the model is not in the table."""
    key = gpu_model_key(name)
    if key is None:
        return None
    return PEAK_TFLOPS[key].get(precision, PEAK_TFLOPS[key]["fp32"]) * 1e12
