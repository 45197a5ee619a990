"""Which device and precision a training process uses, and how many processes train together."""

from __future__ import annotations

import os

import torch

from clm_gui.errors import UserError


def world_size() -> int:
    """Processes training together (set by `torchrun` / `accelerate launch`; 1 otherwise)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("train.device asks for a CUDA GPU but none is available; use 'auto' or 'cpu'.")
    return device


def resolve_precision(precision: str, device: torch.device, sharded: bool = False) -> str:
    """bf16 where the GPU supports it, fp16 on older GPUs (fp32 when sharded: FSDP here has no fp16 loss
    scaling), fp32 on CPU; an explicit choice wins."""
    if precision != "auto":
        if device.type == "cpu" and precision == "fp16":
            raise UserError("fp16 training needs a GPU; use bf16 or fp32 on the CPU.")
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32" if sharded else "fp16"
    return "fp32"
