"""The Quick start tab: a dataset and a time budget; every recommendation accepted; training starts.

The demo path. It calls the library's quick start (`clm_gui.jobs.quickstart.plan_quickstart`, the same as
`python -m clm_gui quickstart`), puts the configuration it made into the shared draft, so that every tab
shows the choices, and starts the run the Train tab then follows. The other tabs are the expert path.
"""

from __future__ import annotations

import html
import gradio as gr

from clm_gui.data.uploads import DATA_SUFFIXES, source_label
from clm_gui.config import DataConfig, RunConfig
from clm_gui.data.sources import check_readable
from clm_gui.errors import UserError
from clm_gui.hosting.access import visitor_folders
from clm_gui.hosting.ownership import require_visitor
from clm_gui.hosting.quotas import check_new_run
from clm_gui.jobs.manager import manager_for
from clm_gui.jobs.quickstart import MIN_MINUTES, QuickstartPlan, check_minutes, plan_quickstart
from clm_gui.ui.context import UIContext
from clm_gui.ui.dataset_tab import import_for_visitor
from clm_gui.ui.train_tab import say_already_started
from clm_gui.units import format_minutes

DEFAULT_MINUTES = 5
# Where each choice can be changed: (choice step, tab id, tab title)
CHANGE_IN = [("Data", "dataset", "Dataset"), ("Tokenizer", "tokenizer", "Tokenizer"), ("Model", "model", "Model"),
             ("Training", "train", "Train")]


def choices_html(planned: QuickstartPlan, run_id: str, label: str) -> str:
    """The choices the quick start made, each with why, as a table (the tabs to change them are below it)."""
    rows = "".join(f"<tr><td><b>{html.escape(c.step)}</b></td><td>{html.escape(c.plain)}</td>"
                   f"<td>{html.escape(c.value)}</td><td>{html.escape(c.why)}</td></tr>" for c in planned.choices)
    return (f'<div class="clm-quick-choices"><p>Training <b>{html.escape(run_id)}</b> on {html.escape(label)} '
            f"with every recommendation accepted (preparing took {planned.seconds_spent:,.0f} s of the budget):</p>"
            f'<table><tr><th>Step</th><th>In plain words</th><th>Choice</th><th>Why, in detail</th></tr>{rows}'
            "</table></div>")


def build(ctx: UIContext) -> None:
    settings = ctx.settings
    manager = manager_for(settings.runs_dir)
    gr.Markdown("## Quick start\nChoose your text and how long to train. Every recommendation is accepted and "
                "training starts; the choices appear below, each with a link to the tab where you can change it. "
                "The other tabs are the expert path.")
    kinds = [("Demo corpus (Python's standard library)", "demo"), ("Upload a file", "upload")]
    if not settings.hosted:
        kinds.append(("A file or folder on this machine", "local"))
    with gr.Row(equal_height=True):
        kind = gr.Radio(kinds, value="demo", label="Text to train on", scale=2, elem_id="quick-kind")
        # No `minimum`: Gradio would refuse a smaller number before the app sees it, with red "Error" marks
        # on every output and a message naming no field; check_minutes says what is wrong instead.
        minutes = gr.Number(DEFAULT_MINUTES, label="Time budget (minutes)", scale=1,
                            info=f"at least {MIN_MINUTES:g}; setup included: the run ends by the clock with its best "
                                 "model",
                            elem_id="quick-minutes")
    files = gr.File(file_count="multiple", label="Your text", file_types=list(DATA_SUFFIXES) + [".zip", ".gz"],
                    visible=False, elem_id="quick-files")
    local_path = gr.Textbox(label="Path", placeholder="/data/my_book.txt", visible=False, elem_id="quick-path")
    uploaded = gr.State("")
    start = gr.Button("Start training", variant="primary", elem_id="quick-start")
    status = gr.Markdown(elem_id="quick-status")
    choices = gr.HTML(elem_id="quick-choices")
    with gr.Row(visible=False) as links:
        buttons = [gr.Button(f"Change the {step.lower()} in the {title} tab", size="sm", elem_id=f"quick-to-{tab}")
                   for step, tab, title in CHANGE_IN]
    watch = gr.Button("Watch it train (Train tab)", variant="primary", visible=False, elem_id="quick-watch")
    # What this page started, kept in the browser: while that run trains, a reload shows it again.
    kept = gr.BrowserState(None, storage_key="clm-gui-quickstart")

    kind.change(lambda k: (gr.update(visible=k == "upload"), gr.update(visible=k == "local")), kind,
                [files, local_path], show_progress="hidden")

    def upload(visitor, paths):
        try:
            result = import_for_visitor(settings, visitor, paths)
            check_readable(DataConfig(source=str(result.folder)))
        except UserError as exc:
            return "", f"⚠️ {exc}"
        return str(result.folder), f"Uploaded: {result.summary()}."

    def chosen_files(visitor, paths):
        """The files in the widget: uploaded, or none once removed (its x), so Start asks for a file again."""
        return upload(visitor, paths) if paths else ("", "")

    visitors = ctx.visitors
    gr.on([files.upload, files.delete, files.clear], visitors.bind(chosen_files), visitors.inputs(files),
          [uploaded, status])

    def source_of(kind_now: str, folder: str, path: str) -> str:
        if kind_now == "demo":
            return "demo"
        if kind_now == "upload":
            if not folder:
                raise UserError("Upload a text file first (.txt, .md, .jsonl, .json, .csv, .parquet or an archive).")
            return folder
        if not (path or "").strip():
            raise UserError("Type the path of a file or folder on this machine first.")
        return path.strip()

    def begin(visitor, kind_now, folder, path, budget, started, progress):
        if manager.is_training(started):
            say_already_started(started)
            return (gr.skip(),) * 8
        try:
            if manager.active_run() is not None:
                raise UserError(f"{manager.active_run().id} is training: one run at a time. Watch or stop it in "
                                "the Train tab.")
            source = source_of(kind_now, folder, path)
            budget = check_minutes(budget)
            visitor = require_visitor(visitor)
            asked = RunConfig()
            asked.train.max_minutes = budget
            check_new_run(settings.quotas, settings.runs_dir, visitor, asked)  # before any profiling or training
            progress(0, desc="Profiling the data")
            planned = plan_quickstart(source, budget, runs_dir=settings.runs_dir,
                                      tokenizers_dir=visitor_folders(settings.runs_dir, visitor).quickstart_tokenizers,
                                      log=lambda message: progress(None, desc=message))
            run = manager.start(planned.config, by=visitor, quotas=settings.quotas)
        except UserError as exc:
            return (f"⚠️ {exc}", *[gr.skip()] * 7)
        shown = choices_html(planned, run.id, source_label(source, settings.runs_dir))
        line = (f"Started **{run.id}**: it trains for at most {format_minutes(planned.config.train.max_minutes)} "
                "more and keeps its best model; then try it in the Playground.")
        page = {"run": run.id, "choices": shown, "status": line, "kind": kind_now, "folder": folder, "path": path,
                "minutes": budget}
        return (line, shown, gr.update(visible=True), gr.update(visible=True), planned.config.to_dict(),
                planned.profile.to_dict(), page, run.id)

    def begin_for_visitor(request: gr.Request, oauth: gr.OAuthProfile | None, token, kind_now, folder, path,
                          budget, started, progress=gr.Progress()):  # as visitors.bind, keeping Gradio's progress
        return begin(visitors.resolve(request, oauth, token), kind_now, folder, path, budget, started, progress)

    started = gr.State("")  # the run this page started
    start.click(begin_for_visitor, visitors.inputs(kind, uploaded, local_path, minutes, started),
                [status, choices, links, watch, ctx.config, ctx.profile, kept, started], concurrency_limit=1)
    for (_, tab, _), button in zip(CHANGE_IN, buttons):
        button.click(lambda tab=tab: gr.Tabs(selected=tab), outputs=ctx.tabs)
    watch.click(lambda: gr.Tabs(selected="train"), outputs=ctx.tabs)
    def reopen(page):
        """A page opened (a reload, a second tab) while the run this browser started trains: the form, the
        line and the choices as they were, and Start knows the run. Once it ended: a fresh form."""
        if not isinstance(page, dict) or not manager.is_training(page.get("run")):
            return (*[gr.skip()] * 6, "", gr.update(visible=False), gr.update(visible=False), "")
        kept_kind, kept_minutes = page.get("kind"), page.get("minutes")  # as the browser sent them
        return (kept_kind if kept_kind in dict(kinds).values() else gr.skip(),
                kept_minutes if isinstance(kept_minutes, (int, float)) else gr.skip(),
                str(page.get("folder") or ""), str(page.get("path") or ""), str(page.get("status") or ""),
                page["run"], str(page.get("choices") or ""), gr.update(visible=True), gr.update(visible=True),
                gr.skip())

    gr.on(None, reopen, inputs=kept, outputs=[kind, minutes, uploaded, local_path, status, started, choices, links,
                                              watch, kept], show_progress="hidden")
