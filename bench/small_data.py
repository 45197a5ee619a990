"""Small-data benchmark: which model size, vocabulary and dropout generalise best in a fixed time budget.

Corpora every machine has: English prose (Python's own `pydoc_data` topics, 0.47 MB) and slices of the
demo corpus (the standard library's source, as one stream) of the sizes asked for. Each corpus is cut
into a training file (its first 90%) and a held-out file (the last 10%, from a line start), as the
generalisation issue scored its table. Every cell of the grid (size x vocabulary x dropout) trains on the
training file alone with the app's trainer, under the same wall-time budget (train.max_minutes), keeping
its best evaluation (on the last few percent of the training file) and stopping early; then its final/
is scored on the held-out file in bits per byte. The row "recommended" is `quickstart` on the same
training file and budget: every recommendation accepted.

    python bench/small_data.py --device cuda --minutes 3 --corpora prose demo-1 demo-10
    python bench/small_data.py --device cpu --minutes 10 --corpora prose --sizes 2x128 4x192 --vocabs 512

Prints one table per corpus (markdown) and writes OUT/results.json. `--jobs N` trains N cells at once:
on a GPU, small models leave the card mostly idle, but they then share it: say so when you quote a table.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clm_gui.config import RunConfig  # noqa: E402
from clm_gui.model import sizing  # noqa: E402
from clm_gui.runs.folder import RunDir  # noqa: E402

HELD_OUT_SHARE = 0.1


def corpus_text(name: str) -> str:
    """prose: Python's pydoc topics; demo-N: the first N MB of the demo corpus as one stream."""
    if name == "prose":
        import pydoc_data.topics as topics

        return "\n\n".join(topics.topics[key] for key in sorted(topics.topics))
    if name.startswith("demo-"):
        from clm_gui.data.sources import demo_corpus_files

        wanted, parts, size = float(name[5:]) * 1e6, [], 0
        for path in demo_corpus_files():
            text = path.read_text(encoding="utf-8", errors="replace")
            parts.append(text)
            size += len(text.encode())
            if size >= wanted:
                break
        return "".join(parts)[: int(wanted)]
    raise SystemExit(f"unknown corpus {name!r}: use prose or demo-N (N megabytes)")


def write_corpus(name: str, folder: Path) -> tuple[Path, Path]:
    """(training file, held-out file): the first 90% and the last 10% of the corpus, cut at a line start."""
    folder.mkdir(parents=True, exist_ok=True)
    text = corpus_text(name)
    cut = text.find("\n", int(len(text) * (1 - HELD_OUT_SHARE))) + 1 or len(text)
    train, held_out = folder / f"{name}.train.txt", folder / f"{name}.heldout.txt"
    train.write_text(text[:cut], encoding="utf-8")
    held_out.write_text(text[cut:], encoding="utf-8")
    return train, held_out


@dataclass
class Cell:
    corpus: str
    label: str
    config: RunConfig


def shape_config(spec: str, context: int):
    layers, width = (int(x) for x in spec.split("x"))
    return sizing.Shape(spec, layers, width, max(1, width // 64), context, 0, preset=False).model_config()


def grid_cell(corpus: str, train_file: Path, size: str, vocab: int, dropout: float, minutes: float,
              device: str, context: int, batch_tokens: int) -> Cell:
    from clm_gui.jobs.quickstart import eval_fraction_for
    from clm_gui.machine.hardware import planner_device

    cfg = RunConfig(name=f"{corpus}-{size}-v{vocab}-d{dropout:g}")
    cfg.data.source = str(train_file)
    cfg.data.eval_fraction = eval_fraction_for(train_file.stat().st_size)
    cfg.tokenizer.vocab_size = vocab
    model = shape_config(size, context)
    model.dropout = dropout
    cfg.model = model
    # The batch and step count the planner would give this shape in this budget.
    spec = planner_device("cpu" if device == "cpu" else "cuda")
    tokens = int(train_file.stat().st_size / 2.5)
    request = sizing.PlanRequest(device=spec, hours=minutes / 60, dataset_tokens=tokens, vocab_size=vocab,
                                 context_length=context)
    plan = sizing.plan_shape(sizing.Shape(size, model.n_layer, model.n_embd, model.n_head, context, batch_tokens),
                             request)
    t = cfg.train
    t.device = device
    for name, value in sizing.train_settings(plan, minutes).items():
        setattr(t, name, value)
    t.sample_interval = 0
    return Cell(corpus, f"{size} v{vocab} d{dropout:g}", cfg.check())


def train_cell(cell: Cell, folder: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config.yaml"
    cell.config.save(config)
    started = time.time()
    proc = subprocess.run([sys.executable, "-m", "clm_gui", "train", str(config), "--runs-dir", str(folder)],
                          cwd=ROOT, capture_output=True, text=True)
    runs = [p for p in folder.iterdir() if (p / "config.yaml").is_file()]
    status = RunDir(runs[0]).read_status() if runs else {"state": "failed", "message": proc.stderr[-800:]}
    return {"status": status, "wall_s": time.time() - started, "run_dir": str(runs[0]) if runs else None}


def score(run_dir: str | None, held_out: Path, device: str) -> dict | None:
    from clm_gui.train.evaluation import evaluate_model

    if not run_dir or not (Path(run_dir) / "final" / "config.json").is_file():
        return None
    return evaluate_model(run_dir, [held_out.read_text(encoding="utf-8")], device=device).to_dict()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--minutes", type=float, default=3.0, help="the wall-time budget of every cell")
    parser.add_argument("--corpora", nargs="+", default=["prose"])
    parser.add_argument("--sizes", nargs="+", default=None, help="LAYERSxWIDTH (default: by device)")
    parser.add_argument("--vocabs", nargs="+", type=int, default=[512, 2048])
    parser.add_argument("--dropouts", nargs="+", type=float, default=[0.1, 0.2])
    parser.add_argument("--context", type=int, default=0, help="default: 128 on a CPU, 256 on a GPU")
    parser.add_argument("--batch-tokens", type=int, default=0,
                        help="tokens per step at most (default: 65536 on a GPU, 8192 on a CPU, as the planner's shapes)")
    parser.add_argument("--jobs", type=int, default=1, help="cells trained at once")
    parser.add_argument("--no-recommended", action="store_true", help="skip the quickstart row")
    parser.add_argument("--out", type=Path, default=Path("bench-small-data"))
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sizes = args.sizes or (["2x128", "4x192", "4x256"] if args.device == "cpu" else ["4x256", "6x384", "8x512"])
    context = args.context or (128 if args.device == "cpu" else 256)
    batch_tokens = args.batch_tokens or (8192 if args.device == "cpu" else sizing.SMALL_DATA_BATCH_TOKENS)

    jobs = []  # (cell or "recommended", corpus, train file, held-out file)
    for corpus in args.corpora:
        train_file, held_out = write_corpus(corpus, args.out / "corpora")
        for size, vocab, dropout in itertools.product(sizes, args.vocabs, args.dropouts):
            jobs.append((grid_cell(corpus, train_file, size, vocab, dropout, args.minutes, args.device, context,
                                   batch_tokens),
                         corpus, train_file, held_out))
        if not args.no_recommended:
            jobs.append((None, corpus, train_file, held_out))

    def run(job) -> dict:
        cell, corpus, train_file, held_out = job
        if cell is None:  # the default journey, every recommendation accepted
            started = time.time()
            proc = subprocess.run([sys.executable, "-m", "clm_gui", "quickstart", str(train_file), "--minutes",
                                   str(args.minutes), "--device", args.device, "--runs-dir",
                                   str(args.out / "runs" / f"{corpus}-recommended"), "--json"],
                                  cwd=ROOT, capture_output=True, text=True)
            result = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {}
            row = {"corpus": corpus, "cell": "recommended", "wall_s": time.time() - started,
                   "status": result.get("status", {"state": "failed", "message": proc.stderr[-800:]}),
                   "run_dir": result.get("run_dir"), "choices": result.get("choices")}
        else:
            row = {"corpus": corpus, "cell": cell.label,
                   **train_cell(cell, args.out / "runs" / cell.config.name)}
        row["held_out"] = score(row["run_dir"], held_out, args.device)
        print(json.dumps({k: row[k] for k in ("corpus", "cell", "wall_s")} |
                         {"bpb": row["held_out"] and row["held_out"]["bits_per_byte"]}), file=sys.stderr, flush=True)
        return row

    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(run, jobs))
    (args.out / "results.json").write_text(json.dumps(rows, indent=1, default=str))
    print_tables(rows, args)
    return 0


def print_tables(rows: list[dict], args) -> None:
    for corpus in dict.fromkeys(r["corpus"] for r in rows):
        mine = [r for r in rows if r["corpus"] == corpus]
        scored = [r for r in mine if r["held_out"]]
        best = min((r["held_out"]["bits_per_byte"] for r in scored if r["cell"] != "recommended"), default=None)
        print(f"\n### {corpus}, {args.minutes:g} min per cell on {args.device} ({args.jobs} at once)\n")
        print("| cell | held-out bits/byte | vs best cell | best step / steps | wall s | how it ended |")
        print("| --- | --- | --- | --- | --- | --- |")
        for r in sorted(mine, key=lambda r: r["held_out"]["bits_per_byte"] if r["held_out"] else 99):
            status = r["status"]
            bpb = r["held_out"]["bits_per_byte"] if r["held_out"] else None
            versus = f"{bpb / best - 1:+.1%}" if bpb and best else "-"
            steps = f"{(status.get('best') or {}).get('step', '-')} / {status.get('step', '-')}"
            ended = status.get("message", "")[:70].replace("|", "/")
            print(f"| {r['cell']} | {bpb:.4f} | {versus} | {steps} | {r['wall_s']:.0f} | {ended} |" if bpb else
                  f"| {r['cell']} | failed | - | - | {r['wall_s']:.0f} | {ended} |")


if __name__ == "__main__":
    raise SystemExit(main())
