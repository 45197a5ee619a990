"""Big data, the whole journey (#29): for corpora of 0.03, 0.3 and 1.2 GB (10 GB with --huge), in both modes,
the preparation time, the time to the first step, the peak RSS and the tokens per second of a journey from the
profile to final/, each in its own process.

A journey is what a quick start does with its choices fixed, so that the two modes train the same model: profile
the data (a sample sized to the budget when streaming, all of it in memory), train a byte-level BPE tokenizer on
a sample sized to the budget (`data.budget.PreparationBudget`), then train a 4-layer, 128-wide model on the CPU
for --train-steps steps of 16 x 256 tokens (evaluations, samples, final/ with its model card); in memory the
trainer first loads the text and tokenizes it into the token cache, streaming it tokenizes on the fly.

    python bench/big_data.py [--sizes 0.03,0.3,1.2] [--huge] [--modes streaming,in-memory]
                             [--train-steps 100] [--budget-minutes 10] [--workdir /tmp/big_data]

The corpora are the demo corpus (the standard library's source, as one stream) repeated to each size, written
under --workdir (never in the repository) and kept for the next run. Columns: `prepare s` is the profile and the
tokenizer; `first step s` is from the journey's start to its first step (the cache, in memory, is between);
`profile peak RSS` is the process's peak once the profile is made, `peak RSS` at the journey's end; `memory x` is
the peak's growth over the process once imported, per byte of text (a streaming journey's is the training's
fixed cost, over the size);
`train tok/s` is the trainer's own figure at its last log and `journey tok/s` the tokens trained over the
journey's whole wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.corpora import corpus_text  # noqa: E402
SIZES_GB = (0.03, 0.3, 1.2)
HUGE_GB = 10.0


def write_corpus(folder: Path, gigabytes: float) -> Path:
    """The demo corpus repeated to `gigabytes` (cut at a line start), kept for the next run."""
    path = folder / f"demo-{gigabytes:g}GB.txt"
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    block = corpus_text("demo-30").encode()
    block = block[: block.rfind(b"\n") + 1]
    wanted = int(gigabytes * 1e9)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        written = 0
        while written < wanted:
            piece = block[: wanted - written]
            f.write(piece)
            written += len(piece)
    os.replace(tmp, path)
    return path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def journey(path: str, mode: str, train_steps: int, budget_minutes: float, folder: str) -> dict:
    """One journey in this process; the figures as a dict."""
    import torch

    from clm_gui.config import RunConfig
    from clm_gui.data.profiling import profile_source
    from clm_gui.data.sources import iter_documents
    from clm_gui.data.budget import PreparationBudget
    from clm_gui.runs.folder import new_run_dir
    from clm_gui.tokenizer.loading import save_tokenizer
    from clm_gui.tokenizer.training import train_tokenizer
    from clm_gui.train.trainer import train

    imported_mb = peak_rss_mb()
    started = time.perf_counter()
    budget = PreparationBudget(budget_minutes)
    cfg = RunConfig(name=f"big-data-{mode}")
    cfg.data.source, cfg.data.streaming = path, mode == "streaming"
    profile = profile_source(cfg.data, sample_bytes=budget.profile_bytes)
    profiled_mb = peak_rss_mb()
    cfg.tokenizer.vocab_size = 4096
    tokenizer = train_tokenizer(iter_documents(cfg.data, "train"), cfg.tokenizer, max_bytes=budget.tokenizer_bytes)
    save_tokenizer(tokenizer, Path(folder) / f"tokenizer-{mode}")
    cfg.tokenizer.path = str(Path(folder) / f"tokenizer-{mode}")
    prepared = time.perf_counter() - started
    m, t = cfg.model, cfg.train
    m.n_layer, m.n_head, m.n_embd, m.context_length = 4, 4, 128, 256
    t.device, t.compile, t.max_steps, t.micro_batch_size, t.log_interval = "cpu", "off", train_steps, 16, 10
    logs: list[dict] = []

    def on_log(record: dict) -> None:
        if record.get("kind") == "train":
            logs.append({**record, "journey_s": time.perf_counter() - started})

    status = train(cfg.check(), new_run_dir(Path(folder) / "runs", cfg), on_log=on_log)
    seconds = time.perf_counter() - started
    text_bytes, tokens = Path(path).stat().st_size, status["step"] * cfg.tokens_per_step(1)
    return {"mode": mode, "gigabytes": text_bytes / 1e9, "state": status["state"], "threads": torch.get_num_threads(),
            "profile_bytes": profile.bytes, "prepare_s": prepared,
            "first_step_s": logs[0]["journey_s"] if logs else None,
            "journey_s": seconds, "steps": status["step"],
            "train_tokens_per_s": logs[-1]["tokens_per_s"] if logs else None,
            "journey_tokens_per_s": tokens / seconds,
            "imported_rss_mb": imported_mb, "profile_peak_rss_mb": profiled_mb, "peak_rss_mb": peak_rss_mb(),
            "memory_per_byte": (peak_rss_mb() - imported_mb) * 2**20 / text_bytes}


def measure(path: Path, mode: str, args) -> dict:
    """One journey in a fresh process, so that one journey's memory cannot flatter another's."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    folder = args.workdir / f"journey-{path.stem}-{mode}"
    out = subprocess.run([sys.executable, __file__, "--child", str(path), mode, str(args.train_steps),
                          str(args.budget_minutes), str(folder)], capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode:
        return {"mode": mode, "gigabytes": path.stat().st_size / 1e9, "failed": out.stderr.strip()[-500:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def row(r: dict) -> str:
    if "failed" in r:
        return f"| {r['gigabytes']:.2f} GB | {r['mode']} | failed: {r['failed'].splitlines()[-1]} | | | | | | | |"
    return (f"| {r['gigabytes']:.2f} GB | {r['mode']} | {r['prepare_s']:.1f} | {r['first_step_s']:.1f} | "
            f"{r['profile_peak_rss_mb'] / 1024:.2f} GB | {r['peak_rss_mb'] / 1024:.2f} GB | "
            f"{r['memory_per_byte']:.1f} | {r['steps']:,} | "
            f"{r['train_tokens_per_s']:,.0f} | {r['journey_tokens_per_s']:,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES_GB)), help="corpus sizes in GB")
    parser.add_argument("--huge", action="store_true", help=f"also {HUGE_GB:g} GB, streaming only")
    parser.add_argument("--modes", default="streaming,in-memory")
    parser.add_argument("--train-steps", type=int, default=100, help="the same work in both modes")
    parser.add_argument("--budget-minutes", type=float, default=10.0, help="what the samples are sized to")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/big_data"))
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path, mode, train_steps, budget_minutes, folder = args.child
        print(json.dumps(journey(path, mode, int(train_steps), float(budget_minutes), folder)))
        return
    if ROOT in args.workdir.resolve().parents:
        raise SystemExit("--workdir must be outside the repository: the corpora are gigabytes")
    plan = [(float(size), mode) for size in args.sizes.split(",") for mode in args.modes.split(",")]
    plan += [(HUGE_GB, "streaming")] if args.huge else []
    print("| corpus | mode | prepare s | first step s | profile peak RSS | peak RSS | memory x | steps | train tok/s | "
          "journey tok/s |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|", flush=True)
    for size, mode in plan:
        result = measure(write_corpus(args.workdir, size), mode, args)
        print(json.dumps(result), file=sys.stderr, flush=True)
        print(row(result), flush=True)


if __name__ == "__main__":
    main()
