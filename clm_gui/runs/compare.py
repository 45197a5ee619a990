"""Several runs' held-out curves on one axis, so that a user sees which setting won.

Runs differ in batch, speed and tokenizer, so the same step means different things in each: curves are
read against steps, training tokens or wall minutes (setup included, as the time budget counts it), and
bits per byte compare across tokenizers where loss per token does not.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from clm_gui.runs.folder import RunDir
from clm_gui.runs.monitor import evaluations, read_metrics

X_AXES = {"steps": "step", "tokens": "tokens", "minutes": "elapsed_s"}  # axis name: record field
METRICS = {"eval_loss": "held-out loss (nats per token)", "eval_bpb": "held-out bits per byte"}


@dataclass
class Curve:
    run_id: str
    x: list[float]
    y: list[float]


def _elapsed_at(records: list[dict]):
    """elapsed_s at a step, from the train records (evaluations of older runs carry no time of their own)."""
    timed = [(r["step"], r["elapsed_s"]) for r in records if r.get("kind") == "train" and "elapsed_s" in r]
    steps = [s for s, _ in timed]

    def at(step: int) -> float | None:
        i = bisect.bisect_right(steps, step)
        return timed[i - 1][1] if i else None

    return at


def curve(run: RunDir, metric: str, x_axis: str) -> Curve:
    """One run's evaluations of `metric` against `x_axis` (steps, tokens or minutes)."""
    if metric not in METRICS or x_axis not in X_AXES:
        raise ValueError(f"unknown metric {metric!r} or axis {x_axis!r}")
    records = read_metrics(run)
    elapsed_at = _elapsed_at(records)
    xs, ys = [], []
    for record in evaluations(records):
        if not isinstance(record.get(metric), (int, float)):
            continue
        if x_axis == "minutes":
            seconds = record.get("elapsed_s", elapsed_at(record["step"]))
            x = None if seconds is None else seconds / 60
        else:
            x = record.get(X_AXES[x_axis])
        if x is not None:
            xs.append(x)
            ys.append(float(record[metric]))
    return Curve(run.id, xs, ys)


def curves(runs: list[RunDir], metric: str, x_axis: str) -> list[Curve]:
    """The curves of the runs that have at least one evaluation, in the order given."""
    return [c for c in (curve(run, metric, x_axis) for run in runs) if c.x]
