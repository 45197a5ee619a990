"""Plotly figures: pure functions from library data (metric records, profiles, plans, tokenizer reports) to
figures. Every chart of the page is drawn here; the model card's loss plot, which must render where no
JavaScript runs, is an SVG that runs/model_card.py writes (docs/architecture.md, "Charts")."""

from __future__ import annotations

import json
import textwrap

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from clm_gui.data.profiling import DatasetProfile
from clm_gui.model import planner
from clm_gui.runs.monitor import best_eval, downsample, ema, series
from clm_gui.units import GB

TRAIN_COLOR, EVAL_COLOR, BEST_COLOR = "#1f77b4", "#ff7f0e", "#16a34a"


def _axis(title: str) -> dict:
    # automargin: a narrow chart's long tick labels (0.0008) push the axis title out instead of under them
    return {"title": {"text": title}, "gridcolor": "#e5e7eb", "zerolinecolor": "#e5e7eb", "linecolor": "#9ca3af",
            "automargin": True}


def _spec(title: str, y_title: str, x_title: str = "step", log_y: bool = False, traces=(), **layout) -> dict:
    """A plotly figure as plain data (extra top-level `layout` keys override the defaults)."""
    base = {
        "title": {"text": title, "x": 0.02, "font": {"size": 14}}, "height": 280,
        "margin": {"l": 56, "r": 16, "t": 40, "b": 40}, "plot_bgcolor": "white", "paper_bgcolor": "white",
        "legend": {"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"},
        "xaxis": _axis(x_title), "yaxis": {**_axis(y_title), **({"type": "log"} if log_y else {})},
        "uirevision": "keep",  # a user's zoom survives the updates that polling brings
    }
    return {"data": list(traces), "layout": {**base, **layout}}


def as_figure(spec: dict) -> go.Figure:
    """A figure from plain data, without plotly's validation.

    Validating costs 0.2-0.5 s per chart on a small CPU, and the live charts are rebuilt on every poll
    while training shares that CPU; the specs here are fixed and tested, so validation buys nothing.
    """
    return go.Figure(spec, _validate=False)


def spec_json(spec: dict) -> str:
    """The JSON plotly.js draws. Plain json.dumps: plotly's to_json deep-copies the figure and re-encodes
    every array, about 30 ms per poll of the live charts."""
    return json.dumps(spec, separators=(",", ":"))


def _figure(title: str, y_title: str, x_title: str = "step", log_y: bool = False, traces=(), **layout) -> go.Figure:
    return as_figure(_spec(title, y_title, x_title, log_y, traces, **layout))


def _line(x: list, y: list, name: str, color: str, **style) -> dict:
    return {"type": "scatter", "x": x, "y": y, "mode": "lines", "name": name, "line": {"color": color}, **style}


NOTE_WIDTH = 36  # characters per line of a chart's note: plotly does not wrap text, and a chart may be narrow


def _no_data(title: str, note: str) -> dict:
    hidden = {"visible": False}
    return _spec(title, "", xaxis=hidden, yaxis=hidden, annotations=[
        {"text": "<br>".join(textwrap.wrap(note, NOTE_WIDTH)), "showarrow": False, "x": 0.5, "y": 0.5,
         "xref": "paper", "yref": "paper", "font": {"color": "#888"}}])


def loss_spec(records: list[dict], log_scale: bool = False, smoothing: float = 0.0) -> dict:
    """Train loss (raw, faint, and smoothed) and eval loss against the step."""
    steps, train = series([r for r in records if r.get("kind") == "train"], "train_loss")
    eval_steps, evals = series(records, "eval_loss")
    if not steps and not eval_steps:
        return _no_data("Loss", "The loss appears here after the first steps.")
    traces = []
    if steps:
        if smoothing:
            traces.append(_line(*downsample(steps, train), "train (raw)", TRAIN_COLOR, opacity=0.3,
                                showlegend=False))
        traces.append(_line(*downsample(steps, ema(train, smoothing) if smoothing else train), "train",
                            TRAIN_COLOR))
    if eval_steps:
        traces.append(_line(eval_steps, evals, "eval", EVAL_COLOR, mode="lines+markers"))
    traces += _best_marker(records, "eval_loss", "eval loss %{y:.4f}")
    return _spec("Loss", "loss" + (" (log scale)" if log_scale else ""), log_y=log_scale, traces=traces)


def _best_marker(records: list[dict], key: str, value_hover: str) -> list[dict]:
    """A star at the best evaluation (lowest held-out loss), named "best: step N" in the legend and on
    hover: the model final/ keeps by default. No trace before the first evaluation."""
    best = best_eval(records)
    if best is None or not isinstance(best.get(key), (int, float)):
        return []
    name = f"best: step {best['step']:,}"
    return [{"type": "scatter", "x": [best["step"]], "y": [best[key]], "mode": "markers", "name": name,
             "marker": {"color": BEST_COLOR, "symbol": "star", "size": 14, "line": {"color": "white", "width": 1}},
             "hovertemplate": f"{name}<br>{value_hover}<extra></extra>"}]


def bpb_spec(records: list[dict]) -> dict:
    """Held-out bits per byte against the step: the score that compares runs with different tokenizers."""
    steps, bpb = series(records, "eval_bpb")
    if not steps:
        return _no_data("Held-out bits per byte", "Bits per byte appear here after the first evaluation.")
    traces = [_line(steps, bpb, "eval bits/byte", EVAL_COLOR, mode="lines+markers"),
              *_best_marker(records, "eval_bpb", "%{y:.3f} bits/byte")]
    return _spec("Held-out bits per byte", "bits / byte", traces=traces)


# key in the metric records -> (title, y axis title, note when absent)
METRIC_CHARTS = {
    "lr": ("Learning rate", "learning rate", "The schedule appears here after the first steps."),
    "tokens_per_s": ("Throughput", "tokens / s", "Throughput appears here after the first steps."),
    "mfu": ("Model FLOPs utilisation", "MFU", "MFU appears here after the first steps on a GPU whose peak "
                                              "throughput is known."),
    "memory_gb": ("Memory (GPU peak; process RSS on CPU)", "GB", "Memory appears here after the first steps."),
}

# Why a run that has trained has no MFU: the trainer measures it only against a known peak (machine/hardware).
NO_MFU = ("No MFU for this run: it trains on a CPU (or a GPU whose peak throughput is not known), and MFU "
          "is a share of that peak.")


def metric_spec(records: list[dict], key: str) -> dict:
    """One training metric against the step (see METRIC_CHARTS)."""
    title, y_title, note = METRIC_CHARTS[key]
    steps, values = series(records, key)
    if not steps and key == "mfu" and any(r.get("kind") == "train" for r in records):
        return _no_data(title, NO_MFU)
    if not steps:
        return _no_data(title, note)
    y_axis = {**_axis(y_title), **({"tickformat": ".0%"} if key == "mfu" else {})}
    return _spec(title, y_title, traces=[_line(*downsample(steps, values), title, TRAIN_COLOR)], yaxis=y_axis)


TRAINING_CHARTS = 2 + len(METRIC_CHARTS)  # how many figures training_specs returns


def training_specs(records: list[dict], log_scale: bool = False, smoothing: float = 0.0) -> list[dict]:
    """The Train tab's charts, in order: loss, bits per byte, then each of METRIC_CHARTS."""
    return ([loss_spec(records, log_scale, smoothing), bpb_spec(records)]
            + [metric_spec(records, key) for key in METRIC_CHARTS])


RUN_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
COMPARE_X_TITLES = {"steps": "step", "tokens": "training tokens", "minutes": "minutes (setup included)"}


def comparison_spec(curves: list, metric: str, x_axis: str) -> dict:
    """Several runs' held-out curves (compare.curves) on one chart, each run's lowest point starred."""
    from clm_gui.runs.compare import METRICS

    title = METRICS[metric].capitalize()
    if not curves:
        return _no_data(title, "Tick two or more runs with evaluations to compare them here.")
    traces = []
    for i, c in enumerate(curves):
        color = RUN_COLORS[i % len(RUN_COLORS)]
        best = min(range(len(c.y)), key=c.y.__getitem__)
        traces += [_line(c.x, c.y, c.run_id, color, mode="lines+markers", legendgroup=c.run_id),
                   {"type": "scatter", "x": [c.x[best]], "y": [c.y[best]], "mode": "markers", "showlegend": False,
                    "legendgroup": c.run_id, "marker": {"color": color, "symbol": "star", "size": 13},
                    "hovertemplate": f"{c.run_id}: best %{{y:.4f}}<extra></extra>"}]
    legend = {"orientation": "h", "y": -0.25, "x": 0, "xanchor": "left"}
    return _spec(title, METRICS[metric], COMPARE_X_TITLES[x_axis], traces=traces, height=340, legend=legend,
                 margin={"l": 56, "r": 16, "t": 40, "b": 90})


def length_histogram(profile: DatasetProfile) -> go.Figure:
    """Documents by length (tokens when a tokenizer was used, else characters), or a stream's lines by
    length in characters, in logarithmic bins."""
    tokens = profile.token_histogram
    histogram = tokens or profile.histogram
    per = histogram["per"]
    scope = f"{sum(histogram['counts']):,} {per}s" + (" of the sample" if profile.estimated else "")
    if per == "document":
        stats = profile.tokens_per_document if tokens else profile.chars_per_document
        scope += f"; median {stats['median']:,.0f}, p95 {stats['p95']:,.0f}"
    fig = _figure(f"{histogram['unit'].capitalize()} per {per} ({scope})", f"{per}s",
                  x_title=f"{histogram['unit']} per {per}")
    edges = histogram["edges"]
    labels = [f"{lo:,}–{hi - 1:,}" if hi - 1 > lo else f"{lo:,}" for lo, hi in zip(edges, edges[1:])]
    fig.add_bar(x=labels, y=histogram["counts"], marker_color=TRAIN_COLOR, name=f"{per}s",
                hovertemplate=f"%{{x}}: %{{y:,}} {per}s<extra></extra>")
    fig.update_xaxes(type="category", tickangle=-45)
    fig.update_layout(height=320, showlegend=False, margin={"l": 56, "r": 16, "t": 40, "b": 80})
    return fig


MEMORY_PARTS = [  # (MemoryBreakdown field, label, colour)
    ("weights", "weights (fp32)", "#1f77b4"), ("weight_copies", "16-bit weight copies", "#aec7e8"),
    ("gradients", "gradients", "#ff7f0e"), ("optimizer", "AdamW state", "#2ca02c"),
    ("activations", "activations", "#d62728"), ("logits", "logits and loss", "#9467bd"),
    ("framework", "framework and allocator reserve", "#7f7f7f"),
]


def memory_figure(plan: planner.Plan) -> go.Figure:
    """One stacked bar of what the step needs, next to one bar of the memory free on the device."""
    traces = [go.Bar(name=label, y=["needed"], x=[getattr(plan.memory, name) / GB], orientation="h",
                     marker_color=color, hovertemplate=f"{label}: %{{x:.2f}} GB<extra></extra>")
              for name, label, color in MEMORY_PARTS if getattr(plan.memory, name) > 0]
    traces.append(go.Bar(name="free on the device", y=["free"], x=[plan.memory_available / GB],
                         orientation="h", marker_color="#bcbd22" if plan.fits else "#e377c2",
                         hovertemplate="free: %{x:.2f} GB<extra></extra>"))
    title = (f"Peak memory per device: {plan.memory.total / GB:.2f} GB needed, "
             f"{plan.memory_available / GB:.1f} GB free (estimate)")
    return go.Figure(traces, layout={"barmode": "stack", "height": 260, "title": {"text": title, "font": {"size": 14}},
                                     "xaxis": {"title": {"text": "GB"}}, "margin": {"l": 60, "r": 16, "t": 48, "b": 40},
                                     "legend": {"orientation": "h", "y": -0.35}, "plot_bgcolor": "white"})


def tokenizer_comparison(reports: list, metrics: list) -> go.Figure:
    """One bar chart per measure (`metrics`: attribute, title, display scale), a bar per tokenizer."""
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[title for _, title, _ in metrics])
    for col, (attr, _, scale) in enumerate(metrics, start=1):
        fig.add_trace(go.Bar(x=[r.name for r in reports], y=[getattr(r, attr) * scale for r in reports],
                             marker_color=[f"hsl({40 + 70 * i}, 60%, 55%)" for i in range(len(reports))],
                             showlegend=False), row=1, col=col)
    fig.update_layout(height=300, template="plotly_white", margin={"l": 40, "r": 16, "t": 48, "b": 40})
    fig.update_yaxes(rangemode="tozero")
    return fig
