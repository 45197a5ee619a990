"""build_app(): the Blocks with one tab per step of the journey."""

from __future__ import annotations

import os

import gradio as gr

from clm_gui.config import RunConfig, load_config
from clm_gui.data.profiling import DatasetProfile
from clm_gui.errors import UserError
from clm_gui.hosting.settings import AppSettings
from clm_gui.jobs.manager import manager_for
from clm_gui.runs.folder import RunDir
from clm_gui.security import LOCAL, AccessPolicy
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
# Gradio keeps every upload (also one posted by a script with no page, or one the app refused) and every
# file the app hands a page (config downloads, export zips) in its cache. Every 15 minutes, what is older
# than an hour goes: the app copies an upload out at once, and a download is fetched when it is offered.
DELETE_CACHE = (15 * 60, 60 * 60)  # (how often, older than), seconds
# The page's own styles. The four small Train-tab charts are a quarter row wide: plotly's toolbar would sit
# on their titles, so they have none (drag still zooms, a double click resets). Sample texts wrap: they
# are Markdown code blocks, which otherwise keep a long line on one line behind a scroll bar. The upload
# widgets' own size figure counts in 1024s; the status beside them states the size (units.format_bytes).
PAGE_CSS = """
.clm-small-chart .modebar-container { display: none !important; }
#train-samples pre, #train-samples pre code { white-space: pre-wrap !important; overflow-wrap: anywhere; }
#dataset-files .file-preview .download, #quick-files .file-preview .download { display: none; }
"""


def build_app(settings: AppSettings) -> gr.Blocks:
    for name, value in GRADIO_ENV_DEFAULTS.items():
        os.environ.setdefault(name, value)
    with gr.Blocks(title="clm-gui", delete_cache=DELETE_CACHE) as demo:
        gr.Markdown(INTRO)
        ctx = UIContext(settings=settings, config=gr.State(starting_config(settings)),
                        profile=gr.State(None), visitors=Visitors(settings))
        with gr.Tabs() as ctx.tabs:
            for title, module in _tabs():
                with gr.Tab(title, id=tab_id(title)) as ctx.tab:
                    module.build(ctx)
        ctx.visitors.mint_on_load(demo)
        _keep_across_reloads(ctx, demo)
        ctx.visitors.enforce_on_every_event(demo)
    return demo


def starting_config(settings: AppSettings) -> dict:
    """The draft every page starts from (RunConfig.to_dict()), within the hosted time limit."""
    return within_time_limit(settings, RunConfig().to_dict())


def within_time_limit(settings: AppSettings, draft: dict) -> dict:
    """Hosted, a run must end within the training time limit, so a draft without a time limit, or past it
    (the defaults, a kept draft, a live run's settings), starts at the limit rather than at what Start
    would refuse."""
    limit = settings.quotas.max_train_minutes
    minutes = (draft.get("train") or {}).get("max_minutes") or 0
    if settings.hosted and not 0 < minutes <= limit:
        draft = {**draft, "train": {**draft.get("train", {}), "max_minutes": limit}}
    return draft


def tab_id(title: str) -> str:
    return title.lower().replace(" ", "-")


def _keep_across_reloads(ctx: UIContext, demo: gr.Blocks) -> None:
    """Every tab's choices survive a page reload: the draft and the profile are kept in the browser
    (localStorage), and a page opened while a run trains shows that run's settings instead."""
    saved = gr.BrowserState(None, storage_key=BROWSER_STORAGE_KEY)
    manager = manager_for(ctx.settings.runs_dir)

    def restore(request: gr.Request, kept, token):
        policy = ctx.visitors.policy_of(ctx.visitors.resolve(request, None, token))
        draft, profile = draft_on_load(kept, manager.active_run(), starting_config(ctx.settings), policy)
        return within_time_limit(ctx.settings, draft), profile

    demo.load(restore, inputs=[saved, ctx.visitors.token], outputs=[ctx.config, ctx.profile], show_progress="hidden")
    gr.on([ctx.config.change, ctx.profile.change], lambda config, profile: {"config": config, "profile": profile},
          inputs=[ctx.config, ctx.profile], outputs=saved, show_progress="hidden")


BROWSER_STORAGE_KEY = "clm-gui-draft"


def draft_on_load(kept: dict | None, live: RunDir | None, default: dict,
                  policy: AccessPolicy = LOCAL) -> tuple[dict, dict | None]:
    """(draft, profile) for a page that opens: the live run's configuration while one trains (the page
    then shows what is training, not what was typed before), else what this browser kept, else `default`.
    The kept profile stays only while it describes the draft's source. Hosted, a draft that names a path
    the visitor may not read (someone else's upload, a server file: whatever the browser sent) is not
    taken: the page starts from `default`."""
    kept = kept if isinstance(kept, dict) else {}
    config, profile = kept.get("config"), kept.get("profile")
    if live is not None:
        try:
            config = load_config(live.config_path).to_dict()
        except UserError:
            pass
    if not isinstance(config, dict) or policy.draft_problems(config):
        return default, None
    source = (config.get("data") or {}).get("source")
    profile = DatasetProfile.from_dict(profile)
    return config, profile.to_dict() if profile and profile.source == source else None


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
        css=PAGE_CSS,
        max_file_size=f"{settings.max_upload_mb}mb",
        allowed_paths=[str(runs_dir)],
        show_error=False,
        ssr_mode=False,
        num_workers=0,
        app_kwargs={"middleware": [Middleware(FileRouteGuard, runs_dir=runs_dir)]},
    )


def launch(settings: AppSettings) -> None:
    """Serve the app until it is stopped. Gradio's own start-up lines stay quiet: among them is "To create
    a public link, set `share=True`", advice this app never takes; it says where it listens instead."""
    settings.runs_dir.mkdir(parents=True, exist_ok=True)
    demo = build_app(settings)
    demo.queue(default_concurrency_limit=4)
    demo.launch(**launch_options(settings), quiet=True, prevent_thread_lock=True)
    print(listening_line(settings, demo.local_url), flush=True)
    demo.block_thread()


def listening_line(settings: AppSettings, url: str) -> str:
    reach = {"127.0.0.1": "this machine only", "localhost": "this machine only",
             "0.0.0.0": "every address of this machine"}.get(settings.host, f"address {settings.host}")
    mode = "hosted mode" if settings.hosted else "local mode"
    return f"clm-gui is running on {url} ({reach}, {mode}; no public link). Ctrl-C stops it."
