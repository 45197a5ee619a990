"""What the Model tab does, without Gradio: presets and manual fields, the estimate of their memory and time,
the dataset's size, a recommendation from the device, a time budget and the dataset, and Apply.

Each action of `ModelActions` takes the tab's values by name and returns the widgets it changes as
`{name: value}` (`ui/widgets.py`); a widget it leaves out keeps its value. The names are those of `Fields`
and `Target` (the manual fields and the device inputs), and `preset`, `estimate_text`, `memory_plot`,
`dataset_note`, `computed`, `recommendation`, `applied`, `gpu_row`, `shown`, the shared `config` and
`profile`. The tab (`ui/model_tab.py`) lays the widgets out under these names.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, fields as dataclass_fields
from pathlib import Path

from clm_gui.config import (OPTIMIZER_LABELS, DataConfig, ModelConfig, RunConfig, TokenizerConfig, TrainConfig,
                            config_from_dict)
from clm_gui.data.profiling import DatasetProfile
from clm_gui.errors import UserError
from clm_gui.machine import hardware
from clm_gui.model import planner, sizing
from clm_gui.tokenizer.quality import held_out_bytes_per_token
from clm_gui.train.cadence import EVALUATIONS_PER_RUN, describe
from clm_gui.ui import plots
from clm_gui.ui.draft_view import draft_changes
from clm_gui.ui.widgets import Shown
from clm_gui.units import format_minutes

CUSTOM = "custom"
DEVICES = {"This machine (a GPU if there is one)": "auto", "This machine's CPU": "cpu", "A GPU (plan for one)": "cuda"}


@dataclass
class Fields:
    """The manual fields, by the names of the form's components that hold them."""

    family: str
    n_layer: int
    n_embd: int
    n_head: int
    n_kv_head: int
    intermediate_size: int
    context_length: int
    gradient_checkpointing: bool
    micro_batch_size: int
    grad_accum_steps: int
    tokens: int  # 0: compute-optimal
    dropout: float = 0.0  # last, with a default: presets and shapes leave it alone

    def __post_init__(self):
        for name in ("n_layer", "n_embd", "n_head", "n_kv_head", "intermediate_size", "context_length",
                     "micro_batch_size", "grad_accum_steps", "tokens"):
            value = getattr(self, name)
            setattr(self, name, int(value) if value is not None else 0)  # an emptied box reads as None
        self.gradient_checkpointing = bool(self.gradient_checkpointing)
        self.dropout = float(self.dropout or 0.0)

    def model(self) -> ModelConfig:
        return ModelConfig(family=self.family, n_layer=self.n_layer, n_head=self.n_head, n_embd=self.n_embd,
                           n_kv_head=self.n_kv_head, intermediate_size=self.intermediate_size,
                           context_length=self.context_length, dropout=self.dropout,
                           gradient_checkpointing=self.gradient_checkpointing)

    def problems(self) -> list[str]:
        train = TrainConfig(micro_batch_size=self.micro_batch_size, grad_accum_steps=self.grad_accum_steps)
        problems = self.model().validate() + train.validate()
        if self.tokens < 0:
            problems.append("Tokens to train cannot be negative; use 0 for compute-optimal.")
        return problems


@dataclass
class Target:
    """Where the plan is for: the device inputs."""

    device: str
    gpu_memory_gb: float
    gpu_model: str
    gpu_count: int
    minutes: float  # the time budget; 0: none (the token budget alone ends the run)
    dataset_tokens: int

    def problems(self) -> list[str]:
        """Each input below zero, by its label, with what to give instead (Gradio's own minimum would refuse
        it in a message that names no field)."""
        inputs = [("GPU memory (GB)", self.gpu_memory_gb, "0 plans for this machine's free memory"),
                  ("GPUs", self.gpu_count, "0 plans for all visible GPUs"),
                  ("Time budget (minutes)", self.minutes, "0 means no time budget"),
                  ("Dataset tokens", self.dataset_tokens, "0 means unknown")]
        return [f"{label} cannot be negative (it is {value:g}); {fix}." for label, value, fix in inputs
                if (value or 0) < 0]

    def spec(self, runs_dir) -> sizing.DeviceSpec:
        return hardware.planner_device(DEVICES.get(self.device, "auto"), self.gpu_memory_gb or None,
                                       self.gpu_model or None, int(self.gpu_count or 0) or None,
                                       hardware.snapshot(runs_dir))


def _named(kind: type, values: dict):
    """A `Fields` or `Target` of the tab's values by name."""
    return kind(**{f.name: values[f.name] for f in dataclass_fields(kind)})


def vocab_size(config: dict | None) -> int:
    """The tokenizer's vocabulary size from the shared configuration (the Tokenizer tab sets it)."""
    value = (config or {}).get("tokenizer", {}).get("vocab_size") if isinstance(config, dict) else None
    return int(value) if isinstance(value, (int, float)) and value > 0 else TokenizerConfig().vocab_size


def config_fields(config: dict | None) -> dict:
    """The manual fields (by Fields name) and the time budget (`minutes`), as the shared configuration has
    them (a reloaded page, a loaded config.yaml, a quick start); None where it says nothing about one."""
    config = config if isinstance(config, dict) else {}
    model, train = config.get("model") or {}, config.get("train") or {}
    values = {f.name: model.get(f.name) for f in dataclass_fields(Fields)}
    values.update(micro_batch_size=train.get("micro_batch_size"), grad_accum_steps=train.get("grad_accum_steps"),
                  tokens=None if train.get("max_minutes") else train.get("max_tokens"))
    return {**values, "minutes": train.get("max_minutes") or None}


def fields_to_show(values: dict, shown: dict | None) -> dict | None:
    """Of the draft's model settings (`config_fields`), those to write into the fields: the ones that changed
    since the tab last showed or applied them (`draft_changes`), and none the draft says nothing about. A
    field the change does not touch keeps what the user typed, applied or not. None: nothing changed."""
    changed = draft_changes(values, shown)
    return None if changed is None else {name: value for name, value in changed.items() if value is not None}


def plan_markdown(plan: planner.Plan, heading: str) -> str:
    lines = [f"**{heading}**", ""] + [f"- **{label}**: {value}" for label, value in planner.plan_summary(plan)]
    return "\n".join(lines + _notes(plan))


def recommendation_markdown(plan: planner.Plan) -> str:
    """The recommendation's name and notes; its figures are the estimate's, shown once, below."""
    return "\n".join([f"**Recommended: {plan.shape}** ({plan.n_params / 1e6:,.1f}M parameters), filled in on the "
                      "right; its memory, speed and time are in the estimate below. **Apply** to use it."]
                     + _notes(plan))


def _notes(plan: planner.Plan) -> list[str]:
    return ["", "**Notes**", ""] + [f"- {w}" for w in plan.warnings] if plan.warnings else []


def gpu_fields_visible(device_label: str, snap: hardware.HardwareSnapshot) -> bool:
    """The GPU inputs are for planning a GPU: shown when this machine has one or the plan is for one."""
    return DEVICES.get(device_label) == "cuda" or any(not g.error for g in snap.gpus)


def planned_dataset_tokens(kept_profile: dict | None, config: dict | None,
                           measured: dict[str, float | None] | None = None) -> tuple[int, str]:
    """The dataset's training tokens for the planner, from the kept profile and the shared draft: its
    held-out share, and its tokenizer's text per token where the draft names a saved one (as after a
    Quick start, whose count this then repeats). `measured` keeps each tokenizer's measured text per token
    (by tokenizer and data) across calls."""
    cfg = _draft(config)
    measured = {} if measured is None else measured
    per_token = _bytes_per_token(cfg.tokenizer.path, cfg.tokenizer.eos_token, cfg.data, measured) \
        if cfg.tokenizer.path and Path(cfg.tokenizer.path).is_dir() else None
    tokens, how = sizing.dataset_tokens_from_profile(DatasetProfile.from_dict(kept_profile), cfg.data.eval_fraction,
                                                     per_token)
    return tokens or 0, how


def _draft(config: dict | None) -> RunConfig:
    try:
        return config_from_dict(config, check_paths=False) if isinstance(config, dict) else RunConfig()
    except UserError:
        return RunConfig()


def _bytes_per_token(path: str, eos_token: str, data: DataConfig, measured: dict[str, float | None]) -> float | None:
    key = repr((path, eos_token, data))
    if key not in measured:
        try:
            measured[key] = held_out_bytes_per_token(path, eos_token, data)
        except (UserError, OSError, ValueError):  # the tokenizer or the data is gone: guess instead
            measured[key] = None
    return measured[key]


class ModelActions:
    """The tab's actions for one app: this machine's hardware is read once, when the page is built, and each
    tokenizer's text per token is measured once (`planned_dataset_tokens`)."""

    def __init__(self, runs_dir: Path):
        self.runs_dir = runs_dir
        self.snapshot = hardware.snapshot(runs_dir)
        self.measured: dict[str, float | None] = {}

    @staticmethod
    def _read(values: dict) -> tuple[Fields, Target]:
        return _named(Fields, values), _named(Target, values)

    def estimate(self, values: dict) -> dict:
        """The estimate of the fields' memory, speed and time on the target, or what to fix first."""
        fields, target = self._read(values)
        problems = fields.problems() + target.problems()
        if problems:
            return {"estimate_text": "**Fix these settings first:**\n" + "\n".join(f"- {p}" for p in problems),
                    "memory_plot": None}
        try:
            spec = target.spec(self.runs_dir)
        except UserError as exc:
            return {"estimate_text": f"**Cannot estimate:** {exc}", "memory_plot": None}
        plan = planner.estimate(fields.model(), vocab_size(values["config"]), spec, fields.micro_batch_size,
                                fields.grad_accum_steps, fields.tokens, int(target.dataset_tokens or 0) or None)
        over_budget = planner.over_budget_note(plan, target.minutes or 0)
        plan.warnings += [over_budget] if over_budget else []
        heading = f"Estimate for these settings on {spec.count} × {spec.name} ({spec.precision})"
        return {"estimate_text": plan_markdown(plan, heading), "memory_plot": plots.memory_figure(plan)}

    def dataset_size(self, profile: dict | None, config: dict | None, computed: list | None) -> dict:
        """The dataset's size when what it is computed from changed (a new profile, held-out share or
        tokenizer; `computed`, the last one shown), not on every edit of the draft: a figure typed over it stays."""
        value, how = planned_dataset_tokens(profile, config, self.measured)
        if [value, how] == computed:
            return {}
        return {"dataset_tokens": value, "dataset_note": f"Dataset size: {how}.", "computed": [value, how]}

    @staticmethod
    def choose_preset(name: str) -> dict:
        shape = planner.PRESETS.get(name)
        if shape is None:
            return {}
        return {"n_layer": shape.n_layer, "n_embd": shape.n_embd, "n_head": shape.n_head,
                "context_length": shape.context_length}

    @staticmethod
    def show_config(config: dict | None, shown: dict | None) -> dict:
        """The draft's model settings that changed other than by Apply (a reloaded page, a loaded config.yaml,
        a quick start, the batch edited in the Train tab): `fields_to_show`; `shown` becomes the draft's."""
        values = config_fields(config)
        changed = fields_to_show(values, shown)
        return {} if changed is None else {**changed, "shown": values}

    def device_chosen(self, label: str) -> dict:
        return {"gpu_row": Shown(gpu_fields_visible(label, self.snapshot))}

    def recommend(self, values: dict) -> dict:
        """The planner's recommendation for the target, written into the fields (Apply then uses it)."""
        target = _named(Target, values)  # the manual fields are the recommendation's to fill
        if target.problems():
            return {"recommendation": f"**No recommendation:** {' '.join(target.problems())}"}
        try:
            request = planner.PlanRequest(device=target.spec(self.runs_dir), hours=float(target.minutes or 0) / 60,
                                          dataset_tokens=int(target.dataset_tokens or 0) or None,
                                          vocab_size=vocab_size(values["config"]), family=values["family"],
                                          max_context=planner.context_from_profile(
                                              DatasetProfile.from_dict(values["profile"])))
            plan = planner.recommend(request)
        except UserError as exc:
            return {"recommendation": f"**No recommendation:** {exc}"}
        m = plan.model
        return {"recommendation": recommendation_markdown(plan),
                "preset": plan.shape if plan.shape in planner.PRESETS else CUSTOM,
                "n_layer": m.n_layer, "n_embd": m.n_embd, "n_head": m.n_head, "n_kv_head": m.n_kv_head,
                "intermediate_size": m.intermediate_size, "context_length": m.context_length,
                "gradient_checkpointing": m.gradient_checkpointing, "micro_batch_size": plan.micro_batch_size,
                "grad_accum_steps": plan.grad_accum_steps, "tokens": plan.tokens, "dropout": m.dropout}

    def apply(self, values: dict) -> dict:
        """The fields and the time budget into the shared draft (`apply_to_config`), or why not."""
        (fields, target), config = self._read(values), values["config"]
        problems = fields.problems() + target.problems()
        if problems:
            return {"config": config, "applied": "**Not applied:** " + " ".join(problems)}
        try:
            spec = target.spec(self.runs_dir)
        except UserError as exc:
            return {"config": config, "applied": f"**Not applied:** {exc}"}
        updated = apply_to_config(config, fields, spec, float(target.minutes or 0), int(target.dataset_tokens or 0))
        return {"config": updated, "applied": applied_markdown(fields, updated["train"])}


def apply_to_config(config: dict, fields: Fields, device: sizing.DeviceSpec, minutes: float = 0.0,
                    dataset_tokens: int = 0) -> dict:
    """A copy of the shared configuration with these model settings and the training settings that carry
    them out (`planner.train_settings`): the batch, the learning rate for the size, evaluations spread over
    the run and its limits. With a time budget the clock ends the run (and the learning-rate schedule
    follows it), early stopping ending a run that repeats its data past its best; without one, the token
    budget (0: compute-optimal) over `device.count` data-parallel devices.
    """
    updated = copy.deepcopy(config) if isinstance(config, dict) else RunConfig().to_dict()
    model = fields.model()
    updated.setdefault("model", {}).update({k: v for k, v in asdict(model).items() if k != "tie_embeddings"})
    plan = planner.estimate(model, vocab_size(updated), device, fields.micro_batch_size, fields.grad_accum_steps,
                            fields.tokens, dataset_tokens or None)
    updated.setdefault("train", {}).update(planner.train_settings(plan, minutes))
    return updated


def applied_markdown(fields: Fields, train: dict) -> str:
    limit = (f"at most {format_minutes(train['max_minutes'])} (the clock ends the run, setup included)"
             if train["max_minutes"] else f"{train['max_tokens']:,} tokens in {train['max_steps']:,} steps")
    return (f"Applied to the run settings: {fields.n_layer} layers, width {fields.n_embd}, {fields.n_head} heads, "
            f"context {fields.context_length}, dropout {fields.dropout:g}; micro-batch {train['micro_batch_size']} × "
            f"{train['grad_accum_steps']}, {OPTIMIZER_LABELS[train['optimizer']]}, learning rate "
            f"{train['learning_rate']:g}, {limit}; evaluations "
            f"{describe(train['eval_interval'], EVALUATIONS_PER_RUN)}. The Train tab shows them all.")
