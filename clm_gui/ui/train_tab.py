"""The Train tab: training settings, Start / Stop / Resume, and a live view of any run, read from its folder.

The job runs in the app's process (`jobs.manager_for`), not in a browser session: closing the page never
stops it, and every page (a reload, a second browser, after an app restart) re-attaches by polling the
run folder with a `gr.Timer`. Each poll sends only what changed since that page's previous poll.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import gradio as gr
from gradio.components.plot import PlotData

from clm_gui.runs import compare as compare_lib
from clm_gui.runs.compare import X_AXES
from clm_gui.config import (AUTO, CHECKPOINTS_PER_RUN, COMPILE_MODES, DISTRIBUTED_MODES, KEEP_MODES, PRECISIONS,
                            SCHEDULES, RunConfig, config_from_dict, config_from_yaml, load_config)
from clm_gui.errors import UserError
from clm_gui.jobs.manager import JobManager, manager_for
from clm_gui.jobs.preparation import resume_overrides
from clm_gui.runs.monitor import (current_metrics, current_status, format_passes, format_time, is_active, log_tail,
                                  overfitting_note, passes_over_data, progress, read_samples, sample_steps,
                                  samples_markdown, step_reached, summarize)
from clm_gui.hosting.ownership import Visitor, check_control, control_refusal, may_control
from clm_gui.runs.folder import DRAFTS_DIR, RunDir, list_runs, open_run
from clm_gui.runs.notes import NOTES_FILE, RunNotes, read_notes, run_label, write_notes
from clm_gui.security import in_force
from clm_gui.train.cadence import EVALUATIONS_PER_RUN, describe
from clm_gui.ui import plots
from clm_gui.ui.context import UIContext
from clm_gui.ui.draft_view import draft_changes
from clm_gui.ui.form import Form
from clm_gui.ui.gradio_cache import discard_exports
from clm_gui.ui.progress import quiet_events
from clm_gui.units import format_duration, format_minutes

POLL_SECONDS = 2.0  # while a run trains
IDLE_POLL_SECONDS = 10.0  # while none does: a run started elsewhere (another page, the CLI) shows up within this
CHART_CACHE_SIZE = 8  # chart sets kept: a few runs viewed, or the same run at other smoothing settings
LIVE = ""  # the run picker's "follow the live run" choice
LIVE_CHOICE = ("Live: the running or latest run", LIVE)
LATEST_SAMPLES = ""  # the samples step picker's "follow the latest round" choice


@dataclass(frozen=True)
class Setting:
    key: str  # a TrainConfig field
    label: str
    kind: type | tuple  # int, float, or the allowed choices
    info: str = ""


# Shown four to a row, in this order; values travel by key (FORM: merged_config, field_updates, Start).
SETTINGS = [
    Setting("learning_rate", "Learning rate", float, "3e-4 to 1e-3 is typical; tiny models take more"),
    Setting("schedule", "Schedule", SCHEDULES, "after warm-up"),
    Setting("warmup_steps", "Warm-up steps", int),
    Setting("weight_decay", "Weight decay", float, "AdamW; more of it helps a small corpus seen many times"),
    Setting("micro_batch_size", "Batch size", int, "sequences per forward pass, per device"),
    Setting("grad_accum_steps", "Gradient accumulation", int, "micro-batches per optimizer step"),
    Setting("max_steps", "Max steps", int, "0: no step limit"),
    Setting("max_tokens", "Max tokens", int, "0: no token limit"),
    Setting("max_minutes", "Max minutes", float, "0: no time limit"),
    Setting("eval_interval", "Evaluate every (steps)", int, f"-1: {describe(AUTO, EVALUATIONS_PER_RUN)}; 0: never"),
    Setting("keep", "Keep", KEEP_MODES, "what final/ holds: best, the lowest held-out loss; last, the last step"),
    Setting("early_stop_patience", "Early-stop patience", int,
            "evaluations without a new best before the run ends; 0: never"),
    Setting("save_interval", "Checkpoint every (steps)", int,
            f"-1: {CHECKPOINTS_PER_RUN} times over the run; 0: only at stop and end"),
    Setting("sample_interval", "Samples every (steps)", int, "-1: a few times over the run; 0: only at the end"),
    Setting("seed", "Seed", int),
    Setting("precision", "Precision", PRECISIONS, "auto: bf16/fp16 on GPU, fp32 on CPU"),
    Setting("compile", "torch.compile", COMPILE_MODES,
            "auto: graph (the whole step as one CUDA graph) on one GPU, on with several, off on CPU"),
    Setting("device", "Device", ("auto", "cpu", "cuda"), "or cuda:N"),
    Setting("gpus", "Several GPUs", ("",), "empty: one device; 'all' or '0,1': one process per GPU"),
    Setting("distributed", "With several GPUs", DISTRIBUTED_MODES,
            "ddp: a full copy per GPU; fsdp: weights and optimizer split across GPUs, for models too big for one"),
    Setting("sample_prompts", "Sample prompts", list,
            "one per line; empty: the opening words of held-out text (the Dataset tab's Profile shows them); "
            "\\n: a line break"),
]
FORM = ("name", *(s.key for s in SETTINGS))  # the tab's fields by name: the run name, then train.*
FREE_TEXT_CHOICES = ("device", "gpus")  # dropdowns that also take a typed value (cuda:1, 0,2)
COMPARED = ("eval_loss", "eval_bpb")  # the comparison's two charts
RUN_COLUMNS = ["Run", "Name", "Status", "Step", "Train loss", "Eval loss", "Best bits/byte", "Tokens", "Updated"]


def gpu_choices() -> list[tuple[str, str]]:
    """train.gpus values to offer: one device, and with several GPUs here, all of them or any two."""
    import torch

    count = torch.cuda.device_count()
    choices = [("one device (see Device)", "")]
    if count > 1:
        choices.append((f"all {count} GPUs", "all"))
        choices += [(f"GPUs {i},{j}", f"{i},{j}") for i in range(count) for j in range(i + 1, count)][:12]
    return choices


def prompts_text(prompts: list[str]) -> str:
    """Prompts one per line, as the prompts box shows them (a line break inside one written as \\n)."""
    return "\n".join(p.replace("\n", "\\n") for p in prompts or [])


def parse_prompts(text: str | None) -> list[str]:
    """The prompts box's lines as prompts; trailing spaces are kept (a prompt "ROMEO: " asks for what follows)."""
    return [line.replace("\\n", "\n") for line in (text or "").splitlines() if line.strip()]


def shown_value(setting: Setting, value):
    return prompts_text(value) if setting.kind is list else value


def typed_value(setting: Setting, value):
    return parse_prompts(value) if setting.kind is list else value


def labelled(problems: list[str]) -> list[str]:
    """Problems with each training setting named as the tab labels it: "Learning rate (train.learning_rate)"."""
    def name(problem: str) -> str:
        for setting in SETTINGS:
            problem = re.sub(rf"\btrain\.{setting.key}\b", f"{setting.label} (train.{setting.key})", problem)
        return problem

    return [name(p) for p in problems]


def _component(setting: Setting, value):
    elem_id = f"train-setting-{setting.key}"  # labels such as "Device" recur on other tabs
    if setting.kind is list:
        return gr.Textbox(prompts_text(value), label=setting.label, info=setting.info, lines=3, max_lines=8,
                          elem_id=elem_id)
    if isinstance(setting.kind, tuple):
        choices = gpu_choices() if setting.key == "gpus" else list(setting.kind)
        return gr.Dropdown(choices, value=value, label=setting.label, info=setting.info or None,
                           allow_custom_value=setting.key in FREE_TEXT_CHOICES, elem_id=elem_id)
    return gr.Number(value=value, label=setting.label, info=setting.info or None,
                     precision=0 if setting.kind is int else None, elem_id=elem_id)


def say_already_started(run_id: str) -> None:
    """Start pressed again while the run the first press started trains: the first press worked, and its
    line stays; a note says so (not a refusal: nothing went wrong)."""
    gr.Info(f"{run_id} is already training: your first Start started it.")


# ---------------------------------------------------------------------------------------------
# The configuration: the shared draft (ctx.config) plus this tab's fields.


def merged_config(config: dict, values: dict) -> dict:
    """The shared draft with this tab's run name and training settings (`values`, by FORM name) written in."""
    train = {**config.get("train", {}), **{s.key: typed_value(s, values[s.key]) for s in SETTINGS}}
    return {**config, "name": values["name"] or "", "train": train}


def field_updates(config: dict, shown: dict, current: dict) -> list:
    """New values for the run name and the training fields: only those whose value in the draft changed
    since the page last showed it (`draft_changes`) and is not already in the field. Comparing with the
    fields' own values instead would undo typing: an edit in one field updates the draft, and by the time
    that update comes back the user may be typing in the next field, whose value the draft does not have yet."""

    def values(cfg: dict) -> dict:
        train = cfg.get("train", {})
        return {"name": cfg.get("name", ""), **{s.key: shown_value(s, train.get(s.key)) for s in SETTINGS}}

    changed = draft_changes(values(config), values(shown)) or {}
    return [changed[n] if n in changed and changed[n] != current[n] else gr.skip() for n in FORM]


def draft_problems(config: dict) -> tuple[RunConfig | None, list[str]]:
    try:
        cfg = config_from_dict(config)
    except UserError as exc:
        return None, labelled(getattr(exc, "problems", [str(exc)]))
    return cfg, labelled(cfg.validate())


def validation_markdown(config: dict) -> str:
    cfg, problems = draft_problems(config)
    if problems:
        return "**Fix before starting:**\n" + "\n".join(f"- {p}" for p in problems)
    per_step = cfg.tokens_per_step()
    limits = [f"{cfg.train.max_steps:,} steps" * bool(cfg.train.max_steps),
              f"{cfg.train.max_tokens:,} tokens" * bool(cfg.train.max_tokens),
              format_minutes(cfg.train.max_minutes) * bool(cfg.train.max_minutes)]
    return (f"Ready: {per_step:,} tokens per step, stopping at {' or '.join(filter(None, limits))} "
            "(whichever comes first).")


def draft_file(runs_dir: Path, text: str) -> str:
    """A config.yaml written under the runs folder (named by its content) so the page can download it."""
    path = runs_dir / DRAFTS_DIR / f"config-{hashlib.sha256(text.encode()).hexdigest()[:12]}.yaml"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return str(path)


def command_text(runs_dir: Path, run: RunDir | None) -> str:
    lines = ["# Train the configuration above without the app (download it as config.yaml):",
             f"python -m clm_gui train config.yaml --runs-dir {runs_dir}"]
    if run is not None:
        lines += [f"# Train run {run.id} again from its saved configuration:",
                  f"python -m clm_gui train {run.config_path}",
                  f"# Resume run {run.id} from its latest checkpoint:",
                  f"python -m clm_gui train --resume {run.path}"]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The live view of one run.


@lru_cache(maxsize=64)
def _run_config(path: Path, mtime: float) -> RunConfig:
    return load_config(path)


def run_config(run: RunDir) -> RunConfig:
    return _run_config(run.config_path, run.config_path.stat().st_mtime)


def status_markdown(run: RunDir | None, status: dict) -> str:
    if run is None:
        return "No runs yet: adjust the settings and press **Start**."
    live = " — live" if is_active(status) else ""
    return f"**{run.id}** · `{status.get('state', 'unknown')}`{live}  \n{html.escape(status.get('message', ''))}"


def progress_html(run: RunDir, status: dict, records: list[dict]) -> str:
    cfg = run_config(run)
    done = progress(cfg.train, cfg.tokens_per_step(status.get("world_size") or 1), records)
    fraction = 1.0 if status.get("state") == "finished" else done.fraction
    last = next((r for r in reversed(records) if r.get("kind") == "train"), {})
    limit = f" / {cfg.train.max_steps:,}" if cfg.train.max_steps else ""
    parts = [f"step {step_reached(status, records):,}{limit}", f"{fraction:.0%} of the {done.limit} limit"]
    if is_active(status):
        parts.append(f"ETA {format_duration(done.eta_s)}")
    if last.get("tokens_per_s"):
        parts.append(f"{last['tokens_per_s']:,.0f} tokens/s")
    passes = passes_over_data(records)
    if passes is not None:
        parts.append(format_passes(passes))
    return (
        '<div class="clm-progress" style="margin:4px 0">'
        '<div style="background:#e5e7eb;border-radius:6px;height:14px;overflow:hidden">'
        f'<div style="width:{fraction * 100:.1f}%;background:#2563eb;height:100%"></div></div>'
        f'<div style="font-size:0.9em;margin-top:4px">{" · ".join(parts)}</div></div>'
    )


def memorising_html(run: RunDir, status: dict, records: list[dict]) -> str:
    """The overfitting note in a warning box; empty while there is none."""
    note = overfitting_note(records, status.get("kept") or run_config(run).train.keep)
    if note is None:
        return ""
    return ('<div class="clm-memorising" style="margin:4px 0;padding:8px 12px;border-left:4px solid #d97706;'
            f'background:#fffbeb;color:#78350f;border-radius:4px">{html.escape(note)}</div>')


def sample_step_choices(samples: list[dict]) -> list[tuple[str, str]]:
    """The samples view's step picker: the latest round (followed as new ones come), then each step's."""
    return [("latest", LATEST_SAMPLES)] + [(f"step {step:,}", str(step)) for step in sample_steps(samples)]


def picked_step(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@lru_cache(maxsize=512)
def _table_row(path: Path, stamp: tuple) -> list:
    """One run's row; cached by the run's file stamps, so only runs that changed are read again."""
    s = summarize(RunDir(path))
    step = f"{s.step:,}" + (f" / {s.max_steps:,}" if s.max_steps else "")
    losses = (round(v, 4) if v is not None else None for v in (s.train_loss, s.eval_loss))
    return [s.id, read_notes(RunDir(path)).name, s.state, step, *losses,
            round(s.best_bpb, 3) if s.best_bpb is not None else None, f"{s.tokens:,}", format_time(s.updated)]


def runs_table(runs: list[RunDir]) -> list[list]:
    return [_table_row(run.path, _run_stamp(run)) for run in runs]


def _file_size(path: Path) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return -1


def _status_stamp(run: RunDir) -> tuple:
    try:
        stat = run.status_path.stat()
        stop = run.stop_path.exists()
        return stat.st_mtime_ns, stat.st_size, stop
    except OSError:
        return ()


def _run_stamp(run: RunDir) -> tuple:
    return _status_stamp(run), _file_size(run.metrics_path), _modified(run.path / NOTES_FILE)


def _modified(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1


def run_choices(runs_dir: Path) -> list[tuple[str, str]]:
    """Every run as a picker offers it: labelled by its display name, chosen by its id."""
    return [(run_label(run), run.id) for run in list_runs(runs_dir)]


class LiveView:
    """Builds the poll's outputs for one page, sending only the groups whose inputs changed."""

    def __init__(self, manager: JobManager, runs_dir: Path, offer_config: bool = True):
        self.manager, self.runs_dir = manager, runs_dir
        self.offer_config = offer_config  # hosted: no config.yaml downloads or command lines (server paths)
        self._charts: OrderedDict[tuple, list[PlotData]] = OrderedDict()
        self._charts_lock = threading.Lock()

    def charts(self, key: tuple, records: list[dict], log_scale: bool, smoothing: float) -> list[PlotData]:
        """The charts as Gradio sends them, built once per change of a run's metrics and shared by every page
        that polls it: ten open pages cost one build and one JSON encoding instead of ten."""
        with self._charts_lock:  # pages polling at the same moment wait for one build, not do ten
            if key not in self._charts:
                specs = plots.training_specs(records, log_scale, smoothing)
                self._charts[key] = [PlotData(type="plotly", plot=plots.spec_json(spec)) for spec in specs]
                while len(self._charts) > CHART_CACHE_SIZE:
                    self._charts.popitem(last=False)
            self._charts.move_to_end(key)
            return self._charts[key]

    def resolve(self, picked: str) -> RunDir | None:
        if picked:
            try:
                return open_run(self.runs_dir, picked)
            except UserError:
                pass
        active = self.manager.active_run()
        if active is not None:
            return active
        runs = list_runs(self.runs_dir)
        return runs[0] if runs else None

    def _controls_state(self, run: RunDir | None, active: RunDir | None, status: dict) -> tuple:
        resumable = (active is None and run is not None and status.get("state") != "finished"
                     and run.latest_checkpoint() is not None)
        return active is not None, resumable

    def poll(self, picked: str, log_scale: bool, smoothing: float, samples_step: str | None, seen: dict | None):
        """(outputs..., controls key, seen): gr.skip() for every part that has not changed since this page
        last looked.

        Gradio 6 rebuilds a component's config for every output that gets an update, gr.skip() included
        (about 5 ms each on a 2-core box), so the buttons, timer, run picker and run details, which change
        only when a run starts, stops or appears, are not outputs of this poll: it returns a key of them,
        and the key's change event (`controls`) updates them."""
        seen = dict(seen or {})
        run = self.resolve(picked)
        runs = list_runs(self.runs_dir)
        active = self.manager.active_run()
        stamp = {}
        if run is not None:
            stamp = {"metrics": _file_size(run.metrics_path), "samples": _file_size(run.samples_path),
                     "log": _file_size(run.log_path), "status": _status_stamp(run)}
        status = current_status(run) if run is not None else {}
        keys = {
            "status": (run and run.id, stamp.get("status"), stamp.get("metrics"), active and active.id),
            "charts": (run and run.id, stamp.get("metrics"), log_scale, smoothing),
            "samples": (run and run.id, stamp.get("samples"), samples_step),
            "log": (run and run.id, stamp.get("metrics"), stamp.get("status"), stamp.get("log")),
            "runs": tuple((r.id, _run_stamp(r)) for r in runs),
        }
        changed = {k for k, v in keys.items() if seen.get(k) != repr(v)}
        seen.update({k: repr(v) for k, v in keys.items()})
        records = current_metrics(run) if run is not None and changed & {"status", "charts", "log"} else []

        def group(name, make, count=1):
            if name not in changed:
                return [gr.skip()] * count
            return make() if count > 1 else [make()]

        out = []
        out += group("status", lambda: [
            status_markdown(run, status),
            progress_html(run, status, records) if run is not None else "",
            memorising_html(run, status, records) if run is not None else "",
        ], count=3)
        out += group("charts", lambda: self.charts(keys["charts"], records, log_scale, smoothing),
                     count=plots.TRAINING_CHARTS)
        out += group("samples", lambda: samples_markdown(read_samples(run) if run is not None else [],
                                                         picked_step(samples_step)))
        out += group("log", lambda: log_tail(run, records, status) if run is not None else "")
        out += group("runs", lambda: runs_table(runs))
        controls_key = repr((run and run.id, self._controls_state(run, active, status), [r.id for r in runs]))
        return (*out, controls_key, seen)

    def controls(self, visitor: Visitor | None, picked: str):
        """The buttons (each on only for a visitor who may use it, with the reason when not), poll interval,
        run picker and the viewed run's details, for the controls key's change; and the settings folded
        while a run trains, so that its charts come first (opened again by hand, they stay open)."""
        run = self.resolve(picked)
        active = self.manager.active_run()
        training, resumable = self._controls_state(run, active, current_status(run) if run is not None else {})
        deletable = run is not None and run != active
        mine = run is not None and may_control(visitor, run)
        return (gr.update(interactive=not training and visitor is not None),
                gr.update(interactive=training and may_control(visitor, active)),
                gr.update(interactive=resumable and mine), gr.update(interactive=deletable and mine),
                controls_note(visitor, run, active, resumable, deletable),
                gr.Timer(POLL_SECONDS if training else IDLE_POLL_SECONDS),
                gr.update(choices=[LIVE_CHOICE, *run_choices(self.runs_dir)]),
                command_text(self.runs_dir, run) if self.offer_config else "",
                gr.update(value=str(run.config_path) if run and self.offer_config else None,
                          visible=run is not None and self.offer_config),
                run.id if run else "",
                (run_config(run).train.max_steps or None) if run else None,  # 0: no step limit, nothing to raise
                gr.update(open=False) if training else gr.skip())


def controls_note(visitor: Visitor | None, run: RunDir | None, active: RunDir | None, resumable: bool,
                  deletable: bool) -> str:
    """Why Stop, Resume or Delete is off for this visitor; empty when nothing is off for want of ownership."""
    if visitor is None:
        return "*Your browser session is starting: if the buttons stay off, reload the page.*"
    notes = []
    if active is not None and not may_control(visitor, active):
        notes.append(f"**Stop is off:** {control_refusal(active, 'stop')}")
    actions = [name for name, possible in (("resume", resumable), ("delete", deletable)) if possible]
    if actions and not may_control(visitor, run):
        what = " and ".join(a.capitalize() for a in actions)
        notes.append(f"**{what} {'is' if len(actions) == 1 else 'are'} off:** {control_refusal(run, ' or '.join(actions))}")
    return "  \n".join(notes)


# ---------------------------------------------------------------------------------------------


def build(ctx: UIContext) -> None:
    runs_dir = Path(ctx.settings.runs_dir)
    manager = manager_for(runs_dir)
    hosted = ctx.settings.hosted
    view = LiveView(manager, runs_dir, offer_config=not hosted)
    draft = ctx.config.value  # the settings every page starts from (read only)

    gr.Markdown("## Train\nStart training with the settings below; the charts follow the run live. "
                "Training continues if you close the page: come back any time to watch it.")
    with gr.Accordion("Training settings", open=True, elem_id="train-settings") as settings_box:
        with gr.Row(equal_height=True):
            name = gr.Textbox(label="Run name", value=draft["name"], placeholder="e.g. my-first-model", scale=4)
            upload = gr.UploadButton("Load a config.yaml", file_types=[".yaml", ".yml"], scale=1,
                                     elem_id="train-load-config")
        fields = []
        for start in range(0, len(SETTINGS), 4):
            with gr.Row():
                fields += [_component(s, draft["train"][s.key]) for s in SETTINGS[start:start + 4]]
    with gr.Row(equal_height=True):
        start_btn = gr.Button("Start", variant="primary", scale=1)
        stop_btn = gr.Button("Stop", variant="stop", scale=1, interactive=False)
        resume_btn = gr.Button("Resume", scale=1, interactive=False)
        delete_btn = gr.Button("Delete", scale=1, interactive=False, elem_id="train-delete")
        resume_until = gr.Number(label="Resume until step", precision=0, scale=1,
                                 info="raise it to train a run longer", elem_id="train-resume-until")
        validation = gr.Markdown(validation_markdown(draft), elem_id="train-validation")
    controls_why = gr.Markdown(elem_id="train-controls-why")
    action = gr.Markdown(elem_id="train-action")

    with gr.Row(equal_height=True):
        picker = gr.Dropdown([LIVE_CHOICE], value=LIVE, label="Run", scale=3)
        log_scale = gr.Checkbox(label="Log-scale loss", value=False, scale=1)
        smoothing = gr.Slider(0, 0.95, value=0.6, step=0.05, label="Smoothing", scale=2)
    status_md = gr.Markdown(elem_id="train-status")
    progress_bar = gr.HTML(elem_id="train-progress")
    memorising = gr.HTML(elem_id="train-memorising")
    with gr.Row():
        loss_plot = gr.Plot(show_label=False, elem_id="train-loss-plot", scale=3)
        bpb_plot = gr.Plot(show_label=False, elem_id="train-bpb-plot", scale=2)
    with gr.Row():
        lr_plot, speed_plot, mfu_plot, memory_plot = (gr.Plot(show_label=False, elem_classes="clm-small-chart")
                                                      for _ in range(4))
    with gr.Row():
        with gr.Column():
            samples_step = gr.Dropdown([("latest", LATEST_SAMPLES)], value=LATEST_SAMPLES, label="Samples at step",
                                       info="earlier rounds show how the text improved over training",
                                       elem_id="train-samples-step")
            samples = gr.Markdown(elem_id="train-samples")
        log = gr.Textbox(label="Log", lines=14, max_lines=14, autoscroll=True, interactive=False, elem_id="train-log")
    with gr.Accordion("All runs", open=True):
        table = gr.Dataframe(headers=RUN_COLUMNS, interactive=False, elem_id="train-runs")
        with gr.Row(equal_height=True):
            display_name = gr.Textbox(label="Name of the viewed run", max_lines=1, scale=2, elem_id="train-run-name",
                                      info="labels it in the lists and comparisons; its id stays")
            run_notes = gr.Textbox(label="Notes", lines=2, max_lines=6, scale=4, elem_id="train-run-notes",
                                   info="what you tried and what you saw")
            save_notes = gr.Button("Save name and notes", scale=1, interactive=False, elem_id="train-save-notes")
        notes_said = gr.Markdown(elem_id="train-notes-said")
    with gr.Accordion("Compare runs", open=False, elem_id="train-compare"):
        with gr.Row(equal_height=True):
            compare_runs = gr.Dropdown([], value=[], multiselect=True, label="Runs to compare", scale=3,
                                       elem_id="train-compare-runs")
            compare_x = gr.Radio(list(X_AXES), value="steps", label="Against", scale=1, elem_id="train-compare-x")
        with gr.Row():
            compare_loss = gr.Plot(show_label=False, elem_id="train-compare-loss")
            compare_bpb = gr.Plot(show_label=False, elem_id="train-compare-bpb")
        compare_settings = gr.Markdown(elem_id="train-compare-settings")
    with gr.Accordion("Command line and config.yaml", open=False, visible=not hosted):
        command = gr.Code(language="shell", label="Equivalent command", interactive=False)
        with gr.Row():
            draft_yaml = gr.Code(RunConfig().to_yaml(), language="yaml", label="config.yaml (these settings)",
                                 interactive=False)
        with gr.Row():
            draft_download = gr.DownloadButton("Download config.yaml (these settings)",
                                               value=None if hosted else draft_file(runs_dir, RunConfig().to_yaml()))
            run_download = gr.DownloadButton("Download the viewed run's config.yaml", visible=False)
    viewed = gr.State("")
    seen = gr.State(None)
    timer = gr.Timer(POLL_SECONDS)
    quiet = quiet_events()

    form = Form(name=name, **{s.key: field for s, field in zip(SETTINGS, fields)})
    form_fields = [form[n] for n in FORM]  # the outputs that show the draft, in field_updates' order

    # --- the draft configuration, shared with the other tabs -------------------------------------
    shown = gr.State(None)  # the draft as this page last showed it

    def prefill(given: dict):
        """Show the shared draft's values where they changed since this page last showed it."""
        merged = given[ctx.config] or draft
        updates = field_updates(merged, given[shown] or draft, form.values(given))
        cfg = draft_problems(merged)[0]
        if cfg is None or hosted:  # unreadable: keep the last readable config.yaml; hosted: none is offered
            return (*updates, validation_markdown(merged), gr.skip(), gr.skip(), merged)
        return (*updates, validation_markdown(merged), cfg.to_yaml(), draft_file(runs_dir, cfg.to_yaml()), merged)

    def store_draft(given: dict):
        """The fields into the shared draft, which this page then shows as it is (prefill changes no field
        from it: the user may be typing on)."""
        merged = merged_config(given[ctx.config], form.values(given))
        return merged, merged

    gr.on([ctx.config.change], prefill, inputs=form.inputs(ctx.config, shown),
          outputs=[*form_fields, validation, draft_yaml, draft_download, shown], **quiet)
    # always_last: an edit made while the previous one is stored is stored after it (Gradio's default for an
    # input event, "once", drops it), and since every field is read each time, the last store has them all.
    gr.on([c.input for c in form_fields], store_draft, inputs=form.inputs(ctx.config), outputs=[ctx.config, shown],
          trigger_mode="always_last", **quiet)

    def load_yaml(file):
        """A whole configuration from a file: it becomes the shared draft (all tabs see it)."""
        try:
            cfg = in_force().check_config(config_from_yaml(Path(file).read_text(encoding="utf-8")))  # hosted: only the visitor's own paths
        except (UserError, OSError, UnicodeDecodeError) as exc:
            gr.Warning(f"Could not load that file: {exc}")
            return gr.skip(), gr.skip()
        return cfg.to_dict(), f"Loaded **{Path(file).name}** into the settings (all tabs)."

    upload.upload(load_yaml, inputs=upload, outputs=[ctx.config, action])

    # --- start, stop, resume ----------------------------------------------------------------------
    def start(visitor, given: dict):
        if manager.is_training(given[started]):
            say_already_started(given[started])
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        try:
            merged = merged_config(given[ctx.config] or draft, form.values(given))
            run = manager.start(config_from_dict(merged), by=visitor, quotas=ctx.settings.quotas)
        except UserError as exc:
            message = "\n".join(f"- {p}" for p in labelled(getattr(exc, "problems", [str(exc)])))
            gr.Warning(message)
            return gr.skip(), f"**Could not start:**\n{message}", gr.skip(), gr.skip()
        return gr.update(choices=[LIVE_CHOICE, run.id], value=run.id), \
            f"Started **{run.id}**.", gr.Timer(POLL_SECONDS), run.id

    def stop(visitor):
        try:
            run = manager.stop(by=visitor)
        except UserError as exc:
            return f"{exc}"
        return f"Stopping **{run.id}**: it saves a checkpoint at its next step, then you can resume it."

    def resume(visitor, run_id, until):
        try:
            longer = resume_overrides(run_config(open_run(runs_dir, run_id)), until) if run_id else []
            run = manager.resume(run_id, longer, by=visitor)
        except UserError as exc:
            gr.Warning(str(exc))
            return gr.skip(), f"**Could not resume:** {exc}", gr.skip()
        return gr.update(value=run.id), f"Resuming **{run.id}** from its latest checkpoint.", gr.Timer(POLL_SECONDS)

    def delete(visitor, run_id, armed):
        """The first press asks for a second one (deleting cannot be undone); the second deletes."""
        try:
            if armed != run_id:
                check_control(visitor, open_run(runs_dir, run_id), "delete")  # a refusal comes at once
                return gr.skip(), f"Press **Delete** again to delete **{run_id}** and its checkpoints for good.", \
                    run_id
            manager.delete(run_id, by=visitor)
            discard_exports(run_id)  # Gradio's copies of its export zips go with it
        except UserError as exc:
            gr.Warning(str(exc))
            return gr.skip(), f"**Not deleted:** {exc}", ""
        return gr.update(value=LIVE), f"Deleted **{run_id}**.", ""

    visitors = ctx.visitors
    started = gr.State("")  # the run this page started
    start_btn.click(visitors.bind_by_name(start), inputs=form.inputs(visitors.token, ctx.config, started),
                    outputs=[picker, action, timer, started], concurrency_limit=None)
    stop_btn.click(visitors.bind(stop), inputs=visitors.inputs(), outputs=action, concurrency_limit=None)
    resume_btn.click(visitors.bind(resume), inputs=visitors.inputs(viewed, resume_until),
                     outputs=[picker, action, timer], concurrency_limit=None)
    delete_armed = gr.State("")  # the run whose Delete was pressed once
    delete_btn.click(visitors.bind(delete), inputs=visitors.inputs(viewed, delete_armed),
                     outputs=[picker, action, delete_armed], concurrency_limit=None)

    # --- the live view: polled, and refreshed at once when the page opens or a control changes -----
    controls_key = gr.State("")
    outputs = [status_md, progress_bar, memorising, loss_plot, bpb_plot, lr_plot, speed_plot, mfu_plot, memory_plot,
               samples, log, table, controls_key, seen]
    gr.on([timer.tick, picker.change, log_scale.change, smoothing.release, samples_step.input], view.poll,
          inputs=[picker, log_scale, smoothing, samples_step, seen], outputs=outputs, **quiet,
          concurrency_limit=None)
    gr.on(None, lambda: None, inputs=None, outputs=None).then(
        view.poll, inputs=[picker, log_scale, smoothing, samples_step, gr.State(None)], outputs=outputs, **quiet,
        concurrency_limit=None)

    def offer_sample_steps(picked: str, step: str):
        """The steps of the viewed run's samples, after the view changed (a new round names its count)."""
        run = view.resolve(picked)
        choices = sample_step_choices(read_samples(run) if run is not None else [])
        return gr.update(choices=choices, value=step if step in {value for _, value in choices} else LATEST_SAMPLES)

    samples.change(offer_sample_steps, inputs=[picker, samples_step], outputs=samples_step, **quiet)
    gr.on([controls_key.change, visitors.token.change], visitors.bind(view.controls), inputs=visitors.inputs(picker),
          outputs=[start_btn, stop_btn, resume_btn, delete_btn, controls_why, timer, picker, command, run_download,
                   viewed, resume_until, settings_box], **quiet, concurrency_limit=None)

    def pick_row(evt: gr.SelectData):
        return evt.row_value[0]

    table.select(pick_row, outputs=picker)

    # --- the viewed run's name and notes (its owner's to change) ------------------------------------
    def show_notes(visitor, run_id):
        run = view.resolve(run_id)
        given = read_notes(run) if run is not None else RunNotes()
        mine = run is not None and may_control(visitor, run)
        # No visitor yet: the controls' note already asks for a reload.
        why = "" if run is None or mine or visitor is None else f"**Renaming is off:** {control_refusal(run, 'rename')}"
        return given.name, given.notes, gr.update(interactive=mine), why

    def keep_notes(visitor, run_id, name, notes):
        try:
            run = open_run(runs_dir, run_id)
            check_control(visitor, run, "rename")
            write_notes(run, name, notes)
        except UserError as exc:
            gr.Warning(str(exc))
            return f"**Not saved:** {exc}", gr.skip()
        return f"Saved the name and notes of **{run.id}**.", gr.update(choices=[LIVE_CHOICE, *run_choices(runs_dir)])

    gr.on([viewed.change, visitors.token.change], visitors.bind(show_notes), inputs=visitors.inputs(viewed),
          outputs=[display_name, run_notes, save_notes, notes_said], **quiet)
    save_notes.click(visitors.bind(keep_notes), inputs=visitors.inputs(viewed, display_name, run_notes),
                     outputs=[notes_said, picker], concurrency_limit=None)

    # --- comparing runs ---------------------------------------------------------------------------
    def compare_choices(chosen):
        """The runs to choose from. The value is sent back only when a chosen run is gone: sent always, it
        overwrote a run picked while this answer was on its way (a click on the box fires it), and a loaded
        machine compared one run of two."""
        choices = run_choices(runs_dir)
        ids = {run_id for _, run_id in choices}
        kept = [i for i in chosen or [] if i in ids]
        return gr.update(choices=choices) if kept == list(chosen or []) else gr.update(choices=choices, value=kept)

    def compare(chosen, x_axis):
        runs = [open_run(runs_dir, run_id) for run_id in chosen or []]
        charts = tuple(plots.as_figure(plots.comparison_spec(compare_lib.curves(runs, metric, x_axis), metric, x_axis))
                       for metric in COMPARED)
        return *charts, compare_lib.settings_markdown(runs, [run_label(run) for run in runs])

    # The runs to choose from follow the run list (a new run appears there by the poll), and a click on the box.
    gr.on([table.change, compare_runs.focus], compare_choices, inputs=compare_runs, outputs=compare_runs, **quiet)
    compared = [compare_loss, compare_bpb, compare_settings]
    # always_last: a second run picked while the first pick's charts are drawn must not be dropped (a loaded
    # machine showed one run of two)
    gr.on([compare_runs.change, compare_x.change], compare, inputs=[compare_runs, compare_x], outputs=compared,
          trigger_mode="always_last", **quiet)
    gr.on(None, lambda: None).then(compare_choices, inputs=compare_runs, outputs=compare_runs, **quiet).then(
        compare, inputs=[compare_runs, compare_x], outputs=compared, **quiet)
