"""Model sizing: parameter counts, training FLOPs, memory and time estimates, recommendations."""

from __future__ import annotations

from clm_gui.config import ModelConfig


def flops_per_token(n_params: int, cfg: ModelConfig) -> float:
    """Training FLOPs per token: 6N for the matrix products (forward + backward) plus attention.

    N excludes position embeddings (they are a lookup, not a product). The attention term is
    12 * layers * width * context: the QK^T and AV products, forward and backward.
    """
    return 6 * n_params + 12 * cfg.n_layer * cfg.n_embd * cfg.context_length
