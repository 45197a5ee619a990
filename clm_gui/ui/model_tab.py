"""The Model tab: presets and manual fields, the memory breakdown against free memory, the time estimate,
and a recommendation from the device, a time budget and the dataset's size, applied with one click."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, fields as dataclass_fields
from pathlib import Path

import gradio as gr

from clm_gui.config import FAMILIES, DataConfig, ModelConfig, RunConfig, TokenizerConfig, TrainConfig, config_from_dict
from clm_gui.data.profiling import DatasetProfile
from clm_gui.errors import UserError
from clm_gui.machine import hardware
from clm_gui.model import planner, sizing
from clm_gui.tokenizer.quality import held_out_bytes_per_token
from clm_gui.train.cadence import EVALUATIONS_PER_RUN, describe
from clm_gui.ui import plots
from clm_gui.ui.context import UIContext
from clm_gui.ui.draft_view import draft_changes
from clm_gui.ui.form import Form
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


def planned_dataset_tokens(kept_profile: dict | None, config: dict | None) -> tuple[int, str]:
    """The dataset's training tokens for the planner, from the kept profile and the shared draft: its
    held-out share, and its tokenizer's text per token where the draft names a saved one (as after a
    Quick start, whose count this then repeats)."""
    cfg = _draft(config)
    measured = _bytes_per_token(cfg.tokenizer.path, cfg.tokenizer.eos_token, cfg.data) \
        if cfg.tokenizer.path and Path(cfg.tokenizer.path).is_dir() else None
    tokens, how = sizing.dataset_tokens_from_profile(DatasetProfile.from_dict(kept_profile), cfg.data.eval_fraction,
                                                     measured)
    return tokens or 0, how


def _draft(config: dict | None) -> RunConfig:
    try:
        return config_from_dict(config, check_paths=False) if isinstance(config, dict) else RunConfig()
    except UserError:
        return RunConfig()


_MEASURED: dict[str, float | None] = {}  # bytes per token by (tokenizer, data): measured once a page session


def _bytes_per_token(path: str, eos_token: str, data: DataConfig) -> float | None:
    key = repr((path, eos_token, data))
    if key not in _MEASURED:
        try:
            _MEASURED[key] = held_out_bytes_per_token(path, eos_token, data)
        except (UserError, OSError, ValueError):  # the tokenizer or the data is gone: guess instead
            _MEASURED[key] = None
    return _MEASURED[key]


def build(ctx: UIContext) -> None:
    gr.Markdown("## Model\nPick a size by hand or let the planner recommend one from your device, your time "
                "budget and your dataset. Every figure below is an estimate from tested formulas "
                "(parameters are exact).")
    with gr.Row():
        with gr.Column(scale=1):
            gr.Markdown("### Plan for")
            device = gr.Dropdown(list(DEVICES), value=next(iter(DEVICES)), label="Device", elem_id="model-device")
            snap = hardware.snapshot(ctx.settings.runs_dir)
            with gr.Row(visible=gpu_fields_visible(next(iter(DEVICES)), snap)) as gpu_row:
                gpu_memory = gr.Number(0, label="GPU memory (GB)", info="0: this machine's free memory")
                gpu_model = gr.Dropdown([""] + list(hardware.PEAKS), value="", label="GPU model",
                                        info="empty: this machine's")
                gpu_count = gr.Number(0, label="GPUs", precision=0, info="0: all visible")
            minutes = gr.Number(60, label="Time budget (minutes)", elem_id="model-minutes",
                                info="Apply makes it the run's time limit: the run ends by the clock, setup included")
            dataset_tokens = gr.Number(0, label="Dataset tokens", precision=0,
                                       info="from the Dataset tab's profile; 0: unknown")
            dataset_note = gr.Markdown(elem_id="model-dataset-note")
            recommend = gr.Button("Recommend", variant="primary", elem_id="model-recommend")
            recommendation = gr.Markdown(elem_id="model-recommendation")
        with gr.Column(scale=1):
            gr.Markdown("### Model settings")
            preset = gr.Dropdown([CUSTOM] + list(planner.PRESETS), value=CUSTOM, label="Preset", elem_id="model-preset")
            defaults = ModelConfig()
            family = gr.Radio(list(FAMILIES), value=defaults.family, label="Family")
            with gr.Row():
                n_layer = gr.Number(defaults.n_layer, label="Layers", precision=0, elem_id="model-layers")
                n_embd = gr.Number(defaults.n_embd, label="Width", precision=0)
                n_head = gr.Number(defaults.n_head, label="Heads", precision=0)
            with gr.Row():
                n_kv_head = gr.Number(defaults.n_kv_head, label="KV heads (llama)", precision=0, info="0: = heads")
                intermediate = gr.Number(defaults.intermediate_size, label="MLP width", precision=0,
                                         info="0: family default")
                context = gr.Number(defaults.context_length, label="Context", precision=0)
            with gr.Row(equal_height=True):
                dropout = gr.Number(defaults.dropout, label="Dropout", step=0.05,
                                    info="0: none; 0.1-0.2 when a small corpus is seen many times",
                                    elem_id="model-dropout")
                checkpointing = gr.Checkbox(False, label="Activation checkpointing (less memory, ~33% more compute)")
            train_defaults = TrainConfig()
            with gr.Row():
                micro_batch = gr.Number(train_defaults.micro_batch_size, label="Micro-batch", precision=0)
                grad_accum = gr.Number(train_defaults.grad_accum_steps, label="Accumulation", precision=0)
                tokens = gr.Number(0, label="Tokens to train", precision=0, info="0: compute-optimal")
            apply = gr.Button("Apply to run settings", variant="primary", elem_id="model-apply")
            applied = gr.Markdown(elem_id="model-applied")
    estimate_text = gr.Markdown(elem_id="model-estimate")
    memory_plot = gr.Plot(label="Memory", elem_id="model-memory-plot")

    field_form = Form(family=family, n_layer=n_layer, n_embd=n_embd, n_head=n_head, n_kv_head=n_kv_head,
                      intermediate_size=intermediate, context_length=context, gradient_checkpointing=checkpointing,
                      micro_batch_size=micro_batch, grad_accum_steps=grad_accum, tokens=tokens, dropout=dropout)
    target_form = Form(device=device, gpu_memory_gb=gpu_memory, gpu_model=gpu_model, gpu_count=gpu_count,
                       minutes=minutes, dataset_tokens=dataset_tokens)
    planned = field_form.inputs() | target_form.inputs(ctx.config)  # what an estimate and Apply read

    def read(given: dict) -> tuple[Fields, Target]:
        return Fields(**field_form.values(given)), Target(**target_form.values(given))

    def estimate(given: dict):
        (fields, target), config = read(given), given[ctx.config]
        problems = fields.problems() + target.problems()
        if problems:
            return "**Fix these settings first:**\n" + "\n".join(f"- {p}" for p in problems), None
        try:
            spec = target.spec(ctx.settings.runs_dir)
        except UserError as exc:
            return f"**Cannot estimate:** {exc}", None
        plan = planner.estimate(fields.model(), vocab_size(config), spec, fields.micro_batch_size,
                                fields.grad_accum_steps, fields.tokens, int(target.dataset_tokens or 0) or None)
        over_budget = planner.over_budget_note(plan, target.minutes or 0)
        plan.warnings += [over_budget] if over_budget else []
        heading = f"Estimate for these settings on {spec.count} × {spec.name} ({spec.precision})"
        return plan_markdown(plan, heading), plots.memory_figure(plan)

    gr.on(triggers=None, fn=estimate, inputs=planned,
          outputs=[estimate_text, memory_plot], show_progress="hidden")

    def from_profile(profile, config, shown):
        """The dataset's size when what it is computed from changed (a new profile, held-out share or
        tokenizer), not on every edit of the draft: a figure typed over it stays."""
        value, how = planned_dataset_tokens(profile, config)
        if [value, how] == shown:
            return gr.skip(), gr.skip(), gr.skip()
        return value, f"Dataset size: {how}.", [value, how]

    computed = gr.State(None)
    gr.on(triggers=None, fn=from_profile, inputs=[ctx.profile, ctx.config, computed],
          outputs=[dataset_tokens, dataset_note, computed], show_progress="hidden")

    def choose_preset(name):
        shape = planner.PRESETS.get(name)
        if shape is None:
            return [gr.update()] * 4
        return shape.n_layer, shape.n_embd, shape.n_head, shape.context_length

    preset.input(choose_preset, inputs=preset, outputs=[n_layer, n_embd, n_head, context])
    for shape_field in (n_layer, n_embd, n_head, context):  # edited by hand: no longer the preset
        shape_field.input(lambda: CUSTOM, outputs=preset, show_progress="hidden")

    def show_config(config, shown):
        """The draft's model settings that changed other than by Apply (a reloaded page, a loaded config.yaml,
        a quick start, the batch edited in the Train tab): `fields_to_show`."""
        values = config_fields(config)
        changed = fields_to_show(values, shown)
        if changed is None:
            return [gr.skip()] * (len(values) + 1)
        return [changed.get(name, gr.skip()) for name in values] + [values]

    shown = gr.State(config_fields(RunConfig().to_dict()))
    shown_fields = [field_form[name] if name in field_form.components else target_form[name]
                    for name in config_fields(None)]  # the outputs of show_config, in config_fields' order
    ctx.config.change(show_config, inputs=[ctx.config, shown], outputs=[*shown_fields, shown],
                      show_progress="hidden")

    device.change(lambda label: gr.update(visible=gpu_fields_visible(label, snap)), inputs=device, outputs=gpu_row,
                  show_progress="hidden")

    def run_recommendation(given: dict):
        fam, config = given[family], given[ctx.config]
        target, profile = Target(**target_form.values(given)), DatasetProfile.from_dict(given[ctx.profile])
        if target.problems():
            return [f"**No recommendation:** {' '.join(target.problems())}"] + [gr.update()] * (len(recommended) - 1)
        try:
            request = planner.PlanRequest(device=target.spec(ctx.settings.runs_dir),
                                          hours=float(target.minutes or 0) / 60,
                                          dataset_tokens=int(target.dataset_tokens or 0) or None,
                                          vocab_size=vocab_size(config), family=fam,
                                          max_context=planner.context_from_profile(profile))
            plan = planner.recommend(request)
        except UserError as exc:
            return [f"**No recommendation:** {exc}"] + [gr.update()] * (len(recommended) - 1)
        m = plan.model
        return [recommendation_markdown(plan), plan.shape if plan.shape in planner.PRESETS else CUSTOM,
                m.n_layer, m.n_embd, m.n_head, m.n_kv_head, m.intermediate_size, m.context_length,
                m.gradient_checkpointing, plan.micro_batch_size, plan.grad_accum_steps, plan.tokens, m.dropout]

    recommended = [recommendation, preset, n_layer, n_embd, n_head, n_kv_head, intermediate, context, checkpointing,
                   micro_batch, grad_accum, tokens, dropout]  # the order run_recommendation returns
    recommend.click(run_recommendation, inputs=target_form.inputs(family, ctx.config, ctx.profile),
                    outputs=recommended)

    def apply_fields(given: dict):
        (fields, target), config = read(given), given[ctx.config]
        problems = fields.problems() + target.problems()
        if problems:
            return config, "**Not applied:** " + " ".join(problems)
        try:
            spec = target.spec(ctx.settings.runs_dir)
        except UserError as exc:
            return config, f"**Not applied:** {exc}"
        updated = apply_to_config(config, fields, spec, float(target.minutes or 0), int(target.dataset_tokens or 0))
        return updated, applied_markdown(fields, updated["train"])

    apply.click(apply_fields, inputs=planned, outputs=[ctx.config, applied])


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
            f"{train['grad_accum_steps']}, learning rate {train['learning_rate']:g}, {limit}; evaluations "
            f"{describe(train['eval_interval'], EVALUATIONS_PER_RUN)}. The Train tab shows them all.")
