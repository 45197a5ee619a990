"""Small-data benchmark: the app's default journey against the published small-data recipe, side by side.

Each corpus is cut into a training file (its first 90%) and a held-out file (the last 10%, from a line
start). On the training file, one run at a time (never two on one card or CPU):
- `reference`: the published character-level recipe (bench/reference_gpt.py, `Recipe`; its CPU variant
  on a CPU), validated on the same held-out tail of the training file that the app validates on, the best
  validation kept;
- `default journey`: `python -m clm_gui quickstart TRAIN --minutes M`, every recommendation accepted;
- each `--variant NAME:KEY=VALUE,...`: the journey's plan with those settings changed (for exploring).
Then each kept model is scored on the held-out file in bits per byte (every token predicted once), and the
table shows the ratio to the reference and the time each run first reached the reference's best
validation score (from its process's launch, imports, compilation and the tokenizer included; both validate
on the same text).

Corpora every machine has (bench/corpora.py): `prose` (Python's pydoc topics, 0.47 MB), `fortunes`
(Debian's fortunes package), `pydocs-N` (the first N MB of the Python documentation's text sources,
Debian's python3.11-doc), `demo-N` (the first N MB of the demo corpus, the standard library's source).

    python bench/small_data.py --device cuda --minutes 3 --corpora fortunes pydocs-3 demo-20
    python bench/small_data.py --device cpu --minutes 10 --corpora prose fortunes demo-1 pydocs-1

Prints one markdown table per corpus and writes OUT/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.corpora import write_corpus  # noqa: E402
from clm_gui.config import RunConfig, apply_overrides  # noqa: E402


def app_split(train_file: Path) -> tuple[str, str]:
    """(training text, validation text): the split of the training file the app itself makes."""
    from clm_gui.data.sources import iter_documents
    from clm_gui.jobs.quickstart import eval_fraction_for

    cfg = RunConfig().data
    cfg.source, cfg.streaming = str(train_file), False
    cfg.eval_fraction = eval_fraction_for(train_file.stat().st_size)
    return "".join(iter_documents(cfg, "train")), "".join(iter_documents(cfg, "eval"))


def run_reference(train_file: Path, held_out: Path, device: str, ema: float, steps: int = 0) -> dict:
    """The recipe in a process of its own (its compile caches and memory are gone when it ends), its times
    counted from the process's launch, as the journey's are (imports and reading the text included).
    `steps`: fewer steps than the recipe's (evaluating twice as often), for a smoke run; 0: the recipe's."""
    code = ("import json, sys; from bench.reference_gpt import Recipe, train_recipe; from bench.small_data import "
            "app_split; from pathlib import Path; a = json.loads(sys.argv[1]); train, val = app_split(Path(a['train']));"
            " recipe = (Recipe.cpu if a['device'] == 'cpu' else Recipe)(ema_decay=a['ema'],"
            " **({'steps': a['steps'], 'eval_interval': max(1, a['steps'] // 2)} if a['steps'] else {}));"
            " recipe.label += ' + EMA' if a['ema'] else '';"
            " print('RESULT ' + json.dumps(train_recipe(recipe, train, val, Path(a['held_out']).read_text(), a['device'])))")
    args = json.dumps({"train": str(train_file), "held_out": str(held_out), "device": device, "ema": ema,
                       "steps": steps})
    launched = time.time()
    proc = subprocess.run([sys.executable, "-c", code, args], cwd=ROOT, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        return {"label": "reference", "failed": proc.stderr[-1500:]}
    result = json.loads(lines[-1][7:])
    before_its_clock = result["started_at"] - launched
    return {**result, "wall_s": before_its_clock + result["wall_s"],
            "curve": [{"seconds": before_its_clock + p["seconds"], "bpb": p["val_bpb"]} for p in result["curve"]]}


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "clm_gui", *args], cwd=ROOT, capture_output=True, text=True)


def run_journey(train_file: Path, held_out: Path, minutes: float, device: str, runs_dir: Path,
                overrides: list[str] | None = None) -> dict:
    """The default journey (no overrides), or its plan with `overrides` applied and trained as planned."""
    started = time.time()
    if overrides is None:
        proc = _cli("quickstart", str(train_file), "--minutes", str(minutes), "--device", device,
                    "--runs-dir", str(runs_dir), "--json")
        result = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {}
        run_dir = result.get("run_dir")
    else:
        proc = _cli("quickstart", str(train_file), "--minutes", str(minutes), "--device", device,
                    "--runs-dir", str(runs_dir), "--plan-only", "--json")
        result = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {}
        run_dir = None
        if result:
            config = runs_dir / "variant.yaml"
            config.write_text(yaml.safe_dump(apply_overrides(result["config"], overrides), sort_keys=False))
            env = {**os.environ, "CLM_GUI_LAUNCHED_AT": str(started)}  # the clock counts the planning too
            proc = subprocess.run([sys.executable, "-m", "clm_gui", "train", str(config), "--runs-dir",
                                   str(runs_dir)], cwd=ROOT, capture_output=True, text=True, env=env)
            runs = sorted(p for p in runs_dir.iterdir() if (p / "status.json").is_file())
            run_dir = str(runs[-1]) if runs else None
    wall = time.time() - started
    if not run_dir:
        return {"failed": proc.stderr[-1500:], "wall_s": wall}
    return {**_read_run(Path(run_dir), held_out, device, started), "wall_s": wall, "run_dir": run_dir,
            "choices": result.get("choices")}


def _read_run(run_dir: Path, held_out: Path, device: str, started: float) -> dict:
    from clm_gui.runs.folder import RunDir
    from clm_gui.train.evaluation import evaluate_model

    run = RunDir(run_dir)
    status = run.read_status()
    evals = [r for r in run.read_metrics() if r.get("kind") == "eval" and r.get("eval_bpb") is not None]
    score = evaluate_model(run_dir, [held_out.read_text(encoding="utf-8")], device=device) \
        if run.has_final_model() else None
    # The trainer's clock starts with the training; the journey's started with the profiling and tokenizer.
    offset = status.get("started", started) - started
    return {"status": status, "held_out_bpb": score.bits_per_byte if score else None,
            "curve": [{"seconds": offset + r["elapsed_s"], "bpb": r["eval_bpb"]} for r in evals],
            "best_val_bpb": min((r["eval_bpb"] for r in evals), default=None)}


def first_reached(curve: list[dict], target: float) -> float | None:
    """Seconds at which a validation curve first reached `target` bits per byte (None: never)."""
    return next((p["seconds"] for p in curve if p["bpb"] <= target), None)


def print_table(corpus: str, rows: list[dict], args) -> None:
    reference = rows[0]
    target = reference.get("best_val_bpb")
    print(f"\n### {corpus}: {args.minutes:g}-minute budget on {args.device}, one run at a time\n")
    print("| run | held-out bits/byte | vs reference | reached the reference's best validation at | wall s | "
          "how it ended |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        bpb = row.get("held_out_bpb")
        ratio = f"{bpb / reference['held_out_bpb']:.3f}x" if bpb and reference.get("held_out_bpb") else "-"
        reached = first_reached(row.get("curve", []), target) if target else None
        ended = (row.get("status") or {}).get("message", row.get("failed", ""))[:90].replace("|", "/").replace("\n", " ")
        print(f"| {row['label']} | {bpb:.4f} | {ratio} | {f'{reached:.0f} s' if reached else 'never'} | "
              f"{row.get('wall_s', 0):.0f} | {ended} |" if bpb else
              f"| {row['label']} | failed | - | - | {row.get('wall_s', 0):.0f} | {ended} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--minutes", type=float, default=3.0, help="the default journey's time budget")
    parser.add_argument("--corpora", nargs="+", default=["prose"])
    parser.add_argument("--reference-ema", action="store_true", help="also run the recipe with an EMA of the weights")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference (exploring variants only)")
    parser.add_argument("--no-journey", action="store_true", help="skip the default journey")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE,...",
                        help="the journey's plan with settings changed, e.g. v256:tokenizer.vocab_size=258")
    parser.add_argument("--reference-steps", type=int, default=0,
                        help="cap the recipe's steps (a smoke run; its figures compare with nothing)")
    parser.add_argument("--out", type=Path, default=Path("bench-small-data"))
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    results = {}
    for corpus in args.corpora:
        train_file, held_out = write_corpus(corpus, args.out / "corpora")
        rows = []
        for ema in ([] if args.no_reference else [0.0] + ([0.999] if args.reference_ema else [])):
            rows.append(run_reference(train_file, held_out, args.device, ema, args.reference_steps))
            _progress(corpus, rows[-1])
        if not args.no_journey:
            rows.append({"label": "default journey", **run_journey(
                train_file, held_out, args.minutes, args.device, args.out / "runs" / f"{corpus}-journey")})
            _progress(corpus, rows[-1])
        for variant in args.variant:
            name, _, settings = variant.partition(":")
            rows.append({"label": name, **run_journey(train_file, held_out, args.minutes, args.device,
                                                      args.out / "runs" / f"{corpus}-{name}", settings.split(","))})
            _progress(corpus, rows[-1])
        results[corpus] = rows
        (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    for corpus, rows in results.items():
        print_table(corpus, rows, args)
    return 0


def _progress(corpus: str, row: dict) -> None:
    print(json.dumps({"corpus": corpus, "label": row.get("label"), "held_out_bpb": row.get("held_out_bpb"),
                      "best_val_bpb": row.get("best_val_bpb"), "wall_s": row.get("wall_s"),
                      "failed": row.get("failed", "")[-300:]}), file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
