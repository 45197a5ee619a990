"""What a run that failed says to its user: the cause in words and the fix with the numbers filled in.

The trainer catches the faults a user can do something about (the device ran out of memory, the disk
filled up while saving) and ends the run with one of these messages as its status, instead of a
traceback.
"""

from __future__ import annotations

import errno
import math
from pathlib import Path

from clm_gui.config import RunConfig

DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def memory_fixes(cfg: RunConfig) -> list[str]:
    """Changes that lower peak memory, largest effect first, each with the values to set."""
    t, m = cfg.train, cfg.model
    fixes = []
    if t.micro_batch_size > 1:
        micro = t.micro_batch_size // 2
        sequences = t.micro_batch_size * t.grad_accum_steps
        accum = math.ceil(sequences / micro)
        same = "the same" if micro * accum == sequences else "about the same"
        fixes.append(
            f"a smaller micro-batch with more accumulation: train.micro_batch_size {micro} and "
            f"train.grad_accum_steps {accum} ({same} {micro * accum} sequences per optimizer step, "
            "so training behaves the same; activation memory halves)"
        )
    if m.context_length >= 16:
        fixes.append(
            f"a shorter context: model.context_length {m.context_length // 2} (was {m.context_length}; "
            "the activations of each sequence at least halve)"
        )
    if not m.gradient_checkpointing:
        fixes.append(
            "activation checkpointing: model.gradient_checkpointing true (activations are recomputed in the "
            "backward pass instead of kept: far less memory for one more forward pass, about a third more compute)"
        )
    return fixes


def out_of_memory_message(cfg: RunConfig, device: str, step: int) -> str:
    t, m = cfg.train, cfg.model
    fixes = memory_fixes(cfg)
    advice = ("To fit, use one of: " + "; or ".join(fixes) + ". Then start the run again."
              if fixes else "Even the smallest settings do not fit: use a smaller model (fewer layers or a "
                            "narrower width) or a device with more memory.")
    return (
        f"Out of memory on {device} at step {step}: the model, its optimizer state and the activations of "
        f"{t.micro_batch_size} sequences x {m.context_length} tokens per forward pass do not fit. "
        f"The memory has been released, so another run can start now. {advice}"
    )


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS


def save_failed_message(exc: OSError, what: str, previous: Path | None) -> str:
    """A failed write of `what`: the disk is full or another OS error, and which checkpoint is still safe."""
    kept = (f"The previous checkpoint ({previous.name}) is intact, so the run can be resumed from it"
            if previous is not None else "No earlier checkpoint exists, so the run must start again")
    if is_disk_full(exc):
        cause = f"the disk is full ({exc.strerror})"
        fix = "Free some space (delete old runs or checkpoints, or lower train.keep_checkpoints)"
    else:
        cause = f"{exc.strerror or exc}"
        fix = "Check that the runs folder is writable"
    return f"Saving {what} failed: {cause}. {kept}. {fix}, then resume the run."
