"""The Train tab's layout: training settings, Start / Stop / Resume, and a live view of any run, read from its
folder by a `gr.Timer`'s poll.

What its events do is `ui/train_actions.py` (no Gradio there); this module lays the widgets out, names them
and wires each event to an action. The wired functions keep their names: they are the app's endpoints.
"""

from __future__ import annotations

import functools
from pathlib import Path

import gradio as gr

from clm_gui.config import RunConfig
from clm_gui.jobs.manager import manager_for
from clm_gui.runs.compare import X_AXES
from clm_gui.ui.context import UIContext
from clm_gui.ui.form import Form
from clm_gui.ui.gradio_cache import discard_exports
from clm_gui.ui.progress import quiet_events
from clm_gui.ui.train_actions import (CHARTS, FORM, FREE_TEXT_CHOICES, LATEST_SAMPLES, LIVE, LIVE_CHOICE,
                                      POLL_SECONDS, RUN_COLUMNS, SETTINGS, Setting, TrainActions, gpu_choices,
                                      prompts_text, validation_markdown)
from clm_gui.ui.widgets import by_name, for_gradio, named


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


def build(ctx: UIContext) -> None:
    runs_dir = Path(ctx.settings.runs_dir)
    hosted = ctx.settings.hosted
    draft = ctx.config.value  # the settings every page starts from (read only)
    actions = TrainActions(manager_for(runs_dir), runs_dir, draft, ctx.settings.quotas, offer_config=not hosted,
                           discard_exports=discard_exports, notify=gr.Info, warn=gr.Warning)

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
                                               value=actions.initial_download())
            run_download = gr.DownloadButton("Download the viewed run's config.yaml", visible=False)
    viewed = gr.State("")
    seen = gr.State(None)
    timer = gr.Timer(POLL_SECONDS)
    quiet = quiet_events()
    shown = gr.State(None)  # the draft as this page last showed it
    started = gr.State("")  # the run this page started
    delete_armed = gr.State("")  # the run whose Delete was pressed once
    controls_key = gr.State("")
    form = Form(name=name, **{s.key: field for s, field in zip(SETTINGS, fields)})
    widgets = dict(
        **form.components, config=ctx.config, shown=shown, validation=validation, draft_yaml=draft_yaml,
        draft_download=draft_download, action=action, picker=picker, timer=timer, started=started,
        delete_armed=delete_armed, status=status_md, progress=progress_bar, memorising=memorising,
        **dict(zip(CHARTS, (loss_plot, bpb_plot, lr_plot, speed_plot, mfu_plot, memory_plot))), samples=samples,
        log=log, table=table, controls_key=controls_key, seen=seen, start_btn=start_btn, stop_btn=stop_btn,
        resume_btn=resume_btn, delete_btn=delete_btn, controls_why=controls_why, command=command,
        run_download=run_download, viewed=viewed, resume_until=resume_until, settings_box=settings_box,
        samples_step=samples_step, display_name=display_name, run_notes=run_notes, save_notes=save_notes,
        notes_said=notes_said, compare_runs=compare_runs, compare_loss=compare_loss, compare_bpb=compare_bpb,
        compare_settings=compare_settings)

    changed = functools.partial(named, widgets)  # the widgets of these names, in order

    # --- the draft configuration, shared with the other tabs -------------------------------------
    def prefill(given: dict):
        return for_gradio(actions.prefill(by_name(given, widgets)), widgets)

    def store_draft(given: dict):
        return for_gradio(actions.store_draft(by_name(given, widgets)), widgets)

    gr.on([ctx.config.change], prefill, inputs=form.inputs(ctx.config, shown),
          outputs=changed(*FORM, "validation", "draft_yaml", "draft_download", "shown"), **quiet)
    # always_last: an edit made while the previous one is stored is stored after it (Gradio's default for an
    # input event, "once", drops it), and since every field is read each time, the last store has them all.
    gr.on([form[n].input for n in FORM], store_draft, inputs=form.inputs(ctx.config),
          outputs=changed("config", "shown"), trigger_mode="always_last", **quiet)

    def load_yaml(file):
        return for_gradio(actions.load_yaml(file), widgets)

    upload.upload(load_yaml, inputs=upload, outputs=changed("config", "action"))

    # --- start, stop, resume ----------------------------------------------------------------------
    def start(visitor, given: dict):
        return for_gradio(actions.start(visitor, by_name(given, widgets)), widgets)

    def stop(visitor):
        return for_gradio(actions.stop(visitor), widgets)

    def resume(visitor, run_id, until):
        return for_gradio(actions.resume(visitor, run_id, until), widgets)

    def delete(visitor, run_id, armed):
        return for_gradio(actions.delete(visitor, run_id, armed), widgets)

    visitors = ctx.visitors
    start_btn.click(visitors.bind_by_name(start), inputs=form.inputs(visitors.token, ctx.config, started),
                    outputs=changed("picker", "action", "timer", "started"), concurrency_limit=None)
    stop_btn.click(visitors.bind(stop), inputs=visitors.inputs(), outputs=action, concurrency_limit=None)
    resume_btn.click(visitors.bind(resume), inputs=visitors.inputs(viewed, resume_until),
                     outputs=changed("picker", "action", "timer"), concurrency_limit=None)
    delete_btn.click(visitors.bind(delete), inputs=visitors.inputs(viewed, delete_armed),
                     outputs=changed("picker", "action", "delete_armed"), concurrency_limit=None)

    # --- the live view: polled, and refreshed at once when the page opens or a control changes -----
    def poll(picked, scale, smoothed, step, last_seen):
        return for_gradio(actions.view.poll(picked, scale, smoothed, step, last_seen), widgets)

    outputs = changed("status", "progress", "memorising", *CHARTS, "samples", "log", "table", "controls_key", "seen")
    gr.on([timer.tick, picker.change, log_scale.change, smoothing.release, samples_step.input], poll,
          inputs=[picker, log_scale, smoothing, samples_step, seen], outputs=outputs, **quiet,
          concurrency_limit=None)
    gr.on(None, lambda: None, inputs=None, outputs=None).then(
        poll, inputs=[picker, log_scale, smoothing, samples_step, gr.State(None)], outputs=outputs, **quiet,
        concurrency_limit=None)

    def offer_sample_steps(picked: str, step: str):
        return for_gradio(actions.offer_sample_steps(picked, step), widgets)

    def controls(visitor, picked):
        return for_gradio(actions.view.controls(visitor, picked), widgets)

    samples.change(offer_sample_steps, inputs=[picker, samples_step], outputs=samples_step, **quiet)
    gr.on([controls_key.change, visitors.token.change], visitors.bind(controls), inputs=visitors.inputs(picker),
          outputs=changed("start_btn", "stop_btn", "resume_btn", "delete_btn", "controls_why", "timer", "picker",
                          "command", "run_download", "viewed", "resume_until", "settings_box"),
          **quiet, concurrency_limit=None)

    def pick_row(evt: gr.SelectData):
        return evt.row_value[0]

    table.select(pick_row, outputs=picker)

    # --- the viewed run's name and notes (its owner's to change) ------------------------------------
    def show_notes(visitor, run_id):
        return for_gradio(actions.show_notes(visitor, run_id), widgets)

    def keep_notes(visitor, run_id, name, notes):
        return for_gradio(actions.keep_notes(visitor, run_id, name, notes), widgets)

    gr.on([viewed.change, visitors.token.change], visitors.bind(show_notes), inputs=visitors.inputs(viewed),
          outputs=changed("display_name", "run_notes", "save_notes", "notes_said"), **quiet)
    save_notes.click(visitors.bind(keep_notes), inputs=visitors.inputs(viewed, display_name, run_notes),
                     outputs=changed("notes_said", "picker"), concurrency_limit=None)

    # --- comparing runs ---------------------------------------------------------------------------
    def compare_choices(chosen):
        return for_gradio(actions.compare_choices(chosen), widgets)

    def compare(chosen, x_axis):
        return for_gradio(actions.compare(chosen, x_axis), widgets)

    # The runs to choose from follow the run list (a new run appears there by the poll), and a click on the box.
    gr.on([table.change, compare_runs.focus], compare_choices, inputs=compare_runs, outputs=compare_runs, **quiet)
    compared = changed("compare_loss", "compare_bpb", "compare_settings")
    # always_last: a second run picked while the first pick's charts are drawn must not be dropped (a loaded
    # machine showed one run of two)
    gr.on([compare_runs.change, compare_x.change], compare, inputs=[compare_runs, compare_x], outputs=compared,
          trigger_mode="always_last", **quiet)
    gr.on(None, lambda: None).then(compare_choices, inputs=compare_runs, outputs=compare_runs, **quiet).then(
        compare, inputs=[compare_runs, compare_x], outputs=compared, **quiet)
