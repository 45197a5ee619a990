"""The Playground tab: generate from any run's final model or checkpoint, compare two, export and share."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import gradio as gr
import torch

from clm_gui.config import load_config
from clm_gui.errors import UserError
from clm_gui.hosting.ownership import check_control, control_refusal, may_control
from clm_gui.model.generate import SamplingSettings, generate_stream, load_for_generation
from clm_gui.runs.export import push_to_hub, zip_final
from clm_gui.runs.gguf_export import export_run_gguf
from clm_gui.runs.gguf_outtypes import DEFAULT_OUTTYPE
from clm_gui.runs.folder import WEIGHTS_FILE, RunDir, list_runs, open_run
from clm_gui.runs.model_card import read_model_card
from clm_gui.runs.monitor import model_choices, read_samples
from clm_gui.runs.notes import run_label
from clm_gui.train.evaluation import score_texts
from clm_gui.ui.context import UIContext
from clm_gui.ui.form import Form
from clm_gui.ui.progress import quiet_events
from clm_gui.units import format_bytes

NONE = ""  # "compare with: nothing"
GGUF_TYPES = [("f16 (default)", "f16"), ("q8_0 (about half the size)", "q8_0"), ("bf16", "bf16"),
              ("f32 (exact, largest)", "f32")]
GGUF_HINT = ("*GGUF: one file with the tokenizer inside, for llama.cpp, Ollama and LM Studio; an Ollama Modelfile "
             "comes with it.*")


def runs_with_models(runs_dir: Path) -> list[tuple[str, str]]:
    """(label, id) of the runs that have a model to generate from, labelled by their display names."""
    return [(run_label(run), run.id) for run in list_runs(runs_dir) if model_choices(run)]


def picked_run(runs_dir: Path, run_id: str | None) -> RunDir:
    if not run_id:
        raise UserError("Pick a run first: only runs with a final model or a checkpoint are listed.")
    return open_run(runs_dir, run_id)


def model_folder(runs_dir: Path, run_id: str, label: str) -> Path:
    """The folder behind a model choice, looked up in the run (never a path the page sent)."""
    folders = dict(model_choices(picked_run(runs_dir, run_id)))
    if label not in folders:
        raise UserError(f"The run {run_id} has no model {label!r} (any more); pick another one.")
    return Path(folders[label])


@lru_cache(maxsize=2)  # the two models being compared stay loaded
def _load(folder: str, weights_mtime: float):
    return load_for_generation(folder, "cuda" if torch.cuda.is_available() else "cpu")


def load_model(folder: Path):
    weights = folder / WEIGHTS_FILE
    return _load(str(folder), weights.stat().st_mtime if weights.exists() else 0.0)


def run_prompts(run: RunDir) -> list[str]:
    """The prompts the run sampled from during training (by default its data's own, see clm_gui.data.prompts):
    those of its latest samples, else its configuration's."""
    samples = read_samples(run)
    if samples:
        return [s["prompt"] for s in samples[-1].get("samples", [])]
    try:
        return list(load_config(run.config_path).train.sample_prompts)
    except UserError:
        return []


def card_parts(run: RunDir) -> tuple[str, str]:
    """(card markdown without front matter and image, the loss plot SVG) of a run's final model."""
    return read_model_card(run.final_dir) or (
        "*The model card is written when the run finishes (final/README.md).*", "")


def build(ctx: UIContext) -> None:
    runs_dir = Path(ctx.settings.runs_dir)
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

    # --- choosing a run and a model ---------------------------------------------------------------
    quiet = quiet_events()
    offered = gr.State([])  # the model labels last offered, newest first

    def list_choices(current):
        runs = runs_with_models(runs_dir)
        ids = [run_id for _, run_id in runs]
        return gr.update(choices=runs, value=current if current in ids else (ids[0] if ids else None))

    def model_updates(run_id, current_a=None, current_b=None, shown_before=()):
        """The two model dropdowns and the labels they offer. A choice that still exists stays, except the
        newest model, which follows the newest: a page opened while a run trained offers its final model
        once it ends, and a checkpoint deleted since gives way to the newest model."""
        try:
            labels = [label for label, _ in model_choices(open_run(runs_dir, run_id))] if run_id else []
        except UserError:  # the run was deleted meanwhile
            labels = []
        follow = not shown_before or current_a == shown_before[0]
        a = current_a if current_a in labels and not follow else (labels or [None])[0]
        b = current_b if current_b in labels else NONE
        return gr.update(choices=labels, value=a), gr.update(choices=[("(none)", NONE)] + labels, value=b), labels

    def pick_run(run_id, current_a=None, current_b=None, shown_before=()):
        """The run's models (see model_updates), its card, the export button once it has a final model, and
        the prompts it sampled from."""
        models = model_updates(run_id, current_a, current_b, shown_before)
        if not run_id:
            return *models, "*No trained model yet: train one in the Train tab.*", "", gr.update(visible=False), \
                gr.update(choices=[], value=None)
        run = open_run(runs_dir, run_id)
        text, svg = card_parts(run)
        prompts = run_prompts(run)
        return (*models, text, svg, gr.update(visible=run.has_final_model()),
                gr.update(choices=[(p.replace("\n", "⏎"), p) for p in prompts], value=prompts[0] if prompts else None))

    shown = [model_a, model_b, offered, card, loss_svg, downloads, data_prompts]
    newest = dict(fn=pick_run, inputs=run_pick, outputs=shown, **quiet)
    kept = dict(fn=pick_run, inputs=[run_pick, model_a, model_b, offered], outputs=shown, **quiet)
    # Before a model is used: the dropdowns only (the prompt, perhaps typed, stays as it is).
    current_models = dict(fn=model_updates, inputs=[run_pick, model_a, model_b, offered],
                          outputs=[model_a, model_b, offered], **quiet)
    gr.on(None, lambda: None).then(list_choices, inputs=run_pick, outputs=run_pick, **quiet).then(**newest)
    refresh.click(list_choices, inputs=run_pick, outputs=run_pick, **quiet).then(**newest)
    for opened in (run_pick.focus, ctx.tab.select):  # what the page shows may be older than the runs folder
        opened(list_choices, inputs=run_pick, outputs=run_pick, **quiet).then(**kept)
    run_pick.change(**newest).then(lambda: (gr.update(visible=False),) * 2 + (GGUF_HINT,),
                                   outputs=[zip_file, gguf_files, gguf_msg])
    data_prompts.change(lambda chosen: chosen if chosen is not None else gr.skip(), inputs=data_prompts,
                        outputs=prompt, **quiet)

    # --- generation -------------------------------------------------------------------------------
    asked = Form(run_id=run_pick, label_a=model_a, label_b=model_b, text=prompt, temperature=temperature,
                 top_k=top_k, top_p=top_p, max_new_tokens=max_new, seed=seed)

    def settings_from(v: dict) -> SamplingSettings:
        return SamplingSettings(max_new_tokens=int(v["max_new_tokens"]), temperature=float(v["temperature"]),
                                top_k=int(v["top_k"]), top_p=float(v["top_p"]),
                                seed=int(v["seed"]) if v["seed"] else None)

    def stream(run_id, label, text, settings):
        model, tokenizer = load_model(model_folder(runs_dir, run_id, label))
        yield from generate_stream(model, tokenizer, text, settings)

    def generate_one(given: dict):
        v = asked.values(given)
        try:
            for out in stream(v["run_id"], v["label_a"], v["text"], settings_from(v)):
                yield out, gr.update(visible=False)
        except UserError as exc:
            gr.Warning(str(exc))

    def compare(given: dict):
        v = asked.values(given)
        run_id, label_b, text = v["run_id"], v["label_b"], v["text"]
        try:
            if not label_b:
                raise UserError("Pick a second model under 'Compare with'.")
            settings = settings_from(v)
            first = ""
            for first in stream(run_id, v["label_a"], text, settings):
                yield first, gr.update(visible=True, value="", label=f"Output ({label_b})")
            for second in stream(run_id, label_b, text, settings):
                yield first, gr.update(visible=True, value=second, label=f"Output ({label_b})")
        except UserError as exc:
            gr.Warning(str(exc))

    generate_btn.click(**current_models).then(generate_one, inputs=asked.inputs(), outputs=[out_a, out_b])
    compare_btn.click(**current_models).then(compare, inputs=asked.inputs(), outputs=[out_a, out_b])

    # --- scoring ----------------------------------------------------------------------------------
    def score(run_id, label, text):
        try:
            model, tokenizer = load_model(model_folder(runs_dir, run_id, label))
            result = score_texts(model, tokenizer, [text or ""])
        except UserError as exc:
            return f"**Not scored:** {exc}"
        return (f"**{result.bits_per_byte:.3f} bits per byte** ({result.nats_per_token:.3f} nats per token over "
                f"{result.tokens:,} tokens, {result.bytes:,.0f} bytes) for {label}.")

    score_btn.click(**current_models).then(score, inputs=[run_pick, model_a, score_input], outputs=score_out)

    # --- export: only by whoever may control the run ----------------------------------------------
    def exportable(visitor, run_id) -> RunDir:
        run = picked_run(runs_dir, run_id)
        check_control(visitor, run, "export")
        return run

    def export_controls(visitor, run_id):
        """The export buttons, off with the reason for a visitor who may not export the picked run."""
        try:
            run = open_run(runs_dir, run_id) if run_id else None
        except UserError:  # deleted meanwhile: nothing to export, nothing to explain
            run = None
        allowed = run is None or may_control(visitor, run)
        why = "" if allowed else f"**Export is off:** {control_refusal(run, 'export')}"
        return gr.update(interactive=allowed), gr.update(interactive=allowed), gr.update(interactive=allowed), why

    def make_zip(visitor, run_id):
        try:
            return gr.update(value=str(zip_final(exportable(visitor, run_id))), visible=True)
        except UserError as exc:
            gr.Warning(str(exc))
            return gr.update(visible=False)

    def make_gguf(request: gr.Request, profile: gr.OAuthProfile | None, token, run_id, outtype,
                  progress=gr.Progress()):
        """The run's final model as one GGUF file and its Modelfile, with the bytes written as a progress line."""
        def report(done: int, total: int) -> None:
            progress((done, total), desc=f"Writing the GGUF file: {format_bytes(done)} of {format_bytes(total)}")

        try:
            result = export_run_gguf(exportable(visitors.resolve(request, profile, token), run_id), outtype,
                                     on_progress=report)
        except UserError as exc:
            return gr.update(visible=False), f"**Not exported:** {exc}"
        return (gr.update(value=[str(result.path), str(result.modelfile)], visible=True),
                f"**{format_bytes(result.bytes)}** ({result.outtype}), written in {result.seconds:.1f} s. Download "
                "both files into one folder, then `llama-completion -m FILE.gguf -no-cnv -p \"a prompt\"`, or "
                "`ollama create NAME -f FILE.Modelfile` and `ollama run NAME`.")

    def push(visitor, run_id, repo_id, hf_token, is_private):
        try:
            url = push_to_hub(exportable(visitor, run_id), repo_id, hf_token, is_private)
        except UserError as exc:
            return f"**Not pushed:** {exc}"
        return f"Pushed to [{url}]({url})."

    visitors = ctx.visitors
    gr.on([run_pick.change, visitors.token.change], visitors.bind(export_controls), inputs=visitors.inputs(run_pick),
          outputs=[zip_btn, gguf_btn, push_btn, export_why], **quiet)
    zip_btn.click(visitors.bind(make_zip), inputs=visitors.inputs(run_pick), outputs=zip_file)
    gguf_btn.click(make_gguf, inputs=visitors.inputs(run_pick, gguf_type), outputs=[gguf_files, gguf_msg],
                   show_progress="full", show_progress_on=gguf_msg)
    push_btn.click(visitors.bind(push), inputs=visitors.inputs(run_pick, repo, token, private), outputs=push_msg)
