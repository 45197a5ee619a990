"""The Model tab's layout: presets and manual fields, the memory breakdown against free memory, the time
estimate, and a recommendation from the device, a time budget and the dataset's size, applied with one click.

What its events do is `ui/model_actions.py` (no Gradio there); this module lays the widgets out, names them
and wires each event to an action. The wired functions keep their names: they are the app's endpoints.
"""

from __future__ import annotations

import functools
from pathlib import Path

import gradio as gr

from clm_gui.config import FAMILIES, ModelConfig, RunConfig, TrainConfig
from clm_gui.machine import hardware
from clm_gui.model import planner
from clm_gui.ui.context import UIContext
from clm_gui.ui.form import Form
from clm_gui.ui.model_actions import CUSTOM, DEVICES, ModelActions, config_fields, gpu_fields_visible
from clm_gui.ui.widgets import by_name, for_gradio, named


def build(ctx: UIContext) -> None:
    actions = ModelActions(Path(ctx.settings.runs_dir))
    gr.Markdown("## Model\nPick a size by hand or let the planner recommend one from your device, your time "
                "budget and your dataset. Every figure below is an estimate from tested formulas "
                "(parameters are exact).")
    with gr.Row():
        with gr.Column(scale=1):
            gr.Markdown("### Plan for")
            device = gr.Dropdown(list(DEVICES), value=next(iter(DEVICES)), label="Device", elem_id="model-device")
            with gr.Row(visible=gpu_fields_visible(next(iter(DEVICES)), actions.snapshot)) as gpu_row:
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
    computed = gr.State(None)  # the dataset size last computed, [tokens, how]
    shown = gr.State(config_fields(RunConfig().to_dict()))  # the draft's model settings as last shown
    widgets = dict(**field_form.components, **target_form.components, preset=preset, estimate_text=estimate_text,
                   memory_plot=memory_plot, dataset_note=dataset_note, computed=computed, recommendation=recommendation,
                   applied=applied, gpu_row=gpu_row, shown=shown, config=ctx.config, profile=ctx.profile)

    changed = functools.partial(named, widgets)  # the widgets of these names, in order

    planned = field_form.inputs() | target_form.inputs(ctx.config)  # what an estimate and Apply read

    def estimate(given: dict):
        return for_gradio(actions.estimate(by_name(given, widgets)), widgets)

    gr.on(triggers=None, fn=estimate, inputs=planned, outputs=changed("estimate_text", "memory_plot"),
          show_progress="hidden")

    def from_profile(profile, config, last):
        return for_gradio(actions.dataset_size(profile, config, last), widgets)

    gr.on(triggers=None, fn=from_profile, inputs=changed("profile", "config", "computed"),
          outputs=changed("dataset_tokens", "dataset_note", "computed"), show_progress="hidden")

    def choose_preset(name):
        return for_gradio(actions.choose_preset(name), widgets)

    preset.input(choose_preset, inputs=preset, outputs=changed("n_layer", "n_embd", "n_head", "context_length"))
    for shape_field in (n_layer, n_embd, n_head, context):  # edited by hand: no longer the preset
        shape_field.input(lambda: CUSTOM, outputs=preset, show_progress="hidden")

    def show_config(config, last_shown):
        return for_gradio(actions.show_config(config, last_shown), widgets)

    ctx.config.change(show_config, inputs=changed("config", "shown"),
                      outputs=changed(*config_fields(None), "shown"), show_progress="hidden")
    device.change(lambda label: for_gradio(actions.device_chosen(label), widgets), inputs=device, outputs=gpu_row,
                  show_progress="hidden")

    def run_recommendation(given: dict):
        return for_gradio(actions.recommend(by_name(given, widgets)), widgets)

    recommend.click(run_recommendation, inputs=target_form.inputs(family, ctx.config, ctx.profile),
                    outputs=changed("recommendation", "preset", "n_layer", "n_embd", "n_head", "n_kv_head",
                                    "intermediate_size", "context_length", "gradient_checkpointing",
                                    "micro_batch_size", "grad_accum_steps", "tokens", "dropout"))

    def apply_fields(given: dict):
        return for_gradio(actions.apply(by_name(given, widgets)), widgets)

    apply.click(apply_fields, inputs=planned, outputs=changed("config", "applied"))
