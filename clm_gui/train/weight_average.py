"""An exponential moving average (EMA) of the model's weights: the model a run evaluates and keeps.

On a small corpus trained for many passes, the weights at any one step carry the noise of their last
batches; their average over the last thousand or so steps generalises better (on the 1 MB benchmark the
published recipe went from 2.119 to 2.062 held-out bits per byte with decay 0.999, docs/benchmarks.md).
So, with `train.ema_decay` set, the trainer evaluates, samples, keeps as best/ and writes to final/ the
average, while the optimizer keeps training the raw weights; a checkpoint holds both, so a resumed run
continues the same average.

The decay warms up as min(decay, (1 + n) / (10 + n)) after n updates, so that the early average is not
dominated by the random initial weights (the same rule as torch.optim.swa_utils' EMA helpers in several
public training recipes). The update is one fused multi-tensor lerp, a few kernels a step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


class WeightAverage:
    """The EMA of `model`'s trainable parameters (buffers are not averaged: the models have none that learn)."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.names = [name for name, p in model.named_parameters() if p.requires_grad]
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.average = [p.detach().clone() for p in self.params]
        self.updates = 0

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self) -> None:
        """Move the average towards the current weights (after an optimizer step)."""
        weight = 1 - self.current_decay()
        torch._foreach_lerp_(self.average, [p.detach() for p in self.params], weight)
        self.updates += 1

    @contextlib.contextmanager
    @torch.no_grad()
    def applied(self) -> Iterator[None]:
        """The model holds the average inside the block and its own weights again after it."""
        own = [p.detach().clone() for p in self.params]
        torch._foreach_copy_([p.data for p in self.params], self.average)
        try:
            yield
        finally:
            torch._foreach_copy_([p.data for p in self.params], own)

    def state_dict(self) -> dict:
        """What a checkpoint keeps: the averaged tensors by parameter name, and the update count."""
        return {"updates": self.updates, "tensors": dict(zip(self.names, self.average))}

    @torch.no_grad()
    def load_state_dict(self, state: dict) -> None:
        tensors = state["tensors"]
        missing = [name for name in self.names if name not in tensors]
        if missing:
            raise KeyError(f"the saved weight average lacks {missing[:3]}")
        for name, average in zip(self.names, self.average):
            average.copy_(tensors[name])
        self.updates = int(state["updates"])
