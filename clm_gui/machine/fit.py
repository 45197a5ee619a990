"""Whether a run's model fits the memory of the device it will train on, asked before anything is written.

The planner's estimate (`model.sizing.training_memory`, calibrated against measured peaks) is held
against what the device has free now: a GPU's free memory as NVIDIA's driver reports it, or the RAM
available for a CPU run. A model that cannot fit is refused before a run folder is made or a corpus
tokenised, with the fixes spelled out; one that the estimate puts within the memory is let through.
Not checked: Apple's mps device (its memory is shared and not reported) and FSDP over several GPUs
(the estimate is for a whole copy of the model on each device).
"""

from __future__ import annotations

from clm_gui.config import RunConfig
from clm_gui.errors import UserError
from clm_gui.machine.hardware import snapshot
from clm_gui.model.sizing import training_memory
from clm_gui.runs.faults import memory_fixes
from clm_gui.units import GB

# Settings the estimate reads: while one of them has a problem, the estimate would judge a default.
ESTIMATE_READS = ("model.", "tokenizer.", "train.micro_batch_size", "train.grad_accum_steps", "train.device",
                  "train.precision", "train.compile", "train.gpus", "train.distributed")


def memory_problems(cfg: RunConfig) -> list[str]:
    """A sentence when the model, with its batch, cannot fit the device `cfg` trains on; else nothing."""
    from clm_gui.machine.devices import resolve_device  # torch loads here, not when the app starts

    t = cfg.train
    try:
        device = resolve_device(t.device)
    except UserError as exc:
        return [str(exc)]
    spec = t.gpus.replace(" ", "")  # "" or one GPU: train.device says which; "all" or "0,1": one process each
    named = None if spec == "all" else {int(g) for g in spec.split(",") if g}
    several = named is None or len(named) > 1
    if device.type not in ("cpu", "cuda") or (several and t.distributed == "fsdp"):
        return []
    snap = snapshot()
    if device.type == "cpu":
        available, where, bf16 = snap.memory.available_gb * GB, "the CPU (RAM available)", True
    else:
        gpus = [g for g in snap.gpus if not g.error and g.memory_free_gb is not None]
        wanted = {g.index for g in gpus} if named is None else named if several else {device.index or 0}
        chosen = [g for g in gpus if g.index in wanted]
        if not chosen:
            return []  # the driver does not say: the trainer finds out
        gpu = min(chosen, key=lambda g: g.memory_free_gb)
        available, where, bf16 = gpu.memory_free_gb * GB, f"GPU {gpu.index} ({gpu.name}, free memory)", gpu.bf16
    precision = t.precision if t.precision != "auto" else (
        "fp32" if device.type == "cpu" else "bf16" if bf16 is not False else "fp16")
    compiled = t.compile in ("on", "graph") or (t.compile == "auto" and device.type == "cuda")
    # tokenizer.vocab_size, even for a reused tokenizer: this check reads no file the config names (a hosted
    # visitor's paths are vetted later), and only the logits' share of the estimate depends on it.
    memory = training_memory(cfg.model, cfg.tokenizer.vocab_size, t.micro_batch_size, precision,
                             t.grad_accum_steps, compiled, device.type)
    if memory.total <= available:
        return []
    parts = memory.as_gb()
    state = parts["weights"] + parts["gradients"] + parts["optimizer"] + parts["weight_copies"]
    smaller = "a smaller model: fewer layers (model.n_layer) or a narrower width (model.n_embd)"
    # When the model's own state is too much, a smaller batch or context cannot help.
    fixes = "; or ".join([smaller] + (memory_fixes(cfg) if state * GB < available else []))
    return [f"The model does not fit in memory: training it needs about {memory.total / GB:,.1f} GB on {where}, "
            f"which has {available / GB:,.1f} GB (weights, gradients and optimizer state {state:,.1f} GB, "
            f"activations and logits {parts['activations'] + parts['logits']:,.1f} GB; estimated as the planner "
            f"does). To fit, use {fixes}."]

