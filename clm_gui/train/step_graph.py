"""A whole training step (forward, backward, clipping, the optimizer's update) as one CUDA graph.

A model of a few million parameters runs each kernel in microseconds, so its step is bound by the host:
Python, the dispatcher and a few hundred kernel launches, not by the card. Captured once, the step
replays from a single launch, and the host's only work per step is copying the batch into the graph's
input and setting the learning rate (docs/benchmarks.md, "Small models").

What a captured step needs, and the trainer arranges:
- the step has run eagerly a few times first (`WARMUP_STEPS`), so that `torch.compile` has compiled it,
  the optimizer has made its state and the allocator has settled;
- the gradients are `None` when it is captured, so that the backward pass allocates them in the graph's
  memory and every replay writes them afresh;
- the optimizer is capturable and reads its learning rate from a tensor (`set_learning_rate`), not from
  a Python number that the capture would freeze;
- nothing in the step waits for the host (no `.item()`): the loss comes back as a device tensor.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

WARMUP_STEPS = 3  # eager steps before the capture: compile, optimizer state, allocator


class StepGraph:
    """`step(inputs) -> loss` captured on example inputs; `replay(batches)` runs it on new ones."""

    def __init__(self, step: Callable[[list[torch.Tensor]], torch.Tensor], example: list[torch.Tensor],
                 device: torch.device):
        self.inputs = [batch.to(device, copy=True) for batch in example]
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.loss = step(self.inputs)

    def replay(self, batches: list[torch.Tensor]) -> torch.Tensor:
        """Run the captured step on `batches` (same shapes as the example); the loss as a device tensor."""
        for static, batch in zip(self.inputs, batches):
            static.copy_(batch, non_blocking=True)
        self.graph.replay()
        return self.loss.clone()  # the next replay overwrites the graph's own loss tensor


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every group's learning rate, in place where it is a tensor (a captured step reads it there)."""
    for group in optimizer.param_groups:
        if torch.is_tensor(group["lr"]):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr


def prepare_optimizer(optimizer: torch.optim.Optimizer, captured: bool, device: torch.device) -> None:
    """Make the optimizer fit for a captured step (capturable, its learning rate a tensor on `device`), or
    undo that: a checkpoint saved by a captured run may resume in one that is not, or on another device."""
    for group in optimizer.param_groups:
        lr = float(group["lr"])
        group["capturable"] = captured
        group["lr"] = torch.tensor(lr, device=device) if captured else lr
