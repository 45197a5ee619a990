"""The Playground tab's layout: generate from any run's final model or checkpoint, compare two, export and share.

What its events do is `ui/playground_actions.py` (no Gradio there); this module lays the widgets out, names
them and wires each event to an action. The wired functions keep their names: they are the app's endpoints.
"""

from __future__ import annotations

import functools
from pathlib import Path

import gradio as gr

from clm_gui.model.generate import SamplingSettings
from clm_gui.runs.gguf_outtypes import DEFAULT_OUTTYPE
from clm_gui.ui.context import UIContext
from clm_gui.ui.form import Form
from clm_gui.ui.playground_actions import GGUF_HINT, GGUF_TYPES, NONE, PlaygroundActions
from clm_gui.ui.progress import quiet_events
from clm_gui.ui.widgets import for_gradio, named
from clm_gui.units import format_bytes


def build(ctx: UIContext) -> None:
    actions = PlaygroundActions(Path(ctx.settings.runs_dir), warn=gr.Warning)
    gr.Markdown("## Playground\nTry a trained model: its final version or any checkpoint. "
                "Compare two checkpoints on the same prompt to see what more training changed.")
    with gr.Row(equal_height=True):
        run_pick = gr.Dropdown([], label="Run", scale=3, elem_id="play-run")
        model_a = gr.Dropdown([], label="Model", scale=2, elem_id="play-model")
        model_b = gr.Dropdown([("(none)", NONE)], value=NONE, label="Compare with", scale=2)
        refresh = gr.Button("Refresh runs", scale=1)
    with gr.Row(equal_height=True):
        data_prompts = gr.Dropdown([], label="Prompts from the run's data", scale=1, elem_id="play-data-prompts",
                                   info="the opening words of its held-out text; pick one or type your own")
        prompt = gr.Textbox("", label="Prompt", lines=3, scale=3, elem_id="play-prompt")
    with gr.Row():
        defaults = SamplingSettings()
        temperature = gr.Slider(0.05, 2.0, value=defaults.temperature, step=0.05, label="Temperature")
        top_k = gr.Slider(0, 200, value=defaults.top_k, step=1, label="Top-k (0: off)")
        top_p = gr.Slider(0.05, 1.0, value=defaults.top_p, step=0.05, label="Top-p")
        max_new = gr.Slider(1, 1024, value=defaults.max_new_tokens, step=1, label="Max new tokens")
        seed = gr.Number(0, label="Seed (0: random)", precision=0)
    with gr.Row():
        generate_btn = gr.Button("Generate", variant="primary", elem_id="play-generate")
        compare_btn = gr.Button("Compare side by side")
    with gr.Row():
        out_a = gr.Textbox(label="Output", lines=12, interactive=False, elem_id="play-output")
        out_b = gr.Textbox(label="Output (compared model)", lines=12, interactive=False, visible=False)
    with gr.Accordion("Score a text (bits per byte)", open=False):
        gr.Markdown("Paste text the model never saw: the lower the bits per byte, the better it predicts it. "
                    "Bits per byte do not depend on the tokenizer, so any two models compare fairly.")
        score_input = gr.Textbox(label="Text to score", lines=6, elem_id="play-score-text")
        score_btn = gr.Button("Score", elem_id="play-score")
        score_out = gr.Markdown(elem_id="play-score-result")
    with gr.Accordion("Model card and export", open=False):
        loss_svg = gr.HTML()
        card = gr.Markdown(elem_id="play-card")
        export_why = gr.Markdown(elem_id="play-export-why")
        with gr.Column(visible=False) as downloads:  # once the run has a final model
            with gr.Row():
                zip_btn = gr.Button("Download final/ as a zip", elem_id="play-zip")
                zip_file = gr.File(label="final.zip", visible=False, interactive=False)
            with gr.Row(equal_height=True):
                gguf_type = gr.Dropdown(GGUF_TYPES, value=DEFAULT_OUTTYPE, label="GGUF weights", scale=1,
                                        elem_id="play-gguf-type")
                gguf_btn = gr.Button("GGUF (llama.cpp / Ollama)", scale=1, elem_id="play-gguf")
                gguf_files = gr.File(label="GGUF file and Ollama Modelfile", file_count="multiple", scale=2,
                                     visible=False, interactive=False, elem_id="play-gguf-files")
            gguf_msg = gr.Markdown(GGUF_HINT, elem_id="play-gguf-msg")
        with gr.Row(equal_height=True):
            repo = gr.Textbox(label="Hub repository", placeholder="your-user-name/model-name")
            token = gr.Textbox(label="Hugging Face token (write)", type="password")
            private = gr.Checkbox(True, label="Private")
            push_btn = gr.Button("Push to the Hub", elem_id="play-push")
        push_msg = gr.Markdown()

    offered = gr.State([])  # the model labels last offered, newest first
    widgets = dict(run_pick=run_pick, model_a=model_a, model_b=model_b, offered=offered, data_prompts=data_prompts,
                   prompt=prompt, out_a=out_a, out_b=out_b, score_out=score_out, card=card, loss_svg=loss_svg,
                   downloads=downloads, zip_file=zip_file, gguf_files=gguf_files, gguf_msg=gguf_msg, zip_btn=zip_btn,
                   gguf_btn=gguf_btn, push_btn=push_btn, export_why=export_why, push_msg=push_msg)

    changed = functools.partial(named, widgets)  # the widgets of these names, in order

    # --- choosing a run and a model ---------------------------------------------------------------
    quiet = quiet_events()

    def list_choices(current):
        return for_gradio(actions.list_choices(current), widgets)

    def model_updates(run_id, current_a=None, current_b=None, shown_before=()):
        return for_gradio(actions.model_updates(run_id, current_a, current_b, shown_before), widgets)

    def pick_run(run_id, current_a=None, current_b=None, shown_before=()):
        return for_gradio(actions.pick_run(run_id, current_a, current_b, shown_before), widgets)

    shown = changed("model_a", "model_b", "offered", "card", "loss_svg", "downloads", "data_prompts")
    newest = dict(fn=pick_run, inputs=run_pick, outputs=shown, **quiet)
    kept = dict(fn=pick_run, inputs=[run_pick, model_a, model_b, offered], outputs=shown, **quiet)
    # Before a model is used: the dropdowns only (the prompt, perhaps typed, stays as it is).
    current_models = dict(fn=model_updates, inputs=[run_pick, model_a, model_b, offered],
                          outputs=changed("model_a", "model_b", "offered"), **quiet)
    gr.on(None, lambda: None).then(list_choices, inputs=run_pick, outputs=run_pick, **quiet).then(**newest)
    refresh.click(list_choices, inputs=run_pick, outputs=run_pick, **quiet).then(**newest)
    for opened in (run_pick.focus, ctx.tab.select):  # what the page shows may be older than the runs folder
        opened(list_choices, inputs=run_pick, outputs=run_pick, **quiet).then(**kept)
    run_pick.change(**newest).then(lambda: for_gradio(actions.run_changed(), widgets),
                                   outputs=changed("zip_file", "gguf_files", "gguf_msg"))
    data_prompts.change(lambda chosen: for_gradio(actions.prompt_chosen(chosen), widgets), inputs=data_prompts,
                        outputs=prompt, **quiet)

    # --- generation -------------------------------------------------------------------------------
    asked = Form(run_id=run_pick, label_a=model_a, label_b=model_b, text=prompt, temperature=temperature,
                 top_k=top_k, top_p=top_p, max_new_tokens=max_new, seed=seed)

    def generate_one(given: dict):
        for changes in actions.generate(asked.values(given)):
            yield for_gradio(changes, widgets)

    def compare(given: dict):
        for changes in actions.compare(asked.values(given)):
            yield for_gradio(changes, widgets)

    generate_btn.click(**current_models).then(generate_one, inputs=asked.inputs(), outputs=changed("out_a", "out_b"))
    compare_btn.click(**current_models).then(compare, inputs=asked.inputs(), outputs=changed("out_a", "out_b"))

    # --- scoring ----------------------------------------------------------------------------------
    def score(run_id, label, text):
        return for_gradio(actions.score(run_id, label, text), widgets)

    score_btn.click(**current_models).then(score, inputs=[run_pick, model_a, score_input], outputs=score_out)

    # --- export: only by whoever may control the run ----------------------------------------------
    visitors = ctx.visitors

    def export_controls(visitor, run_id):
        return for_gradio(actions.export_controls(visitor, run_id), widgets)

    def make_zip(visitor, run_id):
        return for_gradio(actions.make_zip(visitor, run_id), widgets)

    def make_gguf(request: gr.Request, profile: gr.OAuthProfile | None, token, run_id, outtype,
                  progress=gr.Progress()):  # as visitors.bind, keeping Gradio's progress
        def report(done: int, total: int) -> None:
            progress((done, total), desc=f"Writing the GGUF file: {format_bytes(done)} of {format_bytes(total)}")

        return for_gradio(actions.make_gguf(visitors.resolve(request, profile, token), run_id, outtype, report),
                          widgets)

    def push(visitor, run_id, repo_id, hf_token, is_private):
        return for_gradio(actions.push(visitor, run_id, repo_id, hf_token, is_private), widgets)

    gr.on([run_pick.change, visitors.token.change], visitors.bind(export_controls), inputs=visitors.inputs(run_pick),
          outputs=changed("zip_btn", "gguf_btn", "push_btn", "export_why"), **quiet)
    zip_btn.click(visitors.bind(make_zip), inputs=visitors.inputs(run_pick), outputs=zip_file)
    gguf_btn.click(make_gguf, inputs=visitors.inputs(run_pick, gguf_type), outputs=changed("gguf_files", "gguf_msg"),
                   show_progress="full", show_progress_on=gguf_msg)
    push_btn.click(visitors.bind(push), inputs=visitors.inputs(run_pick, repo, token, private), outputs=push_msg)
