"""Muon for a transformer's hidden matrices and AdamW for its other parameters, as one optimizer.

Muon (Jordan et al. 2024) replaces a matrix's momentum update with the nearest semi-orthogonal matrix (a
few Newton-Schulz iterations), so that every direction of the update moves at the same rate. Scaled as
Liu et al. 2025 ("Muon is scalable for LLM training") scale it, by 0.2 * sqrt(max(rows, columns)), its
update has about AdamW's root mean square, so an AdamW plan's learning rate and weight decay carry over.
Embeddings, the output layer and vectors (norms, biases) keep AdamW, as in every published Muon recipe.

Each update is made of tensor operations only and reads the learning rate as a number or as a tensor, so
a step captured as a CUDA graph (step_graph.py) replays it with the rate of the moment.
"""

from __future__ import annotations

import math

import torch

NEWTON_SCHULZ_COEFFICIENTS = (3.4445, -4.7750, 2.0315)  # Jordan et al.'s quintic: steep at zero
NEWTON_SCHULZ_STEPS = 5
MOMENTUM = 0.95
RMS_MATCHING_SCALE = 0.2  # Liu et al.: an orthogonal update times 0.2 sqrt(max dim) has AdamW's RMS


def orthogonalised(matrix: torch.Tensor) -> torch.Tensor:
    """About the nearest semi-orthogonal matrix to `matrix` (its singular values pushed towards 1), in
    bfloat16 on a GPU (where the iterations are cheap and stable in it) and in float32 elsewhere."""
    x = matrix.bfloat16() if matrix.is_cuda else matrix.float()
    tall = x.size(0) > x.size(1)
    if tall:  # iterate on the wide form: the Gram matrix is then the smaller one
        x = x.T
    x = x / x.norm().clamp(min=1e-7)  # the spectral norm is at most the Frobenius norm: now at most 1
    a, b, c = NEWTON_SCHULZ_COEFFICIENTS
    for _ in range(NEWTON_SCHULZ_STEPS):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return (x.T if tall else x).to(matrix.dtype)


class MuonAdamW(torch.optim.Optimizer):
    """Muon on the parameter groups marked `muon`, AdamW on the others (see the module's docstring)."""

    def __init__(self, groups: list[dict], lr: float, betas: tuple[float, float], eps: float = 1e-8):
        super().__init__(groups, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": 0.0, "muon": False,
                                  "momentum": MOMENTUM})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr = group["lr"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                param.mul_(1 - lr * group["weight_decay"])  # decoupled weight decay, as AdamW's
                if group["muon"]:
                    self._muon_update(param, group)
                else:
                    self._adamw_update(param, group)

    def _muon_update(self, param: torch.Tensor, group: dict) -> None:
        grad, momentum = param.grad, group["momentum"]
        state = self.state[param]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(param)
        buffer = state["momentum_buffer"]
        buffer.lerp_(grad, 1 - momentum)
        nesterov = grad.lerp(buffer, momentum)
        scale = RMS_MATCHING_SCALE * math.sqrt(max(param.shape))
        param.sub_(orthogonalised(nesterov) * (group["lr"] * scale))

    def _adamw_update(self, param: torch.Tensor, group: dict) -> None:
        grad, (beta1, beta2) = param.grad, group["betas"]
        state = self.state[param]
        if "step" not in state:
            state["step"] = torch.zeros((), device=param.device)
            state["exp_avg"] = torch.zeros_like(param)
            state["exp_avg_sq"] = torch.zeros_like(param)
        elif state["step"].device != param.device:  # read from a checkpoint onto the CPU
            state["step"] = state["step"].to(param.device)
        step = state["step"].add_(1)  # a tensor, so that a captured step counts on as it replays
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denominator = (exp_avg_sq / (1 - beta2**step)).sqrt_().add_(group["eps"])
        param.sub_(exp_avg / denominator * (group["lr"] / (1 - beta1**step)))
