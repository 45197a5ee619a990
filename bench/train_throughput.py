"""Training throughput of the project's own training path (the Trainer the app and CLI run).

Each configuration trains in a fresh subprocess through `clm_gui.trainer.Trainer` on the demo corpus
(text files on disk -> the project's tokenize-and-pack pipeline), or on synthetic token ids for the
input-pipeline comparison, and prints one line: steady-state tokens/s, MFU, peak memory, time to the
first step (tokenizer, data, model build and compile included).

    python bench/train_throughput.py                      # GPU: the GPT-2 small family of configurations
    python bench/train_throughput.py --cpu                # CPU: a tiny model, so CI can import and run it
    python bench/train_throughput.py --only gpt2-small,gpt2-small-synthetic --steps 60
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from clm_gui.config import RunConfig  # noqa: E402
from clm_gui.runs import new_run_dir  # noqa: E402
from clm_gui.trainer import Trainer  # noqa: E402

GPT2_SMALL = dict(family="gpt2", n_layer=12, n_head=12, n_embd=768, context_length=1024)
CONFIGS = {
    # name: (model settings, micro-batch, data mode)
    "gpt2-small": (GPT2_SMALL, 32, "memory"),
    "gpt2-small-synthetic": (GPT2_SMALL, 32, "synthetic"),
    "gpt2-small-streaming": (GPT2_SMALL, 32, "streaming"),
    "gpt2-small-hf": (GPT2_SMALL, 32, "memory"),  # the model's own transformers forward, for comparison
    "gpt2-small-b16": (GPT2_SMALL, 16, "memory"),
    "gpt2-small-b64": (GPT2_SMALL, 64, "memory"),
    "llama-small": (dict(GPT2_SMALL, family="llama"), 32, "memory"),
    "gpt2-350m": (dict(family="gpt2", n_layer=24, n_head=16, n_embd=1024, context_length=1024), 16, "memory"),
    "tiny-cpu": (dict(family="gpt2", n_layer=2, n_head=2, n_embd=64, context_length=128), 8, "memory"),
    "tiny-cpu-synthetic": (dict(family="gpt2", n_layer=2, n_head=2, n_embd=64, context_length=128), 8,
                           "synthetic"),
}
GPU_DEFAULT = ["gpt2-small", "gpt2-small-synthetic", "gpt2-small-streaming"]
CPU_DEFAULT = ["tiny-cpu", "tiny-cpu-synthetic"]


class SyntheticWindows:
    """Random token ids with the same batch shape: the ceiling the real input pipeline is held to."""

    def __init__(self, vocab: int, batch: int, context: int, pin: bool):
        pool = torch.randint(0, vocab, (8, batch, context))
        self.pool = [b.pin_memory() if pin else b for b in pool]
        self.i = 0

    def next_batch(self):
        self.i += 1
        return self.pool[self.i % len(self.pool)]

    def state_dict(self):
        return {"position": self.i}

    def load_state_dict(self, state):
        self.i = state["position"]

    def close(self):
        pass


class SyntheticTrainer(Trainer):
    def _train_batches(self):
        t = self.cfg.train
        return SyntheticWindows(len(self.tokenizer), t.micro_batch_size, self.cfg.model.context_length,
                                self.device.type == "cuda")


def make_config(name: str, steps: int, tokenizer_dir: Path | None, vocab: int, compile_mode: str) -> RunConfig:
    model, batch, mode = CONFIGS[name]
    cfg = RunConfig(name=name)
    cfg.data.streaming = mode == "streaming"
    cfg.tokenizer.path = str(tokenizer_dir) if tokenizer_dir else ""
    cfg.tokenizer.vocab_size = vocab
    for key, value in model.items():
        setattr(cfg.model, key, value)
    t = cfg.train
    t.max_steps, t.micro_batch_size, t.warmup_steps = steps, batch, 10
    t.log_interval, t.eval_interval, t.sample_interval, t.save_interval = 10, 0, 0, 0
    t.compile = compile_mode
    if name.startswith("tiny"):
        cfg.data.max_documents = 300
    return cfg.check()


def run_one(name: str, steps: int, work: Path, tokenizer_dir: Path | None, vocab: int, compile_mode: str) -> dict:
    cfg = make_config(name, steps, tokenizer_dir, vocab, compile_mode)
    run = new_run_dir(work / "runs", cfg)
    if name.endswith("-hf"):
        import clm_gui.trainer

        clm_gui.trainer.hidden_states_fn = lambda lm: None
    trainer_cls = SyntheticTrainer if CONFIGS[name][2] == "synthetic" else Trainer
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    status = trainer_cls(cfg, run).run()
    if status["state"] != "finished":
        raise SystemExit(f"{name}: {status}")
    records = [r for r in run.read_metrics() if r["kind"] == "train"]
    steady = [r for r in records if r["step"] > max(20, steps // 3)]
    return {
        "name": name, "batch": cfg.train.micro_batch_size, "tokens_per_s": statistics.median(
            r["tokens_per_s"] for r in steady),
        "mfu": statistics.median(r["mfu"] for r in steady) if "mfu" in steady[0] else None,
        "peak_memory_gb": max(r["memory_gb"] for r in records),
        "time_to_first_step_s": records[0]["startup_s"],
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
    }


def prepare_tokenizer(work: Path, vocab: int) -> Path:
    """A byte-level BPE of GPT-2's size (50,257) trained once on the demo corpus, reused by every run.

    The demo corpus yields about 40k merges; unused placeholder tokens fill the rest, so the model has
    GPT-2's vocabulary (50,304 after padding) and the output layer costs what it costs in GPT-2.
    """
    from clm_gui.config import DataConfig, TokenizerConfig
    from clm_gui.data import iter_documents
    from clm_gui.tokenizer import train_tokenizer

    folder = work / "tokenizer"
    if not (folder / "tokenizer.json").is_file():
        tok = train_tokenizer(iter_documents(DataConfig(), "train"), TokenizerConfig(vocab_size=vocab,
                                                                                   min_frequency=1))
        tok.add_tokens([f"<|unused_{i}|>" for i in range(vocab - len(tok))], special_tokens=True)
        tok.save_pretrained(str(folder))
    return folder


def line(r: dict) -> str:
    mfu = f"{r['mfu'] * 100:5.1f}%" if r["mfu"] is not None else "    -"
    return (f"{r['name']:<24} batch {r['batch']:>3}  {r['tokens_per_s']:>11,.0f} tok/s  MFU {mfu}  "
            f"peak {r['peak_memory_gb']:6.2f} GB  first step {r['time_to_first_step_s']:6.1f} s  {r['device']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu", action="store_true", help="tiny configurations for a CPU")
    parser.add_argument("--only", help="comma-separated configuration names: " + ", ".join(CONFIGS))
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--compile", default="auto", choices=["auto", "on", "off"])
    parser.add_argument("--work", type=Path, default=Path(os.environ.get("BENCH_WORK", "/tmp/clm-bench")))
    parser.add_argument("--out", type=Path, help="append each result as a JSON line")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one configuration in this process
    args = parser.parse_args()
    vocab = 1024 if args.cpu else 50257
    args.work.mkdir(parents=True, exist_ok=True)
    if args.one:
        tokenizer_dir = None if args.cpu else args.work / "tokenizer"
        print("RESULT " + json.dumps(run_one(args.one, args.steps, args.work, tokenizer_dir, vocab, args.compile)))
        return
    if not args.cpu:
        start = time.time()
        tok = prepare_tokenizer(args.work, vocab)
        print(f"tokenizer: {len(__import__('transformers').AutoTokenizer.from_pretrained(str(tok)))} tokens, "
              f"{time.time() - start:.0f} s", flush=True)
    names = args.only.split(",") if args.only else (CPU_DEFAULT if args.cpu else GPU_DEFAULT)
    results = []
    for name in names:
        cmd = [sys.executable, __file__, "--one", name, "--steps", str(args.steps), "--compile", args.compile,
               "--work", str(args.work)] + (["--cpu"] if args.cpu else [])
        out = subprocess.run(cmd, capture_output=True, text=True)
        found = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
        if out.returncode or not found:
            print(f"{name}: failed\n{out.stderr[-3000:]}", flush=True)
            continue
        result = json.loads(found[-1][len("RESULT "):])
        results.append(result)
        print(line(result), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps({**result, "date": time.strftime("%Y-%m-%d")}) + "\n")
    by_name = {r["name"]: r for r in results}
    for real, synthetic in (("gpt2-small", "gpt2-small-synthetic"), ("gpt2-small-streaming", "gpt2-small-synthetic"),
                            ("tiny-cpu", "tiny-cpu-synthetic")):
        if real in by_name and synthetic in by_name:
            ratio = by_name[real]["tokens_per_s"] / by_name[synthetic]["tokens_per_s"]
            print(f"input pipeline: {real} / {synthetic} = {ratio:.3f}")


if __name__ == "__main__":
    np.set_printoptions(suppress=True)
    main()
