"""Run folders: their records, checkpoints list, monitoring and comparison, the model card, and exports (zip, Hub, GGUF)."""
