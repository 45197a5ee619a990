"""What the Train tab does, without Gradio: the training settings over the shared draft, Start / Stop / Resume /
Delete, and a live view of any run, read from its folder.

The job runs in the app's process (`jobs.manager_for`), not in a browser session: closing the page never
stops it, and every page (a reload, a second browser, after an app restart) re-attaches by polling the
run folder (`LiveView.poll`). Each poll sends only what changed since that page's previous poll.

Each action takes the tab's values and returns the widgets it changes by name, `{name: value}`
(`ui/widgets.py`); a widget it leaves out keeps its value. The names: the fields of FORM (`name`, then each
train.* key), `config` (the shared draft), `shown` (the draft as the page last showed it), `validation`,
`draft_yaml`, `draft_download`, `action`, `picker`, `timer`, `started`, `delete_armed`, the live view's
(`status`, `progress`, `memorising`, CHARTS, `samples`, `log`, `table`, `controls_key`, `seen`), the
controls' (`start_btn`, `stop_btn`, `resume_btn`, `delete_btn`, `controls_why`, `command`, `run_download`,
`viewed`, `resume_until`, `settings_box`), `samples_step`, the notes' (`display_name`, `run_notes`,
`save_notes`, `notes_said`) and the comparison's (`compare_runs`, `compare_loss`, `compare_bpb`,
`compare_settings`). The tab (`ui/train_tab.py`) lays the widgets out under these names.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import threading
import typing
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from clm_gui.config import (AUTO, CHECKPOINTS_PER_RUN, RunConfig, TrainConfig, config_from_dict, config_from_yaml,
                            load_config)
from clm_gui.errors import UserError
from clm_gui.hosting.ownership import Visitor, check_control, control_refusal, may_control
from clm_gui.hosting.quotas import Quotas
from clm_gui.jobs.manager import JobManager
from clm_gui.jobs.preparation import resume_overrides
from clm_gui.runs import compare as compare_lib
from clm_gui.runs.folder import DRAFTS_DIR, RunDir, list_runs, open_run
from clm_gui.runs.monitor import (current_metrics, current_status, format_passes, format_time, is_active, log_tail,
                                  overfitting_note, passes_over_data, progress, read_samples, sample_steps,
                                  samples_markdown, step_reached, summarize)
from clm_gui.runs.notes import NOTES_FILE, RunNotes, read_notes, run_label, write_notes
from clm_gui.security import in_force
from clm_gui.train.cadence import EVALUATIONS_PER_RUN, describe
from clm_gui.ui import plots
from clm_gui.ui.draft_view import draft_changes
from clm_gui.ui.widgets import Chart, Choices, Displayed, Interactive, Opened
from clm_gui.units import format_duration, format_minutes

POLL_SECONDS = 2.0  # while a run trains
IDLE_POLL_SECONDS = 10.0  # while none does: a run started elsewhere (another page, the CLI) shows up within this
CHART_CACHE_SIZE = 8  # chart sets kept: a few runs viewed, or the same run at other smoothing settings
LIVE = ""  # the run picker's "follow the live run" choice
LIVE_CHOICE = ("Live: the running or latest run", LIVE)
LATEST_SAMPLES = ""  # the samples step picker's "follow the latest round" choice


_TRAIN_TYPES = typing.get_type_hints(TrainConfig)


@dataclass(frozen=True)
class Setting:
    key: str  # a TrainConfig field
    label: str
    info: str = ""
    choices: tuple = ()  # offered for a field the configuration types as free text (str)

    @property
    def kind(self) -> type | tuple:
        """int, float, list (the prompts) or the allowed choices, as the TrainConfig field declares them."""
        if self.choices:
            return self.choices
        declared = _TRAIN_TYPES[self.key]
        if typing.get_origin(declared) is typing.Literal:
            return typing.get_args(declared)
        return typing.get_origin(declared) or declared  # list[str]: list


# Shown four to a row, in this order; values travel by key (FORM: merged_config, field_updates, Start).
SETTINGS = [
    Setting("learning_rate", "Learning rate", "3e-4 to 1e-3 is typical; tiny models take more"),
    Setting("schedule", "Schedule", "after warm-up"),
    Setting("warmup_steps", "Warm-up steps"),
    Setting("weight_decay", "Weight decay", "AdamW; more of it helps a small corpus seen many times"),
    Setting("optimizer", "Optimizer", "muon: Muon for the blocks' matrices, AdamW for the rest; learns more a "
            "step, memorises sooner"),
    Setting("micro_batch_size", "Batch size", "sequences per forward pass, per device"),
    Setting("grad_accum_steps", "Gradient accumulation", "micro-batches per optimizer step"),
    Setting("max_steps", "Max steps", "0: no step limit"),
    Setting("max_tokens", "Max tokens", "0: no token limit"),
    Setting("max_minutes", "Max minutes", "0: no time limit"),
    Setting("eval_interval", "Evaluate every (steps)", f"-1: {describe(AUTO, EVALUATIONS_PER_RUN)}; 0: never"),
    Setting("keep", "Keep", "what final/ holds: best, the lowest held-out loss; last, the last step"),
    Setting("early_stop_patience", "Early-stop patience",
            "evaluations without a new best before the run ends; 0: never"),
    Setting("save_interval", "Checkpoint every (steps)",
            f"-1: {CHECKPOINTS_PER_RUN} times over the run; 0: only at stop and end"),
    Setting("sample_interval", "Samples every (steps)", "-1: a few times over the run; 0: only at the end"),
    Setting("seed", "Seed"),
    Setting("precision", "Precision", "auto: bf16/fp16 on GPU, fp32 on CPU"),
    Setting("compile", "torch.compile",
            "auto: graph (the whole step as one CUDA graph) on one GPU, on with several, off on CPU"),
    Setting("device", "Device", "or cuda:N", choices=("auto", "cpu", "cuda")),
    Setting("gpus", "Several GPUs", "empty: one device; 'all' or '0,1': one process per GPU", choices=("",)),
    Setting("distributed", "With several GPUs",
            "ddp: a full copy per GPU; fsdp: weights and optimizer split across GPUs, for models too big for one"),
    Setting("sample_prompts", "Sample prompts",
            "one per line; empty: the opening words of held-out text (the Dataset tab's Profile shows them); "
            "\\n: a line break"),
]
FORM = ("name", *(s.key for s in SETTINGS))  # the tab's fields by name: the run name, then train.*
FREE_TEXT_CHOICES = ("device", "gpus")  # dropdowns that also take a typed value (cuda:1, 0,2)
COMPARED = ("eval_loss", "eval_bpb")  # the comparison's two charts
CHARTS = ("loss_plot", "bpb_plot", "lr_plot", "speed_plot", "mfu_plot", "memory_plot")  # plots.training_specs' order
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


# ---------------------------------------------------------------------------------------------
# The configuration: the shared draft (ctx.config) plus this tab's fields.


def merged_config(config: dict, values: dict) -> dict:
    """The shared draft with this tab's run name and training settings (`values`, by FORM name) written in."""
    train = {**config.get("train", {}), **{s.key: typed_value(s, values[s.key]) for s in SETTINGS}}
    return {**config, "name": values["name"] or "", "train": train}


def field_updates(config: dict, shown: dict, current: dict) -> dict:
    """New values for the run name and the training fields: only those whose value in the draft changed
    since the page last showed it (`draft_changes`) and is not already in the field. Comparing with the
    fields' own values instead would undo typing: an edit in one field updates the draft, and by the time
    that update comes back the user may be typing in the next field, whose value the draft does not have yet."""

    def values(cfg: dict) -> dict:
        train = cfg.get("train", {})
        return {"name": cfg.get("name", ""), **{s.key: shown_value(s, train.get(s.key)) for s in SETTINGS}}

    changed = draft_changes(values(config), values(shown)) or {}
    return {n: changed[n] for n in FORM if n in changed and changed[n] != current[n]}


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
        self._charts: OrderedDict[tuple, list[Chart]] = OrderedDict()
        self._charts_lock = threading.Lock()

    def charts(self, key: tuple, records: list[dict], log_scale: bool, smoothing: float) -> list[Chart]:
        """The charts as plotly.js draws them, built once per change of a run's metrics and shared by every page
        that polls it: ten open pages cost one build and one JSON encoding instead of ten."""
        with self._charts_lock:  # pages polling at the same moment wait for one build, not do ten
            if key not in self._charts:
                specs = plots.training_specs(records, log_scale, smoothing)
                self._charts[key] = [Chart(plots.spec_json(spec)) for spec in specs]
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
        """The view's widgets by name, only the groups that changed since this page last looked (`seen`,
        which it returns updated), and `controls_key`.

        Gradio 6 rebuilds a component's config for every output that gets an update, one left out included
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

        out = {}
        if "status" in changed:
            out.update(status=status_markdown(run, status),
                       progress=progress_html(run, status, records) if run is not None else "",
                       memorising=memorising_html(run, status, records) if run is not None else "")
        if "charts" in changed:
            out.update(zip(CHARTS, self.charts(keys["charts"], records, log_scale, smoothing)))
        if "samples" in changed:
            out["samples"] = samples_markdown(read_samples(run) if run is not None else [], picked_step(samples_step))
        if "log" in changed:
            out["log"] = log_tail(run, records, status) if run is not None else ""
        if "runs" in changed:
            out["table"] = runs_table(runs)
        controls_key = repr((run and run.id, self._controls_state(run, active, status), [r.id for r in runs]))
        return {**out, "controls_key": controls_key, "seen": seen}

    def controls(self, visitor: Visitor | None, picked: str) -> dict:
        """The buttons (each on only for a visitor who may use it, with the reason when not), poll interval,
        run picker and the viewed run's details, for the controls key's change; and the settings folded
        while a run trains, so that its charts come first (opened again by hand, they stay open)."""
        run = self.resolve(picked)
        active = self.manager.active_run()
        training, resumable = self._controls_state(run, active, current_status(run) if run is not None else {})
        deletable = run is not None and run != active
        mine = run is not None and may_control(visitor, run)
        return {"start_btn": Interactive(not training and visitor is not None),
                "stop_btn": Interactive(training and may_control(visitor, active)),
                "resume_btn": Interactive(resumable and mine), "delete_btn": Interactive(deletable and mine),
                "controls_why": controls_note(visitor, run, active, resumable, deletable),
                "timer": POLL_SECONDS if training else IDLE_POLL_SECONDS,
                "picker": Choices([LIVE_CHOICE, *run_choices(self.runs_dir)]),
                "command": command_text(self.runs_dir, run) if self.offer_config else "",
                "run_download": Displayed(str(run.config_path) if run and self.offer_config else None,
                                          visible=run is not None and self.offer_config),
                "viewed": run.id if run else "",
                "resume_until": (run_config(run).train.max_steps or None) if run else None,  # 0: nothing to raise
                **({"settings_box": Opened(False)} if training else {})}


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
        refusal = control_refusal(run, " or ".join(actions))
        notes.append(f"**{what} {'is' if len(actions) == 1 else 'are'} off:** {refusal}")
    return "  \n".join(notes)


class TrainActions:
    """The tab's actions for one runs folder. `draft` is the configuration every page starts from;
    `discard_exports(run_id)` drops the UI's copies of a deleted run's exports; `notify(text)` and
    `warn(text)` show a passing note or warning. Hosted (`offer_config` off): no config.yaml downloads or
    command lines, which name server paths."""

    def __init__(self, manager: JobManager, runs_dir: Path, draft: dict, quotas: Quotas, offer_config: bool,
                 discard_exports: Callable[[str], None], notify: Callable[[str], None], warn: Callable[[str], None]):
        self.manager, self.runs_dir, self.draft, self.quotas = manager, runs_dir, draft, quotas
        self.offer_config, self.discard_exports, self.notify, self.warn = offer_config, discard_exports, notify, warn
        self.view = LiveView(manager, runs_dir, offer_config=offer_config)

    def initial_download(self) -> str | None:
        """The config.yaml of the starting draft, to download (None hosted)."""
        return draft_file(self.runs_dir, RunConfig().to_yaml()) if self.offer_config else None

    # --- the draft configuration, shared with the other tabs -------------------------------------
    def prefill(self, values: dict) -> dict:
        """Show the shared draft (`config`) where it changed since this page last showed it (`shown`), in the
        fields of FORM (`values`), with its validation and its config.yaml."""
        merged = values["config"] or self.draft
        updates = field_updates(merged, values["shown"] or self.draft, values)
        cfg = draft_problems(merged)[0]
        shown = {**updates, "validation": validation_markdown(merged), "shown": merged}
        if cfg is None or not self.offer_config:  # unreadable: keep the last readable config.yaml; hosted: none
            return shown
        return {**shown, "draft_yaml": cfg.to_yaml(), "draft_download": draft_file(self.runs_dir, cfg.to_yaml())}

    @staticmethod
    def store_draft(values: dict) -> dict:
        """The fields into the shared draft, which this page then shows as it is (prefill changes no field
        from it: the user may be typing on)."""
        merged = merged_config(values["config"], values)
        return {"config": merged, "shown": merged}

    def load_yaml(self, file: str) -> dict:
        """A whole configuration from a file: it becomes the shared draft (all tabs see it)."""
        try:  # hosted: only the visitor's own paths
            cfg = in_force().check_config(config_from_yaml(Path(file).read_text(encoding="utf-8")))
        except (UserError, OSError, UnicodeDecodeError) as exc:
            self.warn(f"Could not load that file: {exc}")
            return {}
        return {"config": cfg.to_dict(), "action": f"Loaded **{Path(file).name}** into the settings (all tabs)."}

    # --- start, stop, resume, delete --------------------------------------------------------------
    def start(self, visitor: Visitor | None, values: dict) -> dict:
        """A run of the draft with this tab's fields (`values`); `started`, the run this page started. Pressed
        again while that run trains: the first press worked, and its line stays; a note says so."""
        if self.manager.is_training(values["started"]):
            self.notify(f"{values['started']} is already training: your first Start started it.")
            return {}
        try:
            merged = merged_config(values["config"] or self.draft, values)
            run = self.manager.start(config_from_dict(merged), by=visitor, quotas=self.quotas)
        except UserError as exc:
            message = "\n".join(f"- {p}" for p in labelled(getattr(exc, "problems", [str(exc)])))
            self.warn(message)
            return {"action": f"**Could not start:**\n{message}"}
        return {"picker": Choices([LIVE_CHOICE, run.id], value=run.id), "action": f"Started **{run.id}**.",
                "timer": POLL_SECONDS, "started": run.id}

    def stop(self, visitor: Visitor | None) -> dict:
        try:
            run = self.manager.stop(by=visitor)
        except UserError as exc:
            return {"action": f"{exc}"}
        return {"action": f"Stopping **{run.id}**: it saves a checkpoint at its next step, then you can resume it."}

    def resume(self, visitor: Visitor | None, run_id: str, until: int | None) -> dict:
        try:
            longer = resume_overrides(run_config(open_run(self.runs_dir, run_id)), until) if run_id else []
            run = self.manager.resume(run_id, longer, by=visitor)
        except UserError as exc:
            self.warn(str(exc))
            return {"action": f"**Could not resume:** {exc}"}
        return {"picker": run.id, "action": f"Resuming **{run.id}** from its latest checkpoint.",
                "timer": POLL_SECONDS}

    def delete(self, visitor: Visitor | None, run_id: str, armed: str) -> dict:
        """The first press asks for a second one (deleting cannot be undone); the second deletes. `armed`:
        the run whose Delete was pressed once."""
        try:
            if armed != run_id:
                check_control(visitor, open_run(self.runs_dir, run_id), "delete")  # a refusal comes at once
                return {"action": f"Press **Delete** again to delete **{run_id}** and its checkpoints for good.",
                        "delete_armed": run_id}
            self.manager.delete(run_id, by=visitor)
            self.discard_exports(run_id)  # the UI's copies of its export zips go with it
        except UserError as exc:
            self.warn(str(exc))
            return {"action": f"**Not deleted:** {exc}", "delete_armed": ""}
        return {"picker": LIVE, "action": f"Deleted **{run_id}**.", "delete_armed": ""}

    # --- the viewed run's samples, name and notes -------------------------------------------------
    def offer_sample_steps(self, picked: str, step: str) -> dict:
        """The steps of the viewed run's samples, after the view changed (a new round names its count)."""
        run = self.view.resolve(picked)
        choices = sample_step_choices(read_samples(run) if run is not None else [])
        return {"samples_step": Choices(choices, value=step if step in {value for _, value in choices}
                                        else LATEST_SAMPLES)}

    def show_notes(self, visitor: Visitor | None, run_id: str) -> dict:
        run = self.view.resolve(run_id)
        given = read_notes(run) if run is not None else RunNotes()
        mine = run is not None and may_control(visitor, run)
        # No visitor yet: the controls' note already asks for a reload.
        why = "" if run is None or mine or visitor is None else f"**Renaming is off:** {control_refusal(run, 'rename')}"
        return {"display_name": given.name, "run_notes": given.notes, "save_notes": Interactive(mine),
                "notes_said": why}

    def keep_notes(self, visitor: Visitor | None, run_id: str, name: str, notes: str) -> dict:
        try:
            run = open_run(self.runs_dir, run_id)
            check_control(visitor, run, "rename")
            write_notes(run, name, notes)
        except UserError as exc:
            self.warn(str(exc))
            return {"notes_said": f"**Not saved:** {exc}"}
        return {"notes_said": f"Saved the name and notes of **{run.id}**.",
                "picker": Choices([LIVE_CHOICE, *run_choices(self.runs_dir)])}

    # --- comparing runs ---------------------------------------------------------------------------
    def compare_choices(self, chosen: list | None) -> dict:
        """The runs to choose from. The value is sent back only when a chosen run is gone: sent always, it
        overwrote a run picked while this answer was on its way (a click on the box fires it), and a loaded
        machine compared one run of two."""
        choices = run_choices(self.runs_dir)
        ids = {run_id for _, run_id in choices}
        kept = [i for i in chosen or [] if i in ids]
        return {"compare_runs": Choices(choices) if kept == list(chosen or []) else Choices(choices, value=kept)}

    def compare(self, chosen: list | None, x_axis: str) -> dict:
        runs = [open_run(self.runs_dir, run_id) for run_id in chosen or []]
        loss, bpb = (plots.as_figure(plots.comparison_spec(compare_lib.curves(runs, metric, x_axis), metric, x_axis))
                     for metric in COMPARED)
        return {"compare_loss": loss, "compare_bpb": bpb,
                "compare_settings": compare_lib.settings_markdown(runs, [run_label(run) for run in runs])}
