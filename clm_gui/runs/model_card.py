"""The model card: README.md in final/, with the configuration, data, tokenizer, results and a loss plot.

The loss plot is a small hand-written SVG (loss.svg beside the card), so writing the card needs no
browser, no kaleido and no matplotlib, and the Hugging Face Hub shows it as an image.
"""

from __future__ import annotations

import copy
import html
import math
import re
import shlex
from pathlib import Path

import yaml

from clm_gui.config import RunConfig
from clm_gui.data.uploads import source_label
from clm_gui.files import atomic_write_text, read_jsonl
from clm_gui.markdown import code, escape, fenced
from clm_gui.runs.folder import RunDir, slugify
from clm_gui.runs.gguf_vocab import gguf_refusal
from clm_gui.runs.monitor import best_eval, latest_per_step, samples_blocks, step_reached
from clm_gui.security import inside_data, shown_path

CARD_FILE = "README.md"
PLOT_FILE = "loss.svg"

_W, _H = 640, 320
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 36, 44
_TRAIN_COLOR, _EVAL_COLOR, _BEST_COLOR = "#1f77b4", "#ff7f0e", "#16a34a"
_BEST_SIZE = 7  # half the width of the best point's diamond, in pixels


# ---------------------------------------------------------------------------------------------
# The loss plot.


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) from at or below lo to at or above hi."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(i * step, 10) for i in range(first, last + 1)]


def _fmt(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e5 else f"{value:.0e}"


def _best_marker(x: float, y: float, step: int) -> list[str]:
    """A labelled diamond at the best evaluation: a shape of its own, so it stands out from the eval dots."""
    r = _BEST_SIZE
    corners = f"{x:.1f},{y - r:.1f} {x + r:.1f},{y:.1f} {x:.1f},{y + r:.1f} {x - r:.1f},{y:.1f}"
    return [f'<polygon class="best" points="{corners}" fill="{_BEST_COLOR}" stroke="white"/>',
            f'<text class="best" x="{x:.1f}" y="{y - r - 4:.1f}" text-anchor="middle" fill="{_BEST_COLOR}">'
            f'best: step {step:,}</text>']


def loss_plot_svg(metrics: list[dict], best: dict | None = None) -> str:
    """An SVG line chart of train loss (and eval loss points) against the step, with the best evaluation
    (`best`, by default the lowest eval loss in `metrics`) marked."""
    best = best or best_eval(metrics)
    train = [(r["step"], r["train_loss"]) for r in metrics if r.get("kind") == "train" and "train_loss" in r]
    evals = [(r["step"], r["eval_loss"]) for r in metrics if r.get("kind") == "eval" and "eval_loss" in r]
    points = [p for p in train + evals if math.isfinite(p[1])]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
             'font-family="sans-serif" font-size="12">',
             f'<rect width="{_W}" height="{_H}" fill="white"/>',
             f'<text x="{_W / 2}" y="20" text-anchor="middle" font-size="14">Loss</text>']
    if not points:
        parts.append(f'<text x="{_W / 2}" y="{_H / 2}" text-anchor="middle">No loss recorded yet</text></svg>')
        return "\n".join(parts)
    x_ticks = nice_ticks(0, max(p[0] for p in points))
    y_ticks = nice_ticks(min(p[1] for p in points), max(p[1] for p in points))
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]

    def sx(x: float) -> float:
        return _LEFT + (x - x0) / ((x1 - x0) or 1) * (_W - _LEFT - _RIGHT)

    def sy(y: float) -> float:
        return _H - _BOTTOM - (y - y0) / ((y1 - y0) or 1) * (_H - _TOP - _BOTTOM)

    for x in x_ticks:
        parts.append(f'<line x1="{sx(x):.1f}" y1="{_TOP}" x2="{sx(x):.1f}" y2="{_H - _BOTTOM}" stroke="#eee"/>')
        parts.append(f'<text x="{sx(x):.1f}" y="{_H - _BOTTOM + 16}" text-anchor="middle">{_fmt(x)}</text>')
    for y in y_ticks:
        parts.append(f'<line x1="{_LEFT}" y1="{sy(y):.1f}" x2="{_W - _RIGHT}" y2="{sy(y):.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{_LEFT - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{_fmt(y)}</text>')
    parts.append(f'<text x="{(_LEFT + _W - _RIGHT) / 2}" y="{_H - 8}" text-anchor="middle">step</text>')
    if train:
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in train if math.isfinite(y))
        parts.append(f'<polyline class="train" fill="none" stroke="{_TRAIN_COLOR}" stroke-width="1.5" '
                     f'points="{coords}"/>')
    for x, y in evals:
        parts.append(f'<circle class="eval" cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.5" fill="{_EVAL_COLOR}"/>')
    if best is not None:
        parts += _best_marker(sx(best["step"]), sy(best["eval_loss"]), best["step"])
    legend = ([("train loss", _TRAIN_COLOR)] * bool(train) + [("eval loss", _EVAL_COLOR)] * bool(evals)
              + [("best evaluation", _BEST_COLOR)] * (best is not None))
    for i, (label, color) in enumerate(legend):
        x = _W - _RIGHT - 110
        y = _TOP + 12 + 16 * i
        parts.append(f'<rect x="{x}" y="{y - 8}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{x + 16}" y="{y + 1}">{html.escape(label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------
# The card.


def _split_sentence(d) -> str:
    from clm_gui.data.sources import describe_split
    from clm_gui.errors import UserError

    try:
        return describe_split(d)
    except UserError:  # the source has moved since training: say what the setting was
        return f"{d.eval_fraction:.0%} of the data"


def _data_summary(cfg: RunConfig, tokens: int, data_root: Path) -> str:
    d = cfg.data
    source = ("the built-in demo corpus (the Python standard library's own source files)" if d.source == "demo"
              else escape(source_label(d.source, data_root)))
    lines = [
        f"- Source: {source}" + (f", column {code(d.text_column)}" if d.text_column else ""),
        f"- Read {'as a stream' if d.streaming else 'in memory'}"
        + (f", at most {d.max_documents:,} documents" if d.max_documents else ""),
        f"- Held out for evaluation: {_split_sentence(d)}",
        f"- Tokens trained on: {tokens:,}",
    ]
    filters = [name for name, on in (("empty documents dropped", d.drop_empty),
                                     ("exact duplicates dropped", d.drop_duplicates),
                                     ("whitespace normalised", d.normalize_whitespace)) if on]
    if filters:
        lines.append(f"- Cleaning: {', '.join(filters)}")
    return "\n".join(lines)


def _tokenizer_summary(cfg: RunConfig, vocab_size: int | None, data_root: Path) -> str:
    t = cfg.tokenizer
    origin = (f"Reused from {code(shown_path(t.path, data_root))}" if t.path
              else f"A new {t.algorithm.upper()} tokenizer trained on the data")
    size = f"{vocab_size:,} tokens" if vocab_size else f"{t.vocab_size:,} tokens (requested)"
    return f"- {origin}\n- Vocabulary: {size}\n- End of text: {code(t.eos_token)}"


def _shareable_yaml(cfg: RunConfig, data_root: Path) -> str:
    """The configuration with paths inside the app's data folder written relative to it: a card is shared
    (and shown to every visitor of a hosted app), so it carries no server path."""
    shared = copy.deepcopy(cfg)
    moved = []
    for section, name in (("data", "source"), ("tokenizer", "path")):
        value = getattr(getattr(shared, section), name)
        relative = inside_data(value, data_root) if value and value != "demo" else None
        if relative is not None:
            setattr(getattr(shared, section), name, relative)
            moved.append(f"{section}.{name}")
    note = f"# {' and '.join(moved)}: relative to the app's data folder (its runs folder)\n" if moved else ""
    return note + shared.to_yaml().rstrip()


def best_of_run(run: RunDir, metrics: list[dict]) -> dict | None:
    """The best evaluation: the trainer's record of it in status.json, else the lowest eval loss recorded."""
    return run.read_status().get("best") or best_eval(metrics)


def _bpb(record: dict) -> str:
    """", N bits/byte" for an evaluation that measured it (runs from before eval_bpb did not)."""
    return f", {record['eval_bpb']:.3f} bits/byte" if isinstance(record.get("eval_bpb"), (int, float)) else ""


def _score(record: dict) -> str:
    return f"eval loss {record['eval_loss']:.4f}{_bpb(record)}"


def _kept_line(best: dict | None, kept: str) -> str:
    """Which step this folder's weights are from (train.keep), and how it scored."""
    if kept == "best" and best is not None:
        return (f"- This model is from step {best['step']:,}, the best evaluation ({_score(best)}); "
                "`train.keep: best`")
    why = "`train.keep: last`" if kept == "last" else "no evaluation ran"
    line = f"- This model is from the last step ({why})"
    return line + (f"; the best evaluation was at step {best['step']:,} ({_score(best)})" if best else "")


def _results(metrics: list[dict], best: dict | None, kept: str, steps: int) -> str:
    """`steps`: the step the run reached (step_reached), which may be past its last logged train loss."""
    train = [r for r in metrics if r.get("kind") == "train"]
    evals = [r for r in metrics if r.get("kind") == "eval"]
    lines = []
    if train:
        last = train[-1]
        lines.append(f"- Steps: {steps:,}; final train loss: {last['train_loss']:.4f}")
    if evals:
        last = evals[-1]
        loss = last["eval_loss"]
        lines.append(f"- Final eval loss: {loss:.4f} (perplexity {math.exp(min(loss, 50)):.2f}{_bpb(last)}), "
                     f"at the last evaluation (step {last['step']:,})")
    if train or evals:
        lines.append(_kept_line(best, kept))
    return "\n".join(lines) or "- No metrics were recorded."


def _samples(run: RunDir) -> str:
    records = read_jsonl(run.samples_path)
    if not records:
        return ""
    last = records[-1]
    return f"## Samples\n\nGenerated at step {last['step']} from prompts in the data's own words:\n\n{samples_blocks(last)}\n"


def _usage_prompt(run: RunDir) -> str:
    """A prompt in the data's own words for the card's example: the run's first sample prompt."""
    records = read_jsonl(run.samples_path)
    samples = records[-1].get("samples", []) if records else []
    return samples[0]["prompt"] if samples else "\n"


USAGE = """from transformers import AutoModelForCausalLM, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("PATH_OR_REPO")
model = AutoModelForCausalLM.from_pretrained("PATH_OR_REPO")
ids = tokenizer({prompt}, return_tensors="pt").input_ids
print(tokenizer.decode(model.generate(ids, max_new_tokens=50, do_sample=True)[0]))"""


def _elsewhere(run: RunDir, gguf_blocker: str | None) -> str:
    """How to run the model in llama.cpp or Ollama (after a GGUF export), or why it cannot be."""
    if gguf_blocker:
        return f"## Run it with llama.cpp or Ollama\n\nNot possible for this model: {escape(gguf_blocker)}\n"
    first_line = next((line for line in _usage_prompt(run).splitlines() if line.strip()), "Once upon a time")
    prompt, name, gguf_file = shlex.quote(first_line), slugify(run.id).lower(), f"{run.id}-f16"
    commands = (f"llama-completion -m {gguf_file}.gguf -no-cnv -n 100 -p {prompt}   # llama-cli -no-cnv in older "
                f"llama.cpp\nollama create {name} -f {gguf_file}.Modelfile && ollama run {name} {prompt}")
    return f"""## Run it with llama.cpp or Ollama

Export one GGUF file, the tokenizer inside, with an Ollama Modelfile beside it (Playground tab: *GGUF
(llama.cpp / Ollama)*, or `python -m clm_gui export RUN_FOLDER --format gguf`), then:

{fenced(commands, "sh")}
"""


def model_card_text(run: RunDir, cfg: RunConfig, n_params: int | None = None, vocab_size: int | None = None,
                    gguf_blocker: str | None = None) -> str:
    metrics = latest_per_step(read_jsonl(run.metrics_path))
    status = run.read_status()
    kept = status.get("kept") or cfg.train.keep
    tokens = next((r["tokens"] for r in reversed(metrics) if "tokens" in r), 0)
    m = cfg.model
    front = yaml.safe_dump({"library_name": "transformers", "pipeline_tag": "text-generation",
                            "tags": ["clm-gui", "causal-lm", m.family, "trained-from-scratch"]}, sort_keys=False)
    size = f"{n_params / 1e6:.2f}M-parameter " if n_params else ""
    return f"""---
{front}---

# {escape(cfg.name or run.id)}

A {size}{m.family.upper()}-style causal language model trained from scratch with clm-gui
(run `{run.id}`): {m.n_layer} layers, {m.n_head} heads, width {m.n_embd},
context {m.context_length} tokens.

## Results

{_results(metrics, best_of_run(run, metrics), kept, step_reached(status, metrics))}

![Training and evaluation loss]({PLOT_FILE})

## Data

{_data_summary(cfg, tokens, run.path.parent)}

## Tokenizer

{_tokenizer_summary(cfg, vocab_size, run.path.parent)}

## Use

{fenced(USAGE.format(prompt=repr(_usage_prompt(run))), "python")}

{_elsewhere(run, gguf_blocker)}
{_samples(run)}
## Configuration

The complete run configuration (`python -m clm_gui train config.yaml` trains it again):

{fenced(_shareable_yaml(cfg, run.path.parent), "yaml")}
"""


def write_model_card(folder: Path, run: RunDir, cfg: RunConfig, n_params: int | None = None,
                     vocab_size: int | None = None) -> Path:
    """Write README.md and loss.svg into `folder` (the model folder being saved); returns the card."""
    folder = Path(folder)
    metrics = latest_per_step(read_jsonl(run.metrics_path))
    atomic_write_text(folder / PLOT_FILE, loss_plot_svg(metrics, best_of_run(run, metrics)))
    atomic_write_text(folder / CARD_FILE, model_card_text(run, cfg, n_params, vocab_size, gguf_refusal(folder)))
    return folder / CARD_FILE


_FRONT_MATTER = re.compile(r"^---\n.*?\n---\n", re.S)  # the Hub's metadata, not for reading in the page
_PLOT_IMAGE = re.compile(rf"!\[[^\]]*\]\({re.escape(PLOT_FILE)}\)\n?")  # a page shows the plot itself


def read_model_card(folder: Path) -> tuple[str, str] | None:
    """(the card's text without its front matter and plot image, the loss plot SVG or "") of a model folder
    written by write_model_card, for showing in a page; None while the folder has no card."""
    card = Path(folder) / CARD_FILE
    if not card.is_file():
        return None
    text = _PLOT_IMAGE.sub("", _FRONT_MATTER.sub("", card.read_text(encoding="utf-8")))
    plot = Path(folder) / PLOT_FILE
    return text, plot.read_text(encoding="utf-8") if plot.is_file() else ""
