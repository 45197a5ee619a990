"""One training step: forward and backward over the micro-batches, clipping, the optimizer's update.

The trainer runs every step through `TrainingStep`; bench/sizing_accuracy.py measures the planner
against the same object, so the bench times exactly what a run does.
"""

from __future__ import annotations

import contextlib

import torch
from accelerate import Accelerator

from clm_gui.config import TrainConfig
from clm_gui.train.step_graph import WARMUP_STEPS, StepGraph


class TrainingStep:
    """`step(batches)`: one optimizer step over `batches` (host tensors, one per micro-batch); the mean
    loss as a device tensor. `mode` is `trainer.step_mode`'s: "eager", "compiled" (the step runs through
    torch.compile) or "graph" (compiled, and after `WARMUP_STEPS` eager steps captured as one CUDA graph).

    `module` is the accelerate-prepared model with its loss (`CausalLMLoss`); `optimizer` its prepared
    optimizer, made capturable first where the mode is "graph" (`step_graph.prepare_optimizer`)."""

    def __init__(self, accelerator: Accelerator, module: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 train: TrainConfig, device: torch.device, mode: str):
        self.accelerator, self.module, self.optimizer, self.device = accelerator, module, optimizer, device
        self.grad_accum_steps, self.grad_clip = train.grad_accum_steps, train.grad_clip
        self.captures = mode == "graph"
        self.step_module = module if mode == "eager" else torch.compile(module)
        self.graph: StepGraph | None = None
        self.eager_steps = 0

    def __call__(self, batches: list[torch.Tensor]) -> torch.Tensor:
        if self.graph is None and self.captures and self.eager_steps >= WARMUP_STEPS:
            self.graph = StepGraph(self.on_device, batches, self.device)
        if self.graph is not None:
            return self.graph.replay(batches)
        self.eager_steps += 1
        return self.on_device([batch.to(self.device, non_blocking=True) for batch in batches])

    def on_device(self, batches: list[torch.Tensor]) -> torch.Tensor:
        """The step itself, on batches already on the device (what a CUDA graph captures)."""
        acc, total = self.accelerator, torch.zeros((), device=self.device)
        for micro, batch in enumerate(batches):
            sync = micro == self.grad_accum_steps - 1
            with contextlib.nullcontext() if sync else acc.no_sync(self.module):
                loss = self.step_module(batch)
                acc.backward(loss / self.grad_accum_steps)
            total += loss.detach()
        if self.grad_clip:
            acc.clip_grad_norm_(self.module.parameters(), self.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total / self.grad_accum_steps
