"""Scaling from one GPU to several through the project's own CLI and `accelerate launch`.

1. Throughput: GPT-2 small, context 1024, the same per-GPU micro-batch on 1 and on N GPUs.
2. Agreement: a 1-GPU run with gradient accumulation N and an N-GPU run without, so both take the same
   global batch (the same windows at every step, by the data sharding): their loss curves must agree.

    python bench/multi_gpu.py --gpus 2 [--batch 32] [--steps 150]
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
from clm_gui.launch import SAFE_NCCL_ENV  # noqa: E402
from clm_gui.runs import RunDir  # noqa: E402


def write_config(work: Path, tokenizer: Path, batch: int, accum: int, steps: int) -> Path:
    cfg = RunConfig(name=f"b{batch}-a{accum}")
    cfg.tokenizer.path = str(tokenizer)
    for key, value in GPT2_SMALL.items():
        setattr(cfg.model, key, value)
    t = cfg.train
    t.max_steps, t.micro_batch_size, t.grad_accum_steps, t.warmup_steps = steps, batch, accum, 20
    t.log_interval, t.eval_interval, t.sample_interval, t.save_interval = 10, 0, 0, 0
    path = work / f"{cfg.name}.yaml"
    cfg.check().save(path)
    return path


def train(config: Path, runs: Path, gpus: int) -> RunDir:
    before = set(runs.iterdir()) if runs.exists() else set()
    train_args = ["-m", "clm_gui", "train", str(config), "--runs-dir", str(runs)]
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
            "losses": {r["step"]: r["train_loss"] for r in records}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpus", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--work", type=Path, default=Path("/tmp/clm-bench"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    tokenizer = prepare_tokenizer(args.work, 50257)
    runs = args.work / "runs"
    n = args.gpus
    single = summary(train(write_config(args.work, tokenizer, args.batch, 1, args.steps), runs, 1), args.steps)
    multi = summary(train(write_config(args.work, tokenizer, args.batch, 1, args.steps), runs, n), args.steps)
    accum = summary(train(write_config(args.work, tokenizer, args.batch, n, args.steps), runs, 1), args.steps)
    scaling = multi["tokens_per_s"] / single["tokens_per_s"]
    print(f"1 GPU : {single['tokens_per_s']:>11,.0f} tok/s  MFU {single['mfu'] * 100:.1f}%  (micro-batch {args.batch})")
    print(f"{n} GPUs: {multi['tokens_per_s']:>11,.0f} tok/s  MFU {multi['mfu'] * 100:.1f}% per GPU  "
          f"(micro-batch {args.batch} each)  scaling {scaling:.3f}x")
    common = sorted(set(multi["losses"]) & set(accum["losses"]))
    diffs = [abs(multi["losses"][s] - accum["losses"][s]) for s in common]
    print(f"loss agreement, global batch {args.batch * n}: 1 GPU x accumulation {n} vs {n} GPUs, "
          f"{len(common)} logged steps, max |diff| {max(diffs):.4f}, final {accum['losses'][common[-1]]:.4f} vs "
          f"{multi['losses'][common[-1]]:.4f}")
    for step in common[:: max(1, len(common) // 8)]:
        print(f"  step {step:>4}: 1 GPU {accum['losses'][step]:.4f}   {n} GPUs {multi['losses'][step]:.4f}")
    if args.out:
        args.out.write_text(json.dumps({"single": single, "multi": multi, "accum": accum, "scaling": scaling}))


if __name__ == "__main__":
    main()
