"""The model: its architecture, its size against the compute, and text generation."""
