"""GGUF export: time and file size for a 10M and a 124M GPT-2, and generation speed of the exported 124M
model in llama.cpp next to transformers' generate, on this machine's CPU.

The models are freshly initialised (export and generation cost do not depend on what the weights say);
the 124M one has GPT-2 small's shape and vocabulary rows (12 layers, width 768, 50,304 embedding rows),
with a byte-level BPE tokenizer of 8,192 tokens trained here (the other rows are padding, as the app pads).
Generation is greedy, 128 new tokens after a 16-token prompt, end-of-text ignored, on every core; the
engines take turns, three rounds, and the median and best rate are reported.

    python bench/gguf_export.py                 # both sizes, f32 / f16 / q8_0, then tokens/s
    python bench/gguf_export.py --tokens 64
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from clm_gui.config import ModelConfig, TokenizerConfig  # noqa: E402
from clm_gui.model.architecture import build_model, count_parameters  # noqa: E402
from clm_gui.runs.gguf_export import export_gguf  # noqa: E402
from clm_gui.tokenizer.training import train_tokenizer  # noqa: E402
from clm_gui.units import format_bytes  # noqa: E402
from tests.fast_runs import write_play  # noqa: E402

SIZES = {  # name: (layers, width, heads, embedding rows)
    "10M": (6, 320, 5, 8192),
    "124M": (12, 768, 12, 50257),
}
OUTTYPES = ("f32", "f16", "q8_0")


def save_model(folder: Path, size: str, tok) -> int:
    layers, width, heads, rows = SIZES[size]
    cfg = ModelConfig(family="gpt2", n_layer=layers, n_embd=width, n_head=heads, context_length=1024)
    model = build_model(cfg, rows, seed=0, eos_id=tok.eos_token_id, pad_id=tok.pad_token_id)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return count_parameters(model)


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def child_peak_rss_mb(*argv: str) -> float:
    """The peak resident memory of `python -m clm_gui ARGV` in a fresh process, sampled every 5 ms (the
    child's own ru_maxrss would count this large process's pages, which a fork copies before the exec)."""
    import psutil

    child = subprocess.Popen([sys.executable, "-m", "clm_gui", *argv], cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    watched, peak = psutil.Process(child.pid), 0
    while child.poll() is None:
        with contextlib.suppress(psutil.Error):
            peak = max(peak, watched.memory_info().rss)
        time.sleep(0.005)
    assert child.returncode == 0
    return peak / 1e6


def transformers_generator(folder: Path, tokens: int):
    """A function that generates `tokens` greedy tokens after a prompt with transformers; returns how many."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder).eval()

    @torch.no_grad()
    def generate(prompt: list[int]) -> int:
        out = model.generate(torch.tensor([prompt]), max_new_tokens=tokens, do_sample=False, eos_token_id=None,
                             pad_token_id=0)
        return out.shape[1] - len(prompt)

    return generate, lambda: None


def llama_cpp_generator(path: Path, tokens: int, context: int):
    import llama_cpp

    llm = llama_cpp.Llama(str(path), n_ctx=context, n_threads=os.cpu_count(), verbose=False)

    def generate(prompt: list[int]) -> int:
        generated = 0
        for _ in llm.generate(prompt, top_k=1, temp=0.0, reset=True):  # greedy; goes on until told to stop
            generated += 1
            if generated == tokens:
                break
        return generated

    return generate, llm.close


def tokens_per_s(engines: dict, prompt: list[int], tokens: int, rounds: int) -> dict[str, list[float]]:
    """Each engine's rate in each round; the engines take turns within a round, so a change in the machine's
    load falls on all of them alike."""
    rates = {name: [] for name in engines}
    for generate, _ in engines.values():
        generate(prompt[:4])  # warm-up: first-call allocations and kernel selection
    for _ in range(rounds):
        for name, (generate, _) in engines.items():
            started = time.perf_counter()
            assert generate(prompt) == tokens
            rates[name].append(tokens / (time.perf_counter() - started))
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=128, help="new tokens to generate")
    parser.add_argument("--rounds", type=int, default=3, help="timed generations per engine")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="clm-gguf-") as folder:  # 1.6 GB of models and files
        return measure(Path(folder), args)


def measure(work: Path, args) -> int:
    texts = write_play(work / "play.txt").read_text(encoding="utf-8").split("\n\n")
    tok = train_tokenizer(texts, TokenizerConfig(vocab_size=8192, min_frequency=1))
    print(f"load average before: {load_average()}")
    print("| model | parameters | outtype | export time | file size |\n|---|---:|---|---:|---:|")
    exported = {}
    for size in SIZES:
        folder = work / size / "final"
        n_params = save_model(folder, size, tok)
        for outtype in OUTTYPES:
            result = export_gguf(folder, outtype, work / f"{size}-{outtype}.gguf")
            exported[size, outtype] = result.path
            print(f"| GPT-2 {size} | {n_params / 1e6:,.1f}M | {outtype} | {result.seconds:.1f} s | "
                  f"{format_bytes(result.bytes)} |")
    folder = work / "124M" / "final"
    peak = child_peak_rss_mb("export", str(folder), "--format", "gguf", "--outtype", "q8_0", "--out",
                             str(work / "rss.gguf"))
    weights = sum(p.stat().st_size for p in folder.glob("*.safetensors")) / 1e6
    imports = child_peak_rss_mb("export", "--help")
    print(f"\nPeak memory of `python -m clm_gui export` (124M, q8_0) in a fresh process: {peak:,.0f} MB, "
          f"{peak - imports:,.0f} MB more than its imports alone, for {weights:,.0f} MB of weights")
    prompt = tok("ROMEO:\nBut soft, what light through yonder window breaks?",
                 add_special_tokens=False)["input_ids"][:16]
    engines = {"transformers generate (fp32)": transformers_generator(work / "124M" / "final", args.tokens)}
    for outtype in OUTTYPES:
        engines[f"llama.cpp, {outtype}"] = llama_cpp_generator(exported["124M", outtype], args.tokens,
                                                               len(prompt) + args.tokens)
    rates = tokens_per_s(engines, prompt, args.tokens, args.rounds)
    for _, close in engines.values():
        close()
    print(f"\nGreedy generation, GPT-2 124M, {len(prompt)}-token prompt, {args.tokens} new tokens, "
          f"{os.cpu_count()} threads, {args.rounds} rounds:\n| engine | tokens/s, median | best |\n|---|---:|---:|")
    for name, measured in rates.items():
        print(f"| {name} | {np.median(measured):,.1f} | {max(measured):,.1f} |")
    print(f"\nload average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
