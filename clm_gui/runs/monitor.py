"""Watching a run through its folder: status, metric series, progress and ETA, samples and a log tail.

Everything here is read from the run folder, so a run trained by the app's thread, by the command line
or by a multi-GPU launch is watched the same way, and a page reload or an app restart loses nothing.
Metric files are read incrementally (only the bytes appended since the last look), so polling a long
run every second stays cheap however many browsers watch it.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import psutil

from clm_gui import units
from clm_gui.config import TrainConfig
from clm_gui.files import parse_jsonl
from clm_gui.markdown import fenced
from clm_gui.runs.folder import ACTIVE_STATES, RunDir

PACE_WINDOW = 20  # train records used to measure the recent pace for the ETA


# ---------------------------------------------------------------------------------------------
# Incremental reading of append-only JSONL files.


class JsonlTail:
    """The records of an append-only JSONL file; each `read()` parses only the newly appended lines.

    A line still being written (no newline yet) is left for the next read, and a corrupt line is
    skipped, so a reader never sees a torn record. A file that shrank (re-created) is read again.
    """

    def __init__(self, path: Path):
        self.path = path
        self._offset = 0
        self._records: list[dict] = []
        self._lock = threading.Lock()

    def read(self) -> list[dict]:
        with self._lock:
            try:
                size = os.path.getsize(self.path)
            except OSError:
                size = 0
            if size < self._offset:
                self._offset, self._records = 0, []
            if size > self._offset:
                with open(self.path, "rb") as f:
                    f.seek(self._offset)
                    chunk = f.read(size - self._offset)
                complete = chunk[: chunk.rfind(b"\n") + 1]
                self._offset += len(complete)
                self._records.extend(parse_jsonl(complete.decode("utf-8", errors="replace").splitlines()))
            return list(self._records)


_TAILS: OrderedDict[Path, JsonlTail] = OrderedDict()
_TAILS_LOCK = threading.Lock()
MAX_TAILS = 16  # files whose records stay in memory (the runs being watched), least recently used dropped


def tail(path: Path) -> JsonlTail:
    """The process-wide reader of this file, shared by every browser session that polls it."""
    with _TAILS_LOCK:
        if path not in _TAILS:
            _TAILS[path] = JsonlTail(path)
            while len(_TAILS) > MAX_TAILS:
                _TAILS.popitem(last=False)
        _TAILS.move_to_end(path)
        return _TAILS[path]


def last_records(path: Path, max_bytes: int = 16384) -> list[dict]:
    """The records in the last `max_bytes` of a JSONL file: enough for a run's latest values, cheap for
    listing many long runs (the first, possibly partial, line of the window is dropped)."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - max_bytes))
            chunk = f.read()
    except OSError:
        return []
    lines = chunk.decode("utf-8", errors="replace").splitlines()
    return parse_jsonl(lines[1:] if size > max_bytes else lines)


def current_metrics(run: RunDir) -> list[dict]:
    """The run's metrics as its model went: the latest record of each step (`latest_per_step`), read
    incrementally. `RunDir.read_metrics` is the log itself, every record as written."""
    return latest_per_step(tail(run.metrics_path).read())


def read_samples(run: RunDir) -> list[dict]:
    return tail(run.samples_path).read()


def latest_per_step(records: list[dict]) -> list[dict]:
    """Drop records that a resume superseded.

    A run that crashed and was resumed from an earlier checkpoint logs those steps again; the later
    records are the ones the model continued from, so earlier records at or after that step are dropped.
    """
    kept: dict[str, list[dict]] = {}
    for record in records:
        series = kept.setdefault(record.get("kind", ""), [])
        step = record.get("step", 0)
        while series and series[-1].get("step", 0) >= step:
            series.pop()
        series.append(record)
    return sorted((r for s in kept.values() for r in s), key=lambda r: (r.get("step", 0), r.get("kind", "")))


def series(records: list[dict], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of one metric, over the records that have it as a finite number."""
    points = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
    return [p[0] for p in points], [float(p[1]) for p in points]


def ema(values: list[float], smoothing: float) -> list[float]:
    """Exponential moving average, bias-corrected so the first points are not pulled toward zero.

    smoothing 0 returns the values unchanged; 0.9 averages over roughly the last ten points.
    """
    if not 0 <= smoothing < 1:
        raise ValueError("smoothing must be in [0, 1)")
    out, avg = [], 0.0
    for i, v in enumerate(values, start=1):
        avg = smoothing * avg + (1 - smoothing) * v
        out.append(avg / (1 - smoothing**i))
    return out


def downsample(xs: list, ys: list, max_points: int = 1500) -> tuple[list, list]:
    """Every k-th point (and always the last), so a long run's chart stays quick to send and draw."""
    if len(xs) <= max_points:
        return xs, ys
    k = math.ceil(len(xs) / max_points)
    idx = list(range(0, len(xs), k))
    if idx[-1] != len(xs) - 1:
        idx.append(len(xs) - 1)
    return [xs[i] for i in idx], [ys[i] for i in idx]


# ---------------------------------------------------------------------------------------------
# Held-out loss: the best evaluation, and memorising in plain words.

MEMORISING_EVALS = 3  # evaluations after the best one before a rise counts as a trend, not noise
MEMORISING_RISE = 0.02  # relative rise of the latest held-out loss over the best: 2% is past eval noise
TRAIN_LOSS_WINDOW = 5  # train records averaged around an evaluation, so one noisy batch decides nothing


def evaluations(records: list[dict]) -> list[dict]:
    """The eval records with a finite eval_loss, in step order."""
    evals = [r for r in records if r.get("kind") == "eval" and isinstance(r.get("eval_loss"), (int, float))
             and math.isfinite(r["eval_loss"])]
    return sorted(evals, key=lambda r: r.get("step", 0))


def best_eval(records: list[dict]) -> dict | None:
    """The evaluation with the lowest held-out loss (the earliest of equals: it reached it first)."""
    evals = evaluations(records)
    return min(evals, key=lambda r: r["eval_loss"]) if evals else None


def _train_loss_near(train: list[dict], step: int) -> float | None:
    """The mean train loss of the last few train records at or before `step`."""
    window = [r["train_loss"] for r in train if r["step"] <= step][-TRAIN_LOSS_WINDOW:]
    return sum(window) / len(window) if window else None


def overfitting_note(records: list[dict], keep: str = "best") -> str | None:
    """A sentence when the model is memorising: held-out loss rising for several evaluations since its best
    while train loss kept falling; None otherwise. `keep` is train.keep: what final/ holds."""
    evals = evaluations(records)
    best = best_eval(evals)
    if best is None:
        return None
    since = [r for r in evals if r["step"] > best["step"]]
    latest = evals[-1]
    if len(since) < MEMORISING_EVALS or latest["eval_loss"] < best["eval_loss"] * (1 + MEMORISING_RISE):
        return None
    train = [r for r in records if r.get("kind") == "train" and isinstance(r.get("train_loss"), (int, float))]
    then, now = _train_loss_near(train, best["step"]), _train_loss_near(train, latest["step"])
    if then is None or now is None or now >= then:
        return None  # both rising: a bad learning rate or a broken run, not memorising
    step = best["step"]
    kept = (f"The best model, from step {step:,}, is the one kept." if keep == "best" else
            f"final/ holds the last step (Keep: last); the model from step {step:,} scored better.")
    return (f"Memorising: held-out loss has risen for {len(since)} evaluations since step {step:,} "
            f"(best {best['eval_loss']:#.3g}, now {latest['eval_loss']:#.3g}) while train loss kept falling. {kept}")


def passes_over_data(records: list[dict]) -> float | None:
    """How many times the run has gone through its training data (the latest `epoch`); None when unknown
    (streaming)."""
    return last_value([r for r in records if isinstance(r.get("epoch"), (int, float))], "epoch")


def format_passes(passes: float) -> str:
    return f"{units.format_passes(passes)} over the data"


# ---------------------------------------------------------------------------------------------
# Status, progress and ETA.


def process_alive(status: dict) -> bool:
    """Whether the process that wrote this status is still running (a recycled pid does not count)."""
    pid = status.get("pid")
    if not pid:
        return False
    try:
        created = psutil.Process(pid).create_time()
    except psutil.Error:
        return False
    started = status.get("started")
    return started is None or created <= started + 1


def current_status(run: RunDir) -> dict:
    """status.json as the user should see it.

    "stopping" while a stop request waits for the trainer to take it, and "interrupted" when the
    process that was training is gone (killed, crashed) before it could say so itself.
    """
    status = run.read_status()
    state = status.get("state")
    if state in ACTIVE_STATES and status.get("pid") and not process_alive(status):
        return {**status, "state": "interrupted", "message": "The training process ended unexpectedly."}
    if state in ("queued", "running") and run.stop_path.exists():
        return {**status, "state": "stopping", "message": "Stopping: saving a checkpoint at the next step."}
    return status


def is_active(status: dict) -> bool:
    return status.get("state") in ACTIVE_STATES


@dataclass
class Progress:
    fraction: float  # 0..1 toward the limit that will end the run first
    eta_s: float | None  # seconds left at the recent pace; None until the pace is known
    limit: str  # which limit ends the run: "steps", "tokens" or "minutes"


def seconds_per_step(records: list[dict], window: int = PACE_WINDOW) -> float | None:
    """Recent wall seconds per optimizer step, evaluation, samples and checkpoints included.

    Measured over the last `window` train records from `elapsed_s` (training time, which carries over a
    stop and resume), so the ETA follows the pace the run has now rather than its average.
    """
    train = [r for r in records if r.get("kind") == "train" and "elapsed_s" in r][-window:]
    if len(train) < 2:
        return None
    steps = train[-1]["step"] - train[0]["step"]
    seconds = train[-1]["elapsed_s"] - train[0]["elapsed_s"]
    return seconds / steps if steps > 0 and seconds > 0 else None


def progress(train: TrainConfig, step_tokens: int, records: list[dict]) -> Progress:
    """How far the run is toward its first limit (steps, tokens or minutes) and how long is left."""
    last = next((r for r in reversed(records) if r.get("kind") == "train"), {})
    step, tokens, elapsed = last.get("step", 0), last.get("tokens", 0), last.get("elapsed_s", 0.0)
    pace = seconds_per_step(records)
    candidates = []  # (fraction done, seconds left or None, limit name)
    if train.max_steps:
        left = max(train.max_steps - step, 0)
        candidates.append((step / train.max_steps, pace and left * pace, "steps"))
    if train.max_tokens:
        left_steps = math.ceil(max(train.max_tokens - tokens, 0) / step_tokens)
        candidates.append((tokens / train.max_tokens, pace and left_steps * pace, "tokens"))
    if train.max_minutes:
        budget = train.max_minutes * 60
        candidates.append((elapsed / budget, max(budget - elapsed, 0.0), "minutes"))
    if not candidates:
        return Progress(0.0, None, "steps")
    fraction, eta, limit = max(candidates, key=lambda c: c[0])
    known = [c[1] for c in candidates if c[1] is not None]
    return Progress(min(fraction, 1.0), min(known) if known else None, limit)


# ---------------------------------------------------------------------------------------------
# Text views: log tail, samples, run summaries.


def format_record(record: dict) -> str:
    step = record.get("step", 0)
    if record.get("kind") == "eval":
        bpb = f"  {record['eval_bpb']:.3f} bits/byte" if "eval_bpb" in record else ""
        return (f"step {step:>6}  eval loss {record['eval_loss']:.4f}{bpb}  "
                f"perplexity {record.get('perplexity', 0):.1f}")
    parts = [f"step {step:>6}", f"loss {record.get('train_loss', float('nan')):.4f}",
             f"lr {record.get('lr', 0):.2e}", f"{record.get('tokens_per_s', 0):,.0f} tok/s"]
    if "mfu" in record:
        parts.append(f"MFU {record['mfu']:.1%}")
    if "memory_gb" in record:
        parts.append(f"{record['memory_gb']:.2f} GB")
    return "  ".join(parts)


# What a training child writes to train.log that the Log box already shows from the records and the status:
# the command line's echo of the run and its evaluations, its closing "state: message" line, and progress
# bars (tqdm's "45%|####  |"), whose carriage returns put many updates on one line.
_ECHOED = re.compile(r"^(Run: \S+|step \d+: eval loss \S+)$|\d+%\|")


def log_tail(run: RunDir, records: list[dict], status: dict, lines: int = 12) -> str:
    """The last metric lines, what else the training child wrote to train.log (warnings, an error's
    traceback), and the status line last: each thing once, the newest at the bottom."""
    out = [format_record(r) for r in records[-lines:]]
    closing = f"{status.get('state', 'unknown')}: {status.get('message', '')}"
    if run.log_path.is_file():
        written = run.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        out += [line for line in written if line.strip() and line != closing and not _ECHOED.search(line)][-lines:]
    out.append(f"[{status.get('state', 'unknown')}] {status.get('message', '')}")
    return "\n".join(out)


def sample_history(samples: list[dict]) -> list[dict]:
    """A run's rounds of samples, one per step, oldest first (rounds that a resume superseded dropped)."""
    return latest_per_step(samples)


def sample_steps(samples: list[dict]) -> list[int]:
    """The steps at which the run made samples, newest first (the order a step picker offers them)."""
    return [r["step"] for r in reversed(sample_history(samples)) if "step" in r]


def samples_at(samples: list[dict], step: int | None) -> dict | None:
    """The round of samples made at `step`; the latest when `step` is None or no round was made there."""
    rounds = sample_history(samples)
    return next((r for r in rounds if r.get("step") == step), rounds[-1] if rounds else None)


def samples_blocks(record: dict) -> str:
    """The texts of one samples record as Markdown code blocks that no text inside can close."""
    return "\n\n".join(fenced(s["text"]) for s in record.get("samples", []))


NO_SAMPLES = "*Samples from prompts in the data's own words appear here as the model learns.*"


def samples_markdown(samples: list[dict], step: int | None = None) -> str:
    """The round of samples at `step` (the latest when None), headed by its step and its place among the
    rounds, so that an audience can step back through training and see the text improve."""
    shown = samples_at(samples, step)
    if shown is None:
        return NO_SAMPLES
    steps = [r["step"] for r in sample_history(samples)]
    place = "the latest" if shown["step"] == steps[-1] else f"round {steps.index(shown['step']) + 1}"
    rounds = f"{len(steps)} round{'s' * (len(steps) != 1)}"
    return (f"**Samples at step {shown['step']:,}** ({place} of {rounds})\n\n"
            f"{samples_blocks(shown)}")


def last_value(records: list[dict], key: str):
    return next((r[key] for r in reversed(records) if key in r), None)


@dataclass
class RunSummary:
    id: str
    state: str
    step: int
    max_steps: int
    train_loss: float | None
    eval_loss: float | None
    best_bpb: float | None  # held-out bits per byte at the best evaluation: compares runs across tokenizers
    tokens: int
    updated: float


def best_bpb(status: dict, records: list[dict]) -> float | None:
    """The best evaluation's bits per byte: the trainer's record of it in status.json, else the best of the
    records at hand (a run from before status kept it)."""
    best = status.get("best") or best_eval(records) or {}
    return best.get("eval_bpb")


def step_reached(status: dict, records: list[dict]) -> int:
    """The last step trained: the status's (written at the end, and at every checkpoint) or the last
    record's, whichever is later; a run's last steps may fall between two train records."""
    return max(status.get("step") or 0, last_value(records, "step") or 0)


def summarize(run: RunDir) -> RunSummary:
    status, records = current_status(run), last_records(run.metrics_path)
    return RunSummary(
        id=run.id, state=status.get("state", "unknown"),
        step=step_reached(status, records),
        max_steps=last_value(records, "max_steps") or 0, train_loss=last_value(records, "train_loss"),
        eval_loss=last_value(records, "eval_loss"), best_bpb=best_bpb(status, records),
        tokens=last_value(records, "tokens") or 0, updated=status.get("updated") or run.config_path.stat().st_mtime,
    )


def format_time(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


# ---------------------------------------------------------------------------------------------
# Models a run offers for generation.


def model_choices(run: RunDir) -> list[tuple[str, str]]:
    """(label, folder) of the final model and every complete checkpoint, final and newest first."""
    choices = []
    if run.has_final_model():
        choices.append(("final", str(run.final_dir)))
    choices += [(f"checkpoint step {step}", str(path)) for step, path in reversed(run.checkpoints())]
    return choices
