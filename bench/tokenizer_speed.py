"""The tokenizer wizard's training against a direct `tokenizers` call with the same settings.

1. Speed: both train a byte-level BPE on the same documents of the demo corpus (read into memory once,
   so that only training is timed), in alternating rounds. The wizard is
   `clm_gui.tokenizer.training.train_tokenizer` (validation, counting, progress, cancellation checks, wrapping as
   PreTrainedTokenizerFast); the direct call is a hand-built Tokenizer + BpeTrainer +
   `train_from_iterator`. Goal: wizard / direct <= 1.1. On a busy machine the two trainings' times
   vary more than their difference, so the wizard's own work is also timed alone.
2. Memory: each in a fresh process, streaming the demo corpus's training split (the way the wizard
   reads it) with a growing sample: the peak RSS over the process's baseline, for the wizard and for the
   direct call, next to the sample's size; and the peak of Python allocations made while training
   (tracemalloc: what the wizard's own code holds, which must not grow with the sample).

    python bench/tokenizer_speed.py [--documents N] [--vocab-size 8192] [--rounds 3] [--samples 200,800,0]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")  # both sides use every core, as in the app

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402

from clm_gui.config import DataConfig, TokenizerConfig  # noqa: E402
from clm_gui.data.held_out import stream_documents  # noqa: E402
from clm_gui.tokenizer.training import (  # noqa: E402
    _Feed,  # the wizard's feed, timed alone below
    check_training_settings,
    train_tokenizer,
    wrap_tokenizer,
)


def direct_training(texts, cfg: TokenizerConfig) -> Tokenizer:
    """What a user of `tokenizers` would write by hand for the wizard's byte-level BPE settings."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=cfg.vocab_size, min_frequency=cfg.min_frequency,
                                  special_tokens=[cfg.eos_token, cfg.pad_token],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def wizard_training(texts, cfg: TokenizerConfig):
    return train_tokenizer(texts, cfg, on_progress=lambda documents, size: None, should_stop=lambda: False)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of the process, Rust's included
    return usage.ru_utime + usage.ru_stime


def timed(train, texts, cfg) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, vocabulary size) of one training."""
    wall, cpu = time.perf_counter(), _cpu_seconds()
    tok = train(iter(texts), cfg)
    wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
    return wall, cpu, (tok.get_vocab_size() if isinstance(tok, Tokenizer) else len(tok))


def wizard_overhead(texts, cfg: TokenizerConfig, trained: Tokenizer) -> float:
    """Seconds of the wizard's own work around the Rust trainer, timed alone (free of the trainer's
    run-to-run noise): validating the settings, the counting and cancellable feed, wrapping the result."""
    start = time.perf_counter()
    check_training_settings(cfg)
    for _ in _Feed(texts, cfg.sample_documents, 0, lambda documents, size: None, lambda: False):
        pass
    wrap_tokenizer(trained, cfg)
    return time.perf_counter() - start


def speed(documents: int, cfg: TokenizerConfig, rounds: int) -> None:
    texts = list(itertools.islice(stream_documents(DataConfig(), "train"), documents or None))
    megabytes = sum(len(t.encode("utf-8", "replace")) for t in texts) / 1e6
    print(f"Speed: byte-level BPE, vocab {cfg.vocab_size:,}, min frequency {cfg.min_frequency}, "
          f"{len(texts):,} demo documents ({megabytes:,.1f} MB), {os.cpu_count()} CPUs, {rounds} rounds")
    wall, cpu = {"wizard": [], "direct": []}, {"wizard": [], "direct": []}
    for round_ in range(rounds):
        order = ("wizard", "direct") if round_ % 2 == 0 else ("direct", "wizard")  # cancel drift in load
        for name in order:
            seconds, cpu_seconds, vocab = timed(wizard_training if name == "wizard" else direct_training, texts, cfg)
            wall[name].append(seconds)
            cpu[name].append(cpu_seconds)
            print(f"  round {round_ + 1} {name:<6} {seconds:7.2f} s wall ({megabytes / seconds:5.2f} MB/s), "
                  f"{cpu_seconds:7.2f} s CPU, vocab {vocab:,}")
    for name in wall:
        print(f"  {name:<6} wall: best {min(wall[name]):7.2f} s ({megabytes / min(wall[name]):.2f} MB/s), median "
              f"{statistics.median(wall[name]):7.2f} s; CPU: median {statistics.median(cpu[name]):7.2f} s")
    overhead = min(wizard_overhead(texts, cfg, direct_training(iter(texts[:20]), cfg)) for _ in range(3))
    print(f"  the wizard's own work around the trainer: {overhead:.3f} s = "
          f"{100 * overhead / statistics.median(wall['direct']):.2f}% of the direct training's median wall time")
    for label, values in (("wall, best", {k: min(v) for k, v in wall.items()}),
                          ("wall, median", {k: statistics.median(v) for k, v in wall.items()}),
                          ("CPU, median", {k: statistics.median(v) for k, v in cpu.items()})):
        print(f"  ratio wizard/direct ({label}): {values['wizard'] / values['direct']:.3f}  (goal <= 1.1)")


# ---------------------------------------------------------------------------------------------
# Memory, one fresh process per measurement.


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


class PeakRss:
    """The highest RSS seen while the block runs, sampled every few milliseconds by a thread
    (the kernel's own peak, ru_maxrss, also counts whatever happened before the block)."""

    def __enter__(self):
        self.baseline = self.peak = _rss_mb()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.005):
            self.peak = max(self.peak, _rss_mb())

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())


def measure_memory(kind: str, sample: int, vocab_size: int) -> dict:
    import tracemalloc

    cfg = TokenizerConfig(vocab_size=vocab_size, sample_documents=sample)
    sizes = []

    def documents():
        for text in stream_documents(DataConfig(), "train"):
            sizes.append(len(text.encode("utf-8", "replace")))
            yield text

    next(iter(stream_documents(DataConfig(), "train")))  # warm up the dataset machinery before the baseline
    tracemalloc.start()
    with PeakRss() as rss:
        if kind == "wizard":
            wizard_training(documents(), cfg)
        else:
            direct_training(itertools.islice(documents(), sample or None), cfg)
    python_peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return {"kind": kind, "documents": len(sizes), "sample_mb": sum(sizes) / 1e6,
            "rss_growth_mb": rss.peak - rss.baseline, "python_peak_mb": python_peak}


def memory(samples: list[int], vocab_size: int) -> None:
    print("Memory: streaming the demo corpus, one fresh process each (RSS growth: peak RSS while training "
          "minus RSS before; Python peak: tracemalloc while training)")
    print(f"  {'trainer':<7} {'documents':>9} {'sample MB':>9} {'RSS growth MB':>13} {'Python peak MB':>14}")
    for sample in samples:
        for kind in ("wizard", "direct"):
            out = subprocess.run([sys.executable, __file__, "--child", kind, "--sample", str(sample),
                                  "--vocab-size", str(vocab_size)], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"  {r['kind']:<7} {r['documents']:>9,} {r['sample_mb']:>9.1f} {r['rss_growth_mb']:>13.1f} "
                  f"{r['python_peak_mb']:>14.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=0, help="demo documents for the speed test (0: all)")
    parser.add_argument("--vocab-size", type=int, default=8192)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", default="200,800,0", help="sample sizes for the memory test (0: all)")
    parser.add_argument("--child", choices=("wizard", "direct"), help=argparse.SUPPRESS)
    parser.add_argument("--sample", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_memory(args.child, args.sample, args.vocab_size)))
        return
    print(time.strftime("%Y-%m-%d %H:%M"), f"load average {os.getloadavg()[0]:.1f}")
    speed(args.documents, TokenizerConfig(vocab_size=args.vocab_size), args.rounds)
    memory([int(s) for s in args.samples.split(",")], args.vocab_size)


if __name__ == "__main__":
    main()
