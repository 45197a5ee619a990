"""Run folders: records, checkpoints, monitoring, comparison, the model card, and exports (zip, Hub, GGUF)."""
