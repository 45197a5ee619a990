"""build_app(): the Blocks with one tab per step of the journey."""

from __future__ import annotations

import os

import gradio as gr

from clm_gui.config import RunConfig
from clm_gui.settings import AppSettings
from clm_gui.ui.context import UIContext
from clm_gui.ui.visitor import Visitors

INTRO = (
    "# clm-gui\n"
    "Train a GPT-style language model **from scratch**: check the hardware, pick and profile a dataset, "
    "choose or train a tokenizer, size the model, train it while the loss curve updates live, then try it."
)


# Gradio summarises its log of past events (a pandas DataFrame of up to 10,000 of them) after every event,
# for its /monitoring page: about 25 ms of CPU per poll, for every open page, every 2 s. Once per
# thousand events over the last two thousand is plenty. Read when the queue is created (demo.queue()).
GRADIO_ENV_DEFAULTS = {"GRADIO_ANALYTICS_CACHE_FREQUENCY": "1000", "GRADIO_ANALYTICS_MAX_EVENTS": "2000"}


def build_app(settings: AppSettings) -> gr.Blocks:
    for name, value in GRADIO_ENV_DEFAULTS.items():
        os.environ.setdefault(name, value)
    with gr.Blocks(title="clm-gui") as demo:
        gr.Markdown(INTRO)
        ctx = UIContext(settings=settings, config=gr.State(starting_config(settings).to_dict()),
                        profile=gr.State(None), visitors=Visitors(settings))
        with gr.Tabs():
            for title, module in _tabs():
                with gr.Tab(title, id=title.lower()):
                    module.build(ctx)
        ctx.visitors.mint_on_load(demo)
    return demo


def starting_config(settings: AppSettings) -> RunConfig:
    """The settings every page starts from. Hosted, a run must end within the training time limit, so
    the time limit starts there rather than at "none", which Start would refuse."""
    cfg = RunConfig()
    if settings.hosted:
        cfg.train.max_minutes = settings.quotas.max_train_minutes
    return cfg


def _tabs():
    from clm_gui.ui import tabs

    return tabs.ALL


def launch_options(settings: AppSettings) -> dict:
    """The keyword arguments of `demo.launch` for these settings (the tests serve the app with them too).

    Binds to 127.0.0.1 unless told otherwise and never creates a public share link. The runs folder is
    in `allowed_paths` so that Gradio accepts the files the app hands the page from it (config downloads,
    export zips), and `FileRouteGuard` narrows what Gradio's file routes then serve from it to run exports.
    Server-side rendering and static file workers stay off: both would answer file requests in other
    processes, past the guard.
    """
    from starlette.middleware import Middleware

    from clm_gui.ui.file_guard import FileRouteGuard

    runs_dir = settings.runs_dir.resolve()
    return dict(
        server_name=settings.host,
        server_port=settings.port,
        auth=settings.auth,
        share=False,
        max_file_size=f"{settings.max_upload_mb}mb",
        allowed_paths=[str(runs_dir)],
        show_error=False,
        ssr_mode=False,
        num_workers=0,
        app_kwargs={"middleware": [Middleware(FileRouteGuard, runs_dir=runs_dir)]},
    )


def launch(settings: AppSettings) -> None:
    """Serve the app until it is stopped."""
    settings.runs_dir.mkdir(parents=True, exist_ok=True)
    demo = build_app(settings)
    demo.queue(default_concurrency_limit=4)
    demo.launch(**launch_options(settings))
