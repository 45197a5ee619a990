"""Held-out bits per byte of each run under the given folders, with its best evaluation and timings.

    HELD_OUT=bench-small-data/corpora/pydocs-1.heldout.txt python bench/explore/score.py RUNS_DIR...
"""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from clm_gui.runs.folder import RunDir  # noqa: E402
from clm_gui.train.evaluation import evaluate_model  # noqa: E402

held_out = Path(os.environ["HELD_OUT"]).read_text(encoding="utf-8")
device = os.environ.get("SCORE_DEVICE", "cpu")
for folder in sys.argv[1:]:
    for path in sorted(Path(folder).iterdir()):
        if not (path / "status.json").is_file():
            continue
        run = RunDir(path)
        status, metrics = run.read_status(), run.read_metrics()
        evals = [r for r in metrics if r.get("kind") == "eval"]
        score = evaluate_model(str(path), [held_out], device=device).bits_per_byte \
            if run.has_final_model() else None
        print("SCORE", json.dumps({"run": folder, "held_out_bpb": score, "best": status.get("best"),
                                   "step": status.get("step"), "timings": status.get("timings"),
                                   "curve": [(r["step"], round(r["elapsed_s"], 1), round(r["eval_bpb"], 4))
                                             for r in evals][::3]}))
