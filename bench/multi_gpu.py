"""Scaling from one GPU to several through the project's own CLI and `accelerate launch`.

1. Throughput: GPT-2 small, context 1024, the same per-GPU micro-batch on 1 and on N GPUs.
2. Agreement: a 1-GPU run with gradient accumulation N and an N-GPU run without, so both take the same
   global batch (the same windows at every step, by the data sharding): their loss curves must agree.

With --fsdp instead: DDP and FSDP (`train.distributed`) on the same N GPUs and configuration, for
tokens/s and peak memory per GPU (rank 0's `torch.cuda.max_memory_allocated`), and their loss curves.

    python bench/multi_gpu.py --gpus 2 [--batch 32] [--steps 150]
    python bench/multi_gpu.py --gpus 2 --fsdp [--set train.compile=off ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.train_throughput import GPT2_SMALL, prepare_tokenizer  # noqa: E402
from clm_gui.config import RunConfig  # noqa: E402
from clm_gui.jobs.launch import SAFE_NCCL_ENV  # noqa: E402
from clm_gui.runs.folder import RunDir  # noqa: E402


def write_config(work: Path, tokenizer: Path, batch: int, accum: int, steps: int, distributed: str = "ddp") -> Path:
    cfg = RunConfig(name=f"b{batch}-a{accum}-{distributed}")
    cfg.tokenizer.path = str(tokenizer)
    for key, value in GPT2_SMALL.items():
        setattr(cfg.model, key, value)
    t = cfg.train
    t.max_steps, t.micro_batch_size, t.grad_accum_steps, t.warmup_steps = steps, batch, accum, 20
    t.log_interval, t.eval_interval, t.sample_interval, t.save_interval = 10, 0, 0, 0
    t.distributed = distributed
    path = work / f"{cfg.name}.yaml"
    cfg.check().save(path)
    return path


def train(config: Path, runs: Path, gpus: int, overrides: list[str]) -> RunDir:
    before = set(runs.iterdir()) if runs.exists() else set()
    train_args = ["-m", "clm_gui", "train", str(config), "--runs-dir", str(runs)]
    train_args += [arg for item in overrides for arg in ("--set", item)]
    if gpus == 1:
        cmd = [sys.executable, *train_args]
    else:
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(gpus),
               "--mixed_precision", "no", "--dynamo_backend", "no", *train_args]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **SAFE_NCCL_ENV}, cwd=ROOT)
    if out.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-4000:]}")
    [new] = [p for p in set(runs.iterdir()) - before if not p.name.startswith(".")]
    return RunDir(new)


def summary(run: RunDir, steps: int) -> dict:
    records = [r for r in run.read_metrics() if r["kind"] == "train"]
    steady = [r for r in records if r["step"] > max(30, steps // 3)]
    return {"tokens_per_s": statistics.median(r["tokens_per_s"] for r in steady),
            "mfu": statistics.median(r.get("mfu", 0) for r in steady),
            "memory_gb": max(r["memory_gb"] for r in records),
            "losses": {r["step"]: r["train_loss"] for r in records}}


def print_agreement(name_a: str, a: dict, name_b: str, b: dict) -> None:
    common = sorted(set(a["losses"]) & set(b["losses"]))
    diffs = [abs(a["losses"][s] - b["losses"][s]) for s in common]
    print(f"  {len(common)} logged steps, max |diff| {max(diffs):.4f}, final {a['losses'][common[-1]]:.4f} vs "
          f"{b['losses'][common[-1]]:.4f}")
    for step in common[:: max(1, len(common) // 8)]:
        print(f"  step {step:>4}: {name_a} {a['losses'][step]:.4f}   {name_b} {b['losses'][step]:.4f}")


def compare_sharding(args, tokenizer: Path, runs: Path) -> dict:
    """DDP and FSDP on the same GPUs, micro-batch and steps."""
    n = args.gpus
    results = {mode: summary(train(write_config(args.work, tokenizer, args.batch, 1, args.steps, mode), runs, n,
                                   args.overrides), args.steps)
               for mode in ("ddp", "fsdp")}
    for mode, r in results.items():
        print(f"{mode.upper():4} on {n} GPUs: {r['tokens_per_s']:>11,.0f} tok/s  MFU {r['mfu'] * 100:.1f}% per GPU  "
              f"peak memory {r['memory_gb']:.2f} GiB per GPU (micro-batch {args.batch} each)")
    ddp, fsdp = results["ddp"], results["fsdp"]
    print(f"FSDP / DDP: tokens/s {fsdp['tokens_per_s'] / ddp['tokens_per_s']:.3f}x, "
          f"peak memory {fsdp['memory_gb'] / ddp['memory_gb']:.3f}x")
    print("loss agreement, DDP vs FSDP:")
    print_agreement("DDP", ddp, "FSDP", fsdp)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpus", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--work", type=Path, default=Path("/tmp/clm-bench"))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--fsdp", action="store_true", help="compare FSDP with DDP on --gpus GPUs instead")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="a setting for every run, e.g. train.compile=off (repeatable)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    tokenizer = prepare_tokenizer(args.work, 50257)
    runs = args.work / "runs"
    if args.fsdp:
        results = compare_sharding(args, tokenizer, runs)
        if args.out:
            args.out.write_text(json.dumps(results))
        return
    n = args.gpus
    config = write_config(args.work, tokenizer, args.batch, 1, args.steps)
    single = summary(train(config, runs, 1, args.overrides), args.steps)
    multi = summary(train(config, runs, n, args.overrides), args.steps)
    accum = summary(train(write_config(args.work, tokenizer, args.batch, n, args.steps), runs, 1, args.overrides),
                    args.steps)
    scaling = multi["tokens_per_s"] / single["tokens_per_s"]
    print(f"1 GPU : {single['tokens_per_s']:>11,.0f} tok/s  MFU {single['mfu'] * 100:.1f}%  (micro-batch {args.batch})")
    print(f"{n} GPUs: {multi['tokens_per_s']:>11,.0f} tok/s  MFU {multi['mfu'] * 100:.1f}% per GPU  "
          f"(micro-batch {args.batch} each)  scaling {scaling:.3f}x")
    print(f"loss agreement, global batch {args.batch * n}: 1 GPU x accumulation {n} vs {n} GPUs:")
    print_agreement("1 GPU", accum, f"{n} GPUs", multi)
    if args.out:
        args.out.write_text(json.dumps({"single": single, "multi": multi, "accum": accum, "scaling": scaling}))


if __name__ == "__main__":
    main()
