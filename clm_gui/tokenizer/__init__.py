"""Tokenizers: train one, load or save one, measure one on held-out text, recommend one."""
