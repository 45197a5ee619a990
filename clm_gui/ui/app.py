"""build_app(): the Blocks with one tab per step of the journey."""

from __future__ import annotations

import gradio as gr

from clm_gui.config import RunConfig
from clm_gui.settings import AppSettings
from clm_gui.ui.context import UIContext

INTRO = (
    "# clm-gui\n"
    "Train a GPT-style language model **from scratch**: check the hardware, pick and profile a dataset, "
    "choose or train a tokenizer, size the model, train it while the loss curve updates live, then try it."
)


def build_app(settings: AppSettings) -> gr.Blocks:
    with gr.Blocks(title="clm-gui") as demo:
        gr.Markdown(INTRO)
        ctx = UIContext(settings=settings, config=gr.State(RunConfig().to_dict()), profile=gr.State(None))
        with gr.Tabs():
            for title, module in _tabs():
                with gr.Tab(title, id=title.lower()):
                    module.build(ctx)
    return demo


def _tabs():
    from clm_gui.ui import tabs

    return tabs.ALL


def launch(settings: AppSettings) -> None:
    """Serve the app. Binds to 127.0.0.1 unless told otherwise; never creates a public share link."""
    settings.runs_dir.mkdir(parents=True, exist_ok=True)
    demo = build_app(settings)
    demo.queue(default_concurrency_limit=4)
    demo.launch(
        server_name=settings.host,
        server_port=settings.port,
        auth=settings.auth,
        share=False,
        max_file_size=f"{settings.max_upload_mb}mb",
        allowed_paths=[str(settings.runs_dir.resolve())],
        show_error=False,
    )
