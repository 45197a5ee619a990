"""Several runs' held-out curves on one axis, and their settings side by side, so that a user sees which
setting won.

Runs differ in batch, speed and tokenizer, so the same step means different things in each: curves are
read against steps, training tokens or wall minutes (setup included, as the time budget counts it), and
bits per byte compare across tokenizers where loss per token does not. The settings table shows a few key
facts of every run, then only the settings in which the runs differ: the ones that can explain the curves.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path

from clm_gui.config import RunConfig
from clm_gui.data.uploads import source_label
from clm_gui.markdown import escape
from clm_gui.runs.folder import RunDir
from clm_gui.runs.monitor import current_metrics, current_status, evaluations, summarize
from clm_gui.runs.notes import read_notes
from clm_gui.security import shown_path

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
    records = current_metrics(run)
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


# ---------------------------------------------------------------------------------------------
# Settings side by side.

NOTES_SHOWN = 300  # characters of a run's notes in the table; the run list's notes box shows them all

@dataclass
class SettingRow:
    name: str
    values: list[str]  # one per run, in the order given

    @property
    def differs(self) -> bool:
        return len(set(self.values)) > 1


def _shown(value) -> str:
    if isinstance(value, list):
        return " / ".join(map(str, value)) or "(none)"
    return "(empty)" if value == "" else str(value)


def flat_settings(run: RunDir) -> dict[str, str]:
    """The run's config.yaml as dotted names (`train.learning_rate`) and shown values. The sections only:
    the run's name heads its column, and the schema version is no setting. The data and a reused
    tokenizer are named as the model card names them: an upload by its files, never a server path."""
    cfg = run.load_config()
    sections = {k: v for k, v in cfg.to_dict().items() if isinstance(v, dict)}
    flat = {f"{section}.{key}": _shown(value) for section, fields in sections.items() for key, value in fields.items()}
    flat["data.source"] = source_label(cfg.data.source, run.path.parent)
    del flat["tokenizer.path"]  # the Tokenizer row names it
    return flat


def _tokenizer_origin(cfg: RunConfig, data_root: Path) -> str:
    t = cfg.tokenizer
    return shown_path(t.path, data_root) if t.path else f"{t.algorithm}, {t.vocab_size:,} tokens (trained)"


def key_facts(run: RunDir) -> dict[str, str]:
    """What every comparison shows: size, tokenizer, how far it trained, how well it did, and the user's notes."""
    cfg, summary, status = run.load_config(), summarize(run), current_status(run)
    parameters = status.get("parameters")
    return {"Parameters": f"{parameters / 1e6:.2f}M" if parameters else "(unknown until it trains)",
            "Tokenizer": _tokenizer_origin(cfg, run.path.parent), "Steps": f"{summary.step:,}",
            "Best held-out bits/byte": "(none yet)" if summary.best_bpb is None else f"{summary.best_bpb:.3f}",
            "Notes": _shortened(read_notes(run).notes) or "(none)"}


def _shortened(text: str, limit: int = NOTES_SHOWN) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def settings_rows(runs: list[RunDir]) -> tuple[list[SettingRow], list[SettingRow]]:
    """The key facts of every run, and each setting in which the runs differ (in config.yaml's order)."""
    facts = [key_facts(run) for run in runs]
    key_rows = [SettingRow(name, [f[name] for f in facts]) for name in (facts[0] if facts else {})]
    settings = [flat_settings(run) for run in runs]
    names = dict.fromkeys(name for s in settings for name in s)  # every run's, in order (older runs may lack some)
    differing = [SettingRow(n, [s.get(n, "(not set)") for s in settings]) for n in names]
    return key_rows, [row for row in differing if row.differs]


def settings_markdown(runs: list[RunDir], labels: list[str]) -> str:
    """The settings table, one column per run headed by `labels`; values that differ are highlighted."""
    if len(runs) < 2:
        return "*Tick two or more runs to see their settings side by side.*"
    key_rows, differing = settings_rows(runs)
    lines = ["| Setting | " + " | ".join(escape(label) for label in labels) + " |",
             "|---" * (len(runs) + 1) + "|"]
    for row in key_rows + differing:
        cells = [f"<mark>{escape(v)}</mark>" if row.differs else escape(v) for v in row.values]
        lines.append(f"| {escape(row.name)} | " + " | ".join(cells) + " |")
    same = "" if differing else "\n\n*Every other setting is the same.*"
    return "\n".join(lines) + same
