"""Fully sharded data parallelism: each rank holds a slice of the parameters, gradients and optimizer state.

This is PyTorch's FSDP2 (`torch.distributed.fsdp.fully_shard`), called directly. accelerate's own FSDP
support (`FullyShardedDataParallelPlugin`) turns on only for GPU process groups: on a CPU (gloo) group
it quietly falls back to DDP, so the sharding could never be tested without GPUs. accelerate still
launches the processes, owns the process group and reduces the logged loss.

Between forward passes every parameter is a `DTensor` holding this rank's slice. A sharded module
gathers its parameters when it is *called*, so the model must run through its own forward (which calls
every transformer block), and anything that reads the weights whole (checkpoints, the final model)
gathers them first with the `torch.distributed.checkpoint.state_dict` functions below.
"""

from __future__ import annotations

import torch
from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                     get_optimizer_state_dict, set_model_state_dict,
                                                     set_optimizer_state_dict)
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
from torch.distributed.tensor import DTensor

# Gathered onto rank 0's CPU only: the whole model never has to fit on one device.
_GATHER = StateDictOptions(full_state_dict=True, cpu_offload=True)
# Every rank reads the same full checkpoint and keeps its own slice. Not strict: a tied output head is
# stored once, as the input embedding.
_SCATTER = StateDictOptions(full_state_dict=True, strict=False)


def shard(lm: torch.nn.Module, precision: str) -> None:
    """Shard each transformer block as its own unit, then the rest (embeddings, final norm, output head).

    One unit per block means only one block's parameters are gathered at a time. The blocks are the
    classes Hugging Face lists as `_no_split_modules` (GPT2Block, LlamaDecoderLayer), as accelerate's
    FSDP wrap policy uses. Every rank must start from the same weights (the same seed): each keeps its
    slice of its own copy. In bf16 the gathered weights and the compute are bf16; gradients are reduced
    and the optimizer updates in fp32.
    """
    policy = (MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
              if precision == "bf16" else MixedPrecisionPolicy())
    blocks = [m for m in lm.modules() if type(m).__name__ in lm._no_split_modules]
    for block in blocks:
        fully_shard(block, mp_policy=policy)
    fully_shard(lm, mp_policy=policy)


def local_numel(tensors) -> int:
    """Elements this rank holds of these tensors (its slice where they are sharded)."""
    return sum((t.to_local() if isinstance(t, DTensor) else t).numel() for t in tensors)


def full_weights(lm: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The whole model's weights on rank 0's CPU (empty on the others). Every rank must call it."""
    return get_model_state_dict(lm, options=_GATHER)


def full_optimizer_state(lm: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """The whole optimizer state, keyed by parameter name, on rank 0's CPU. Every rank must call it."""
    return get_optimizer_state_dict(lm, optimizer, options=_GATHER)


def load_full_state(lm: torch.nn.Module, optimizer: torch.optim.Optimizer, weights: dict, optimizer_state: dict):
    """Load the whole-model state of a checkpoint; each rank keeps its slice. Every rank must call it."""
    set_model_state_dict(lm, weights, options=_SCATTER)
    set_optimizer_state_dict(lm, optimizer, optimizer_state, options=_SCATTER)
