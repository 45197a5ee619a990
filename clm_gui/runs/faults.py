"""What a run that failed says to its user: the cause in words and the fix with the numbers filled in.

The trainer catches the faults a user can do something about (the device ran out of memory, the disk
filled up while saving) and ends the run with one of these messages as its status, instead of a
traceback.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from clm_gui.config import RunConfig
from clm_gui.errors import UserError, first_line

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


def crash_message(exc: BaseException, details: str = "train.log") -> str:
    """The status of a run whose training raised an error nobody foresaw (a bug): never left "running"."""
    return f"Training crashed: {type(exc).__name__}: {first_line(exc)}. Details are in {details}."


def disk_full_errno(exc: BaseException | None) -> int | None:
    """ENOSPC or EDQUOT when `exc`, or an exception it was raised from or while handling, reports a full disk
    or quota; None for any other failure.

    The writers in C++ and Rust raise their own types, not OSError (seen on a full tmpfs):
    safetensors raises `SafetensorError("... I/O error: No space left on device (os error 28)")`, and
    `torch.save` into an open Python file raises `RuntimeError("... unexpected pos ...")` while handling
    that file's `OSError(ENOSPC)`. So the errno is looked for along the chain, then the system's own
    words for it in the messages; nothing else counts as a full disk.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            return exc.errno
        text = str(exc)
        for code in DISK_FULL_ERRNOS:
            if os.strerror(code) in text or f"(os error {code})" in text:
                return code
        exc = exc.__cause__ or exc.__context__
    return None


def is_disk_full(exc: BaseException) -> bool:
    return disk_full_errno(exc) is not None


def is_write_failure(exc: BaseException) -> bool:
    """A failed write the user can act on: a full disk (however the writer reports it) or an OS error."""
    return isinstance(exc, OSError) or is_disk_full(exc)


def save_failed_message(exc: BaseException, what: str, previous: Path | None) -> str:
    """A failed write of `what`: the disk is full or another OS error, and which checkpoint is still safe."""
    kept = (f"The previous checkpoint ({previous.name}) is intact, so the run can be resumed from it"
            if previous is not None else "No earlier checkpoint exists, so the run must start again")
    code = disk_full_errno(exc)
    if code is not None:
        cause = f"the disk is full ({os.strerror(code)})"
        fix = "Free some space (delete old runs or checkpoints, or lower train.keep_checkpoints)"
    else:
        cause = getattr(exc, "strerror", None) or first_line(exc)
        fix = "Check that the runs folder is writable"
    return f"Saving {what} failed: {cause}. {kept}. {fix}, then resume the run."


@contextlib.contextmanager
def reported_save_failure(what: str, previous: Callable[[], Path | None]) -> Iterator[None]:
    """Turn a failed write inside the block into a UserError naming `what` and the checkpoint that is safe
    (`previous()`, asked after the block has cleaned up); any other error passes through."""
    try:
        yield
    except Exception as exc:
        if not is_write_failure(exc):
            raise
        raise UserError(save_failed_message(exc, what, previous())) from None
