"""The Quick start tab's layout: a dataset and a time budget; every recommendation accepted; training starts.

The demo path. What its buttons do is `ui/quickstart_actions.py` (no Gradio there); this module lays the
widgets out, names them and wires each event to an action. The other tabs are the expert path.
"""

from __future__ import annotations

import functools

import gradio as gr

from clm_gui.data.uploads import DATA_SUFFIXES
from clm_gui.jobs.manager import manager_for
from clm_gui.jobs.quickstart import MIN_MINUTES
from clm_gui.ui.context import UIContext
from clm_gui.ui.gradio_cache import import_for_visitor
from clm_gui.ui.quickstart_actions import CHANGE_IN, DEFAULT_MINUTES, QuickStartActions
from clm_gui.ui.widgets import for_gradio, named


def build(ctx: UIContext) -> None:
    settings, visitors = ctx.settings, ctx.visitors
    actions = QuickStartActions(settings, manager_for(settings.runs_dir),
                                import_upload=lambda visitor, paths: import_for_visitor(settings, visitor, paths),
                                notify=gr.Info)
    gr.Markdown("## Quick start\nChoose your text and how long to train. Every recommendation is accepted and "
                "training starts; the choices appear below, each with a link to the tab where you can change it. "
                "The other tabs are the expert path.")
    with gr.Row(equal_height=True):
        kind = gr.Radio(actions.kinds, value="demo", label="Text to train on", scale=2, elem_id="quick-kind")
        # No `minimum`: Gradio would refuse a smaller number before the app sees it, with red "Error" marks
        # on every output and a message naming no field; check_minutes says what is wrong instead.
        minutes = gr.Number(DEFAULT_MINUTES, label="Time budget (minutes)", scale=1,
                            info=f"at least {MIN_MINUTES:g}; setup included: the run ends by the clock with its best "
                                 "model",
                            elem_id="quick-minutes")
    files = gr.File(file_count="multiple", label="Your text", file_types=list(DATA_SUFFIXES) + [".zip", ".gz"],
                    visible=False, elem_id="quick-files")
    local_path = gr.Textbox(label="Path", placeholder="/data/my_book.txt", visible=False, elem_id="quick-path")
    start = gr.Button("Start training", variant="primary", elem_id="quick-start")
    status = gr.Markdown(elem_id="quick-status")
    choices = gr.HTML(elem_id="quick-choices")
    with gr.Row(visible=False) as links:
        buttons = [gr.Button(f"Change the {step.lower()} in the {title} tab", size="sm", elem_id=f"quick-to-{tab}")
                   for step, tab, title in CHANGE_IN]
    watch = gr.Button("Watch it train (Train tab)", variant="primary", visible=False, elem_id="quick-watch")
    widgets = dict(
        kind=kind, minutes=minutes, files=files, local_path=local_path, status=status, choices=choices,
        links=links, watch=watch, config=ctx.config, profile=ctx.profile,
        uploaded=gr.State(""),  # the upload folder of the files in the widget ("" once they are removed)
        started=gr.State(""),  # the run this page started
        # What this page started, kept in the browser: while that run trains, a reload shows it again.
        kept=gr.BrowserState(None, storage_key="clm-gui-quickstart"))

    changed = functools.partial(named, widgets)  # the widgets of these names, in order

    kind.change(lambda k: for_gradio(actions.kind_chosen(k), widgets), kind, changed("files", "local_path"),
                show_progress="hidden")

    def chosen_files(visitor, paths):  # the endpoint keeps its earlier name
        return for_gradio(actions.files_chosen(visitor, paths), widgets)

    gr.on([files.upload, files.delete, files.clear], visitors.bind(chosen_files), visitors.inputs(files),
          changed("uploaded", "status"))

    # The endpoint's name (begin_for_visitor) is part of the app's API: scripts and tests call it.
    def begin_for_visitor(request: gr.Request, oauth: gr.OAuthProfile | None, token, kind_now, uploaded, path,
                          budget, started, progress=gr.Progress()):  # as visitors.bind, keeping Gradio's progress
        values = dict(kind=kind_now, uploaded=uploaded, local_path=path, minutes=budget, started=started)
        return for_gradio(actions.start(visitors.resolve(request, oauth, token), values,
                                        lambda fraction, message: progress(fraction, desc=message)), widgets)

    start.click(begin_for_visitor, visitors.inputs(*changed("kind", "uploaded", "local_path", "minutes", "started")),
                changed("status", "choices", "links", "watch", "config", "profile", "kept", "started"),
                concurrency_limit=1)
    for (_, tab, _), button in zip(CHANGE_IN, buttons):
        button.click(lambda tab=tab: gr.Tabs(selected=tab), outputs=ctx.tabs)
    watch.click(lambda: gr.Tabs(selected="train"), outputs=ctx.tabs)
    gr.on(None, lambda page: for_gradio(actions.reopen(page), widgets), inputs=widgets["kept"],
          outputs=changed("kind", "minutes", "uploaded", "local_path", "status", "started", "choices", "links",
                          "watch", "kept"), show_progress="hidden")
