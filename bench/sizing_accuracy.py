"""How far the planner's predictions (clm_gui.model.sizing) are from measured training steps.

For each model size and micro-batch it builds the model with clm_gui.model.architecture.build_model, runs real
training steps through the trainer's own step (`clm_gui.train.step.TrainingStep`: CausalLMLoss, the
trainer's AdamW, accelerate's autocast and backward, gradient clipping, and on CUDA torch.compile or one
CUDA graph, as `trainer.step_mode` chooses for the run), and prints the
measured peak memory and tokens/s next to the planner's predictions with the relative error. Below the
table it prints the calibration constants a least-squares fit of these rows suggests for sizing.py.

    python bench/sizing_accuracy.py                 # GPU: ~10M, 124M and 350M GPT-2, context 1024, micro-batch 8 and 16
    python bench/sizing_accuracy.py --cpu           # CPU: tiny models (peak memory from torch's MemTracker)
    python bench/sizing_accuracy.py --family llama --checkpointing --steps 10
    python bench/sizing_accuracy.py --smoke         # CI: one tiny model, one micro-batch, one timed step

GPU peak memory is torch.cuda.max_memory_allocated() over the steps after the first (compiled) one,
compared with the planner's `peak_allocated` (which leaves out the CUDA context and allocator reserve).
On the CPU, where PyTorch keeps no allocator statistics, torch.distributed._tools.MemTracker counts
every tensor alive during one tracked step.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import gc
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from accelerate import Accelerator  # noqa: E402

from clm_gui.config import ModelConfig, TrainConfig  # noqa: E402
from clm_gui.machine import hardware  # noqa: E402
from clm_gui.model import sizing  # noqa: E402
from clm_gui.model.architecture import build_model, padded_vocab_size  # noqa: E402
from clm_gui.train.loss import CausalLMLoss  # noqa: E402
from clm_gui.train.step import TrainingStep  # noqa: E402
from clm_gui.train.step_graph import WARMUP_STEPS, prepare_optimizer  # noqa: E402
from clm_gui.train.trainer import make_optimizer, step_mode  # noqa: E402

# name: (layers, width, heads, vocabulary)
GPU_SIZES = {
    "10M": (4, 384, 6, 8192),
    "124M": (12, 768, 12, 50257),
    "350M": (24, 1024, 16, 50257),
}
SMOKE_SIZES = {"0.02M": (1, 32, 2, 256)}  # --smoke: seconds on one CPU core
CPU_SIZES = {
    "0.2M": (2, 64, 2, 1024),
    "0.8M": (2, 128, 4, 2048),
    "4M": (4, 256, 4, 4096),
}


@dataclass
class Row:
    name: str
    cfg: ModelConfig
    vocab: int
    micro_batch: int
    params: int
    peak_measured: float  # bytes
    peak_predicted: float
    tps_measured: float
    tps_predicted: float
    mfu_measured: float  # share of the device's peak FLOP/s actually reached


class RandomBatches:
    """Random token ids in the trainer's batch shape (speed and memory do not depend on the values)."""

    def __init__(self, vocab: int, batch: int, context: int, pin: bool):
        pool = torch.randint(0, vocab, (4, batch, context))
        self.pool = [b.pin_memory() if pin else b for b in pool]
        self.i = 0

    def next_batch(self) -> torch.Tensor:
        self.i += 1
        return self.pool[self.i % len(self.pool)]


def _accelerator(device: torch.device, precision: str) -> Accelerator:
    mixed = {"bf16": "bf16", "fp16": "fp16", "fp32": "no"}[precision]
    return Accelerator(mixed_precision=mixed, cpu=device.type == "cpu")


@dataclass
class Steps:
    """One model's training step, built the way Trainer._setup_model builds it, and its batches."""
    lm: torch.nn.Module
    step: TrainingStep
    batches: RandomBatches

    def run(self) -> torch.Tensor:
        return self.step([self.batches.next_batch()])


def _steps(acc: Accelerator, cfg: ModelConfig, vocab: int, micro_batch: int, device: torch.device,
           precision: str) -> Steps:
    train = TrainConfig(micro_batch_size=micro_batch, grad_accum_steps=1)
    lm = build_model(cfg, vocab, seed=0)
    module = CausalLMLoss(lm).to(device)
    optimizer = make_optimizer(module, train, device)
    module, optimizer = acc.prepare(module, optimizer)
    mode = step_mode(train.compile, device, 1, precision, cfg.gradient_checkpointing)
    step = TrainingStep(acc, module, optimizer, train, device, mode)
    prepare_optimizer(optimizer, step.captures, device)
    batches = RandomBatches(vocab, micro_batch, cfg.context_length, pin=device.type == "cuda")
    return Steps(lm, step, batches)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_one(acc, cfg: ModelConfig, vocab: int, micro_batch: int, device: torch.device, precision: str,
                steps: int) -> tuple[float, float, int]:
    """(peak bytes, median tokens/s, parameters) over `steps` training steps after the warm-up steps."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    training = _steps(acc, cfg, vocab, micro_batch, device, precision)
    params = sum(p.numel() for p in training.lm.parameters())
    # compilation, optimizer state creation, and where the step is captured, the capture
    for _ in range(WARMUP_STEPS + 1 if training.step.captures else 2):
        training.run()
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seconds = []  # per step; the median is robust to a stall (this bench also runs on shared CPUs)
    for _ in range(steps):
        start = time.perf_counter()
        training.run()
        _sync(device)
        seconds.append(time.perf_counter() - start)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device)
    else:
        peak = _tracked_peak(training)
    tokens_per_s = micro_batch * cfg.context_length / statistics.median(seconds)
    torch._dynamo.reset()  # compiled graphs hold references to the parameters
    acc.free_memory()
    del training
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return peak, tokens_per_s, params


def _tracked_peak(training: Steps) -> float:
    """Peak bytes of one CPU training step: every live tensor, counted by torch's MemTracker."""
    from torch.distributed._tools.mem_tracker import MemTracker

    tracker = MemTracker()
    tracker.track_external(training.step.module, training.step.optimizer)
    with tracker:
        training.run()
    return tracker.get_tracker_snapshot("peak")[torch.device("cpu")]["Total"]


def run(args) -> list[Row]:
    device = torch.device("cpu" if args.cpu else "cuda")
    spec = hardware.planner_device("cpu" if args.cpu else "cuda")
    acc = _accelerator(device, spec.precision)
    torch.backends.cuda.matmul.allow_tf32 = True
    rows = []
    sizes = SMOKE_SIZES if args.smoke else CPU_SIZES if args.cpu else GPU_SIZES
    for name, (layers, width, heads, vocab) in sizes.items():
        for micro_batch in args.micro_batches:
            cfg = ModelConfig(family=args.family, n_layer=layers, n_head=heads, n_embd=width,
                              context_length=args.context, gradient_checkpointing=args.checkpointing)
            print(f"{name} micro-batch {micro_batch} ...", file=sys.stderr, flush=True)
            peak, tps, params = measure_one(acc, cfg, vocab, micro_batch, device, spec.precision, args.steps)
            predicted = sizing.training_memory(cfg, vocab, micro_batch, spec.precision, 1, spec.compiled, spec.kind)
            single = dataclasses.replace(spec, count=1)  # the bench trains on one device
            mfu = sizing.model_flops_utilisation(cfg, vocab, tps, spec.peak_flops)
            rows.append(Row(name, cfg, vocab, micro_batch, params, peak, predicted.peak_allocated, tps,
                            sizing.tokens_per_second(cfg, vocab, micro_batch, single), mfu))
    return rows


def _error(predicted: float, measured: float) -> str:
    return f"{(predicted - measured) / measured:+.0%}"


def print_table(rows: list[Row], spec: sizing.DeviceSpec, args) -> None:
    when = datetime.date.today().isoformat()
    print(f"Device: {spec.name} ({spec.precision}, {'compiled' if spec.compiled else 'eager'}; peak "
          f"{hardware.format_flops(spec.peak_flops)}: {spec.peak_source}); torch {torch.__version__}; {when}; "
          f"context {args.context}; median of {args.steps} timed steps; {args.family}; "
          f"{torch.get_num_threads()} CPU thread(s)"
          f"{', activation checkpointing' if args.checkpointing else ''}.\n")
    print("| model | params | micro-batch | peak GB measured | predicted | error | tokens/s measured "
          "| predicted | error | MFU measured |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.name} | {r.params / 1e6:.1f}M | {r.micro_batch} | {r.peak_measured / 1e9:.3f} | "
              f"{r.peak_predicted / 1e9:.3f} | {_error(r.peak_predicted, r.peak_measured)} | "
              f"{r.tps_measured:,.0f} | {r.tps_predicted:,.0f} | {_error(r.tps_predicted, r.tps_measured)} | "
              f"{r.mfu_measured:.1%} |")


def print_calibration(rows: list[Row], spec: sizing.DeviceSpec) -> None:
    """Least-squares values for sizing.py's constants that would best match these measurements.

    Memory: measured peak - 12 bytes/param (weights + AdamW) = s x predicted activations + l x logits
    elements + c x params, giving a scale s for the activation coefficients, per_logit = l and
    weight_copy_bytes_per_param = c. Throughput: measured seconds per micro-batch = FLOPs / (peak x
    width factor) / max_share + layers x seconds_per_layer + seconds_per_micro_batch.
    """
    regime = sizing.regime(spec.precision, spec.compiled)
    coef = sizing.ACTIVATION_BYTES[(rows[0].cfg.family, regime)]
    x, y = [], []
    for r in rows:
        breakdown = sizing.training_memory(r.cfg, r.vocab, r.micro_batch, spec.precision, 1, spec.compiled, spec.kind)
        logit_elements = r.micro_batch * r.cfg.context_length * padded_vocab_size(r.vocab)
        x.append([breakdown.activations, logit_elements, r.params])
        y.append(r.peak_measured - 12 * r.params)
    (scale, per_logit, copies), *_ = np.linalg.lstsq(np.array(x), np.array(y), rcond=None)
    t = sizing.THROUGHPUT[spec.kind]
    ideal, layers, seconds = [], [], []
    for r in rows:
        flops = sizing.training_flops_per_token(r.cfg, r.vocab) * r.micro_batch * r.cfg.context_length
        ideal.append(flops / (spec.peak_flops * r.cfg.n_embd / (r.cfg.n_embd + t.half_width)))
        layers.append(r.cfg.n_layer)
        seconds.append(r.micro_batch * r.cfg.context_length / r.tps_measured)
    fixed = np.ones(len(rows))
    (inverse_share, per_layer, per_micro_batch), *_ = np.linalg.lstsq(np.array([ideal, layers, fixed]).T,
                                                                       np.array(seconds), rcond=None)
    print(f"\nSuggested calibration for ACTIVATION_BYTES[({rows[0].cfg.family!r}, {regime!r})] (now {coef}):")
    print(f"  multiply the per-width/per-ffn coefficients by {scale:.3f}; per_logit={per_logit:.2f}; "
          f"weight_copy_bytes_per_param={copies:.2f}")
    print(f"Suggested THROUGHPUT[{spec.kind!r}]: max_share={1 / inverse_share:.3f}, seconds_per_layer={per_layer:.2e}, "
          f"seconds_per_micro_batch={per_micro_batch:.2e} (now {t})")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cpu", action="store_true", help="tiny models on the CPU (a smoke test of the planner)")
    p.add_argument("--family", default="gpt2", choices=["gpt2", "llama"])
    p.add_argument("--context", type=int, default=None, help="default: 1024 on GPU, 128 on CPU")
    p.add_argument("--micro-batches", type=int, nargs="+", default=None, help="default: 8 16 on GPU, 2 4 on CPU")
    p.add_argument("--steps", type=int, default=None, help="timed steps per row (default 10 on GPU, 3 on CPU)")
    p.add_argument("--checkpointing", action="store_true", help="with activation checkpointing")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads for --cpu (default 1: on a shared machine more threads wait on each other)")
    p.add_argument("--smoke", action="store_true",
                   help="CI: --cpu with one tiny model, context 32, micro-batch 2 and one timed step")
    args = p.parse_args(argv)
    if args.smoke:
        args.cpu, args.context, args.micro_batches, args.steps = True, 32, [2], 1
    if args.cpu:
        torch.set_num_threads(args.threads)  # also for the matmul the planner's CPU peak is measured with
    if not args.cpu and not torch.cuda.is_available():
        p.error("no CUDA GPU here; use --cpu for the CPU smoke test")
    args.context = args.context or (128 if args.cpu else 1024)
    args.micro_batches = args.micro_batches or ([2, 4] if args.cpu else [8, 16])
    args.steps = args.steps or (3 if args.cpu else 10)
    rows = run(args)
    spec = hardware.planner_device("cpu" if args.cpu else "cuda")
    print(f"\nCPU: {hardware.snapshot().cpu.model}, {platform.platform()}")
    print_table(rows, spec, args)
    print_calibration(rows, spec)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
