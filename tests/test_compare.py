"""Several runs' held-out curves against steps, tokens or minutes, read from their folders."""

import json

import pytest

from clm_gui.config import RunConfig
from clm_gui.runs.compare import curve, curves
from clm_gui.runs.folder import new_run_dir
from clm_gui.ui.plots import comparison_spec


def run_with(runs_root, name: str, records: list[dict]):
    run = new_run_dir(runs_root, RunConfig(name=name))
    run.metrics_path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return run


def evaluated(step_tokens: int, seconds_per_step: float, losses: list[float], timed_evals: bool = True):
    records = []
    for i, loss in enumerate(losses, start=1):
        step = 10 * i
        records.append({"kind": "train", "step": step, "tokens": step * step_tokens, "train_loss": loss + 0.1,
                        "elapsed_s": step * seconds_per_step})
        record = {"kind": "eval", "step": step, "tokens": step * step_tokens, "eval_loss": loss,
                  "eval_bpb": loss / 2}
        if timed_evals:
            record["elapsed_s"] = step * seconds_per_step + 1
        records.append(record)
    return records


def test_runs_align_on_steps_tokens_or_minutes(runs_root):
    small = run_with(runs_root, "small-batch", evaluated(1000, 0.6, [3.0, 2.5, 2.4]))
    large = run_with(runs_root, "large-batch", evaluated(4000, 1.8, [2.8, 2.2]))
    by_steps = curves([small, large], "eval_loss", "steps")
    assert [c.x for c in by_steps] == [[10, 20, 30], [10, 20]]
    by_tokens = curves([small, large], "eval_bpb", "tokens")
    assert by_tokens[1].x == [40_000, 80_000] and by_tokens[1].y == [1.4, 1.1]
    by_minutes = curves([small, large], "eval_loss", "minutes")
    assert by_minutes[0].x == pytest.approx([7 / 60, 13 / 60, 19 / 60])


def test_evaluations_without_their_own_time_take_the_train_record_s(runs_root):
    old = run_with(runs_root, "older-run", evaluated(1000, 0.5, [3.0, 2.0], timed_evals=False))
    assert curve(old, "eval_loss", "minutes").x == pytest.approx([5 / 60, 10 / 60])


def test_runs_without_evaluations_are_left_out_and_the_chart_says_what_to_do(runs_root):
    none = run_with(runs_root, "no-evals", [{"kind": "train", "step": 10, "train_loss": 3.0}])
    assert curves([none], "eval_loss", "steps") == []
    assert "Tick two or more runs" in json.dumps(comparison_spec([], "eval_loss", "steps"))


def test_the_comparison_chart_draws_each_run_and_stars_its_best_point(runs_root):
    a = run_with(runs_root, "a", evaluated(1000, 0.6, [3.0, 2.5, 2.6]))
    b = run_with(runs_root, "b", evaluated(1000, 0.6, [2.9, 2.7]))
    spec = comparison_spec(curves([a, b], "eval_loss", "steps"), "eval_loss", "steps")
    lines = [t for t in spec["data"] if t.get("showlegend") is not False]
    stars = [t for t in spec["data"] if t.get("marker", {}).get("symbol") == "star"]
    assert [t["name"] for t in lines] == [a.id, b.id]
    assert [(s["x"], s["y"]) for s in stars] == [([20], [2.5]), ([20], [2.7])]
    assert spec["layout"]["xaxis"]["title"]["text"] == "step"
