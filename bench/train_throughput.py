"""Training throughput of the project's own training path (the Trainer the app and CLI run).

Each configuration trains in a fresh subprocess through `clm_gui.train.trainer.Trainer` on the demo corpus
(text files on disk -> the project's tokenize-and-pack pipeline), or on synthetic token ids for the
input-pipeline comparison, and prints one line: steady-state tokens/s, MFU, peak memory, time to the
first step (tokenizer, data, model build and compile included), and where the run's time went (setup,
first step, evaluations, samples, saves, final/, the steps: the final status's `timings`).

    python bench/train_throughput.py                      # GPU: the GPT-2 small family of configurations
    python bench/train_throughput.py --cpu                # CPU: a tiny model, so CI can import and run it
    python bench/train_throughput.py --only gpt2-small,gpt2-small-synthetic --steps 60
    python bench/train_throughput.py --reference --compile on,graph --only 6x384-synthetic,2x128-synthetic --steps 300
        # the small shapes, compiled and as one CUDA graph, against the hand-written GPT in the same call
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from clm_gui.config import RunConfig  # noqa: E402
from clm_gui.runs.folder import new_run_dir  # noqa: E402
from clm_gui.train.trainer import Trainer  # noqa: E402

@dataclass
class Bench:
    model: dict  # ModelConfig fields
    batch: int  # micro-batch
    data: str  # memory | streaming | synthetic
    vocab: int = 50257
    evals: int = 0  # evaluations per run (samples and checkpoints at a tenth of that), as quickstart plans them
    steps: int = 0  # 0: --steps
    variant: str = ""  # experiments patched into the trainer, joined by "+": see `apply_variant`


GPT2_SMALL = dict(family="gpt2", n_layer=12, n_head=12, n_embd=768, context_length=1024)
GPT2_350M = dict(family="gpt2", n_layer=24, n_head=16, n_embd=1024, context_length=1024)
SMALL_10M = dict(family="gpt2", n_layer=6, n_head=6, n_embd=384, context_length=256)
SMALL_1M = dict(family="gpt2", n_layer=2, n_head=2, n_embd=128, context_length=128)
TINY = dict(family="gpt2", n_layer=2, n_head=2, n_embd=64, context_length=128)
CONFIGS = {
    "gpt2-small": Bench(GPT2_SMALL, 32, "memory"),
    "gpt2-small-synthetic": Bench(GPT2_SMALL, 32, "synthetic"),
    "gpt2-small-streaming": Bench(GPT2_SMALL, 32, "streaming"),
    "gpt2-small-hf": Bench(GPT2_SMALL, 32, "memory", variant="hf"),
    "gpt2-small-liger": Bench(GPT2_SMALL, 32, "memory", variant="liger"),
    "gpt2-small-synthetic-liger": Bench(GPT2_SMALL, 32, "synthetic", variant="liger"),
    # GPT-2 small against the hand-written GPT: the output layer and loss fused, attention kernels, autotuning.
    "gpt2-small-synthetic-cce": Bench(GPT2_SMALL, 32, "synthetic", variant="cce"),
    "gpt2-small-synthetic-cce-exact": Bench(GPT2_SMALL, 32, "synthetic", variant="cce-exact"),
    "gpt2-small-synthetic-cudnn": Bench(GPT2_SMALL, 32, "synthetic", variant="cudnn"),
    "gpt2-small-synthetic-cce-cudnn": Bench(GPT2_SMALL, 32, "synthetic", variant="cce+cudnn"),
    "gpt2-small-synthetic-autotune": Bench(GPT2_SMALL, 32, "synthetic", variant="autotune"),
    "gpt2-small-synthetic-regional": Bench(GPT2_SMALL, 32, "synthetic", variant="regional"),
    "gpt2-small-b64-synthetic": Bench(GPT2_SMALL, 64, "synthetic"),
    "gpt2-small-b64-synthetic-cce": Bench(GPT2_SMALL, 64, "synthetic", variant="cce"),
    "gpt2-small-b16": Bench(GPT2_SMALL, 16, "memory"),
    "gpt2-small-b64": Bench(GPT2_SMALL, 64, "memory"),
    "llama-small": Bench(dict(GPT2_SMALL, family="llama"), 32, "memory"),
    "gpt2-350m": Bench(GPT2_350M, 16, "memory"),
    "llama-350m": Bench(dict(GPT2_350M, family="llama"), 16, "memory"),
    "llama-350m-fp8": Bench(dict(GPT2_350M, family="llama"), 16, "memory", variant="fp8"),
    "llama-350m-synthetic": Bench(dict(GPT2_350M, family="llama"), 16, "synthetic"),
    "llama-350m-synthetic-fp8": Bench(dict(GPT2_350M, family="llama"), 16, "synthetic", variant="fp8"),
    # The shapes this app's users train most: launch-bound on a large card.
    "6x384-synthetic": Bench(SMALL_10M, 64, "synthetic", vocab=4096),
    "6x384-b256-synthetic": Bench(SMALL_10M, 256, "synthetic", vocab=4096),
    "6x384-v258-synthetic": Bench(SMALL_10M, 64, "synthetic", vocab=258),  # the default journey's GPU model
    "6x384-v258-synthetic-regional": Bench(SMALL_10M, 64, "synthetic", vocab=258, variant="regional"),
    "6x384-run": Bench(SMALL_10M, 64, "memory", vocab=4096, evals=40, steps=3000),  # a whole run at quickstart's cadence
    "2x128-synthetic": Bench(SMALL_1M, 64, "synthetic", vocab=8192),
    "2x128-b512-synthetic": Bench(SMALL_1M, 512, "synthetic", vocab=8192),
    "tiny-cpu": Bench(TINY, 8, "memory", vocab=1024),
    "tiny-cpu-synthetic": Bench(TINY, 8, "synthetic", vocab=1024),
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


def make_config(name: str, steps: int, tokenizer_dir: Path | None, compile_mode: str) -> RunConfig:
    bench = CONFIGS[name]
    cfg = RunConfig(name=name)
    cfg.data.streaming = bench.data == "streaming"
    cfg.tokenizer.path = str(tokenizer_dir) if tokenizer_dir else ""
    cfg.tokenizer.vocab_size = bench.vocab
    for key, value in bench.model.items():
        setattr(cfg.model, key, value)
    t = cfg.train
    t.max_steps, t.micro_batch_size, t.warmup_steps = steps, bench.batch, 10
    t.log_interval, t.eval_interval, t.sample_interval, t.save_interval = 10, 0, 0, 0
    if bench.evals:
        t.eval_interval = max(1, steps // bench.evals)
        t.sample_interval = t.save_interval = t.eval_interval * 10
    t.compile = compile_mode
    if name.startswith("tiny"):
        cfg.data.max_documents = 300
    return cfg.check()


def run_one(name: str, steps: int, work: Path, tokenizer_dir: Path | None, compile_mode: str) -> dict:
    steps = CONFIGS[name].steps or steps
    cfg = make_config(name, steps, tokenizer_dir, compile_mode)
    run = new_run_dir(work / "runs", cfg)
    apply_variant(CONFIGS[name].variant)
    trainer_cls = SyntheticTrainer if CONFIGS[name].data == "synthetic" else Trainer
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    status = trainer_cls(cfg, run).run()
    if status["state"] != "finished":
        raise SystemExit(f"{name}: {status}")
    records = [r for r in run.read_metrics() if r["kind"] == "train"]
    steady = [r for r in records if r["step"] > max(20, steps // 3)]
    return {
        "name": name, "compile": compile_mode, "batch": cfg.train.micro_batch_size, "tokens_per_s": statistics.median(
            r["tokens_per_s"] for r in steady),
        "mfu": statistics.median(r["mfu"] for r in steady) if "mfu" in steady[0] else None,
        "peak_memory_gb": max(r["memory_gb"] for r in records),
        "time_to_first_step_s": records[0]["startup_s"], "timings": status["timings"],
        "last_loss": records[-1]["train_loss"], "loss_curve": [r["train_loss"] for r in records],
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
    }


def apply_variant(variant: str) -> None:
    """Patch experiments (joined by "+") into the trainer, in this bench process only.

    hf: the model's own transformers forward instead of the lean one (fast_forward.py). liger: the output
    layer and cross-entropy fused and chunked (liger-kernel), so the logits are never whole in memory.
    cce, cce-exact: the same through cut-cross-entropy's kernels (cce skips the gradient's negligible
    entries, as its authors recommend; cce-exact computes them all). cudnn: attention through cuDNN's
    kernel instead of FlashAttention-2. autotune: inductor's max-autotune (the graph is still ours).
    fp8: torchao's float8 training for every linear layer but the output head (Llama: GPT-2's layers are
    transformers' Conv1D, which torchao does not convert). regional: the step compiled a region at a time
    (`regional_loss`) instead of as one module.
    """
    import clm_gui.train.trainer as trainer

    for part in filter(None, variant.split("+")):
        if part == "hf":
            trainer.hidden_states_fn = lambda lm: None
        elif part in ("liger", "cce", "cce-exact"):
            trainer.CausalLMLoss.forward = fused_output_loss(part)
        elif part == "cudnn":
            torch.backends.cuda.enable_flash_sdp(False)
            torch.backends.cuda.enable_mem_efficient_sdp(False)
            torch.backends.cuda.enable_cudnn_sdp(True)
        elif part == "autotune":
            compile_ = torch.compile
            trainer.torch.compile = lambda module: compile_(module, mode="max-autotune-no-cudagraphs")
        elif part == "fp8":
            from torchao.float8 import convert_to_float8_training

            build = trainer.build_model

            def build_fp8(*args, **kwargs):
                model = build(*args, **kwargs)
                convert_to_float8_training(model, module_filter_fn=lambda module, fqn: "lm_head" not in fqn)
                return model

            trainer.build_model = build_fp8
        elif part == "regional":
            trainer.CausalLMLoss = regional_loss(trainer.CausalLMLoss)
            compile_ = torch.compile
            # The trainer's whole-module compile passes over it: its regions compile themselves.
            torch.compile = lambda model, **kw: (model if isinstance(model, trainer.CausalLMLoss)
                                                 else compile_(model, **kw))
        else:
            raise SystemExit(f"unknown variant {part!r}")


def regional_loss(base):
    """CausalLMLoss compiled a region at a time, each once: the transformer layer (one compiled function for
    every layer: they share code and shapes, and their parameters are its inputs) and the output layer with
    its loss. A candidate for a shorter wait before the first step than compiling the whole module, with
    the step still captured as one CUDA graph (compile time and tokens/s: `--cold`, against the same
    configuration without the variant)."""
    from clm_gui.train import fast_forward, loss

    class RegionalLoss(base):
        def __init__(self, lm, whole_model=False):
            super().__init__(lm, whole_model)
            family = lm.config.model_type
            layer = torch.compile(fast_forward.LAYERS[family])
            self.hidden_states = lambda model, ids: fast_forward.HIDDEN_STATES[family](model, ids, layer=layer)
            self.output_loss = torch.compile(loss.output_loss)

        def forward(self, input_ids):
            return self.output_loss(self.lm.get_output_embeddings(), self.hidden_states(self.lm, input_ids), input_ids)

    return RegionalLoss


def fused_output_loss(kind: str):
    """CausalLMLoss.forward with the output layer and the cross-entropy as one fused kernel."""
    if kind == "liger":
        from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss

        fused = LigerFusedLinearCrossEntropyLoss()

        def loss(hidden, weight, input_ids):
            return fused(weight, hidden[:, :-1].flatten(0, 1), input_ids[:, 1:].flatten())
    else:
        import cut_cross_entropy.cce
        from cut_cross_entropy import linear_cross_entropy

        # It looks for ignored targets with nonzero(), which waits for the GPU and cannot be captured in a
        # CUDA graph; packed windows have none, so "no targets to leave out" is the answer every time.
        cut_cross_entropy.cce._build_flat_valids = lambda targets, ignore_index, shift: None
        filter_eps = "high" if kind == "cce" else None

        @torch.compiler.disable  # its own Triton kernels; the whole-step graph captures them all the same
        def loss(hidden, weight, input_ids):  # bf16 both: the kernels take one dtype (autocast's)
            return linear_cross_entropy(hidden[:, :-1].to(torch.bfloat16), weight.to(torch.bfloat16),
                                        input_ids[:, 1:], filter_eps=filter_eps)

    def forward(self, input_ids):
        return loss(self.hidden_states(self.lm, input_ids), self.lm.get_output_embeddings().weight, input_ids)

    return forward


def run_reference(name: str, steps: int) -> dict:
    """The hand-written GPT (reference_gpt.py) at this configuration's shape, micro-batch and vocabulary."""
    from bench.reference_gpt import Shape, measure
    from clm_gui.model.architecture import padded_vocab_size

    bench = CONFIGS[name]
    m = bench.model
    shape = Shape(m["n_layer"], m["n_head"], m["n_embd"], m["context_length"], padded_vocab_size(bench.vocab))
    return {**measure(shape, bench.batch, steps), "name": name + HAND_WRITTEN, "compile": "on"}


HAND_WRITTEN = " (hand-written)"


def shape_key(name: str) -> tuple:
    """What the hand-written GPT's speed depends on: the shape, the micro-batch and the vocabulary."""
    bench = CONFIGS[name]
    return tuple(sorted(bench.model.items())), bench.batch, bench.vocab


def prepare_tokenizer(work: Path, vocab: int) -> Path:
    """A byte-level BPE of `vocab` tokens trained once on the demo corpus, reused by every run.

    At GPT-2's size (50,257) the demo corpus yields about 40k merges; unused placeholder tokens fill the
    rest, so the model has GPT-2's vocabulary (50,304 after padding) and the output layer costs what it
    costs in GPT-2.
    """
    from clm_gui.config import DataConfig, TokenizerConfig
    from clm_gui.data.sources import iter_documents
    from clm_gui.tokenizer.training import train_tokenizer

    folder = work / f"tokenizer-{vocab}"
    if not (folder / "tokenizer.json").is_file():
        tok = train_tokenizer(iter_documents(DataConfig(), "train"), TokenizerConfig(vocab_size=vocab,
                                                                                   min_frequency=1))
        tok.add_tokens([f"<|unused_{i}|>" for i in range(vocab - len(tok))], special_tokens=True)
        tok.save_pretrained(str(folder))
    return folder


def line(r: dict) -> str:
    mfu = f"{r['mfu'] * 100:5.1f}%" if r.get("mfu") is not None else "    -"
    text = (f"{r['name']:<34} {r['compile']:<15} batch {r['batch']:>3}  {r['tokens_per_s']:>11,.0f} tok/s  MFU {mfu}")
    if "last_loss" in r:
        text += f"  loss {r['last_loss']:.4f}"
    if "timings" not in r:
        return text + f"  {r['ms_per_step']:.2f} ms/step  {r['device']}"
    t = r["timings"]
    shares = "  ".join(f"{k} {v:.1f}s" for k, v in t.items() if k != "total")
    return (text + f"  peak {r['peak_memory_gb']:6.2f} GB  first step {r['time_to_first_step_s']:6.1f} s  "
            f"[{shares}; total {t['total']:.1f}s]  {r['device']}")


def in_subprocess(args, name: str, compile_mode: str, reference: bool) -> dict | None:
    cmd = [sys.executable, __file__, "--one", name, "--steps", str(args.steps), "--compile", compile_mode,
           "--work", str(args.work)] + (["--cpu"] if args.cpu else []) + (["--reference"] if reference else [])
    env = dict(os.environ)
    if args.cold:
        caches = Path(tempfile.mkdtemp(prefix="compile-caches-", dir=args.work))
        env.update(TORCHINDUCTOR_CACHE_DIR=str(caches / "inductor"), TRITON_CACHE_DIR=str(caches / "triton"))
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=env)
    except subprocess.TimeoutExpired:
        print(f"{name} ({compile_mode}): over --timeout {args.timeout} s", flush=True)
        return None
    found = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    if out.returncode or not found:
        print(f"{name} ({compile_mode}{', hand-written' if reference else ''}): failed\n{out.stderr[-3000:]}",
              flush=True)
        return None
    return json.loads(found[-1][len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu", action="store_true", help="tiny configurations for a CPU")
    parser.add_argument("--only", help="comma-separated configuration names: " + ", ".join(CONFIGS))
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--compile", default="auto",
                        help="train.compile, or several separated by commas to compare them side by side")
    parser.add_argument("--reference", action="store_true",
                        help="also time the hand-written GPT (reference_gpt.py) at each synthetic configuration")
    parser.add_argument("--work", type=Path, default=Path(os.environ.get("BENCH_WORK", "/tmp/clm-bench")))
    parser.add_argument("--out", type=Path, help="append each result as a JSON line")
    parser.add_argument("--timeout", type=float, help="seconds one configuration may take (default: no limit)")
    parser.add_argument("--cold", action="store_true",
                        help="each configuration compiles from empty inductor and Triton caches (a first run)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one configuration in this process
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.one:
        bench = CONFIGS[args.one]
        if args.reference:
            result = run_reference(args.one, args.steps)
        else:
            tokenizer_dir = None if args.cpu else prepare_tokenizer(args.work, bench.vocab)
            result = run_one(args.one, args.steps, args.work, tokenizer_dir, args.compile)
        print("RESULT " + json.dumps(result))
        return
    names = args.only.split(",") if args.only else (CPU_DEFAULT if args.cpu else GPU_DEFAULT)
    if not args.cpu:
        for vocab in sorted({CONFIGS[name].vocab for name in names}):
            start = time.time()
            tok = prepare_tokenizer(args.work, vocab)
            print(f"tokenizer: {len(__import__('transformers').AutoTokenizer.from_pretrained(str(tok)))} tokens, "
                  f"{time.time() - start:.0f} s", flush=True)
    results, timed_shapes = [], set()
    for name in names:
        runs = [(mode, False) for mode in args.compile.split(",")]
        if args.reference and CONFIGS[name].data == "synthetic" and shape_key(name) not in timed_shapes:
            runs.insert(0, ("on", True))  # once a shape: variants of one shape share their hand-written GPT
            timed_shapes.add(shape_key(name))
        for compile_mode, reference in runs:
            result = in_subprocess(args, name, compile_mode, reference)
            if result is None:
                continue
            results.append(result)
            print(line(result), flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps({**result, "date": time.strftime("%Y-%m-%d")}) + "\n")
    print_ratios(results)


def print_ratios(results: list[dict]) -> None:
    """Each run against the hand-written GPT of its configuration, and real text against synthetic ids."""
    by_name = {(r["name"], r["compile"]): r for r in results}
    references = {shape_key(r["name"].removesuffix(HAND_WRITTEN)): r for r in results if r["name"].endswith(HAND_WRITTEN)}
    for r in (r for r in results if not r["name"].endswith(HAND_WRITTEN)):
        reference = references.get(shape_key(r["name"]))
        if reference:
            print(f"{r['name']} ({r['compile']}) / hand-written = {r['tokens_per_s'] / reference['tokens_per_s']:.3f}")
    for real, synthetic in (("gpt2-small", "gpt2-small-synthetic"), ("gpt2-small-streaming", "gpt2-small-synthetic"),
                            ("tiny-cpu", "tiny-cpu-synthetic")):
        for (name, mode), r in by_name.items():
            if name == real and (synthetic, mode) in by_name:
                ratio = r["tokens_per_s"] / by_name[(synthetic, mode)]["tokens_per_s"]
                print(f"input pipeline ({mode}): {real} / {synthetic} = {ratio:.3f}")


if __name__ == "__main__":
    np.set_printoptions(suppress=True)
    main()
