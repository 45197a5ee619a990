"""Streaming really streams: reading a corpus 100x larger must not grow the process's memory.

Generates a large (default 2 GB) and a small (default 20 MB) corpus of the same kind of text, then reads
each through the training path (`clm_gui.data.sources.iter_documents` in streaming mode) in its own subprocess
and prints each one's peak RSS, the ratio of the two (goal: within 1.2x) and how much memory grew
while reading (peak minus the RSS once everything was imported and the dataset opened).

    python bench/stream_memory.py [--large-gb 2] [--small-mb 20] [--formats txt,jsonl] [--workdir DIR]

Formats: `txt` is one plain-text file split into paragraphs (IterableDataset.from_generator), `jsonl`
is JSON Lines through `load_dataset("json", streaming=True)`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ("the of and to in is that it for was on are with as be by this at from model data train token "
         "stream memory corpus paragraph document language python gradient batch window loss").split()
BLOCK_DOCS = 500


def _documents_block(seed: int) -> list[str]:
    """About 1 MB of paragraphs of varied length (a few hundred to a few thousand characters)."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(50, 700))) for _ in range(BLOCK_DOCS)]


def generate(path: Path, size_bytes: int, fmt: str) -> int:
    """Write a corpus of about size_bytes; return its document count."""
    blocks = [_documents_block(seed) for seed in range(4)]
    written = documents = 0
    with open(path, "w", encoding="utf-8") as f:
        while written < size_bytes:
            block = blocks[documents // BLOCK_DOCS % len(blocks)]
            if fmt == "txt":
                chunk = "".join(f"{documents + i} {doc}\n\n" for i, doc in enumerate(block))
            else:
                chunk = "".join(json.dumps({"id": documents + i, "text": doc}) + "\n" for i, doc in enumerate(block))
            f.write(chunk)
            written += len(chunk)
            documents += len(block)
    return documents


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def current_rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def child(path: str) -> None:
    """Read every training document of the corpus in streaming mode; print one JSON line of figures."""
    from clm_gui.config import DataConfig
    from clm_gui.data.sources import iter_documents, load_source

    cfg = DataConfig(source=path, streaming=True)
    ds = load_source(cfg)
    baseline = current_rss_mb()
    started = time.perf_counter()
    documents = characters = 0
    for text in iter_documents(cfg, "train", ds=ds):
        documents += 1
        characters += len(text)
    seconds = time.perf_counter() - started
    print(json.dumps({"documents": documents, "characters": characters, "seconds": seconds,
                      "baseline_rss_mb": baseline, "peak_rss_mb": peak_rss_mb()}))


def measure(path: Path) -> dict:
    """Read the corpus in a fresh process, so one run's memory cannot flatter the other's."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, __file__, "--child", str(path)], capture_output=True, text=True, env=env)
    if out.returncode:
        raise SystemExit(f"reading {path} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large-gb", type=float, default=2.0)
    parser.add_argument("--small-mb", type=float, default=20.0)
    parser.add_argument("--formats", default="txt,jsonl")
    parser.add_argument("--workdir", type=Path, default=None, help="where the corpora are written (default: a temp dir)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        print(f"{'format':<6} {'corpus':>9} {'documents':>10} {'read s':>7} {'MB/s':>6} {'RSS before':>10} "
              f"{'peak RSS':>9} {'growth':>7}")
        for fmt in args.formats.split(","):
            results = {}
            for label, size in (("small", args.small_mb * 1e6), ("large", args.large_gb * 1e9)):
                path = Path(tmp) / f"{label}.{fmt}"
                generate(path, int(size), fmt)
                r = results[label] = measure(path)
                megabytes = path.stat().st_size / 1e6
                print(f"{fmt:<6} {megabytes:>6,.0f} MB {r['documents']:>10,} {r['seconds']:>7.1f} "
                      f"{megabytes / r['seconds']:>6.0f} {r['baseline_rss_mb']:>7.0f} MB {r['peak_rss_mb']:>6.0f} MB "
                      f"{r['peak_rss_mb'] - r['baseline_rss_mb']:>4.0f} MB", flush=True)
                path.unlink()
            ratio = results["large"]["peak_rss_mb"] / results["small"]["peak_rss_mb"]
            verdict = "within" if ratio <= 1.2 else "OVER"
            print(f"{fmt:<6} peak RSS large / small = {ratio:.3f} ({verdict} the 1.2x goal)", flush=True)


if __name__ == "__main__":
    main()
