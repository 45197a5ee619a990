"""The Dataset tab's layout: pick a source (demo corpus, uploads, a server path, a Hub id), choose streaming or
in-memory, preview the first rows and profile the data. What its widgets do is `ui/dataset_actions.py` (no
Gradio there); this module lays the widgets out, names them and wires each event to an action. The choices go
into the shared run configuration (`ctx.config["data"]`) and the profile into `ctx.profile`, which the
Tokenizer and Model tabs read."""

from __future__ import annotations

import functools

import gradio as gr

from clm_gui.config import TEXT_UNITS, DataConfig
from clm_gui.data.profiling import DEFAULT_SAMPLE
from clm_gui.data.uploads import ARCHIVE_SUFFIXES, DATA_SUFFIXES
from clm_gui.ui.context import UIContext
from clm_gui.ui.dataset_actions import FIELDS, STALE_CLEARED, DatasetActions, demo_description, recommendation
from clm_gui.ui.form import Form
from clm_gui.ui.gradio_cache import import_for_visitor
from clm_gui.ui.widgets import for_gradio, named

MODES_EXPLAINED = (
    "**In memory** loads every document first: the profile is exact and repeated passes are fast, but the "
    "whole dataset must fit in RAM (or the disk cache).  \n"
    "**Streaming** reads documents lazily while training runs: it starts at once and handles corpora larger "
    "than RAM, but the profile is estimated from a sample."
)
TEXT_UNIT_LABELS = {"auto": "auto", "document": "one per file", "paragraph": "one per paragraph",
                    "line": "one per line"}


def build(ctx: UIContext) -> None:
    settings, defaults, visitors = ctx.settings, DataConfig(), ctx.visitors
    actions = DatasetActions(settings, lambda visitor, paths: import_for_visitor(settings, visitor, paths))
    gr.Markdown("## Dataset")
    kind = gr.Radio(actions.kinds, value="demo", label="Source", elem_id="dataset-kind")
    with gr.Group(visible=True) as demo_box:
        gr.Markdown(demo_description())
    with gr.Group(visible=False) as upload_box:
        files = gr.File(file_count="multiple", label="Files or archives", elem_id="dataset-files",
                        file_types=list(DATA_SUFFIXES) + [".zip", ".gz", ".tgz", ".tar"])
        gr.Markdown(f"{', '.join(DATA_SUFFIXES)} files, several at once, or {', '.join(ARCHIVE_SUFFIXES)} archives "
                    f"of them; up to {settings.max_upload_mb} MB per file" + (
                        f", {settings.quotas.max_upload_storage_mb:,} MB in all." if settings.hosted else "."))
        delete_uploads = gr.Button("Delete my uploads", size="sm", visible=settings.hosted,
                                   elem_id="dataset-delete-uploads")
    with gr.Group(visible=False) as local_box:
        local_path = gr.Textbox(label="A folder or file on this machine", placeholder="/data/corpus",
                                elem_id="dataset-local-path")
    with gr.Group(visible=False) as hub_box:
        with gr.Row():
            hub_id = gr.Textbox(label="Hub dataset id", placeholder="owner/name", elem_id="dataset-hub-id")
            hub_config = gr.Textbox(label="Configuration (optional)")
            hub_split = gr.Textbox("train", label="Split")

    gr.Markdown(MODES_EXPLAINED)
    with gr.Row():
        mode = gr.Radio([("In memory", "in-memory"), ("Streaming", "streaming")], label="Mode", scale=1,
                        value="streaming" if defaults.streaming else "in-memory", elem_id="dataset-mode")
        recommended = gr.Markdown(recommendation(defaults), elem_id="dataset-recommendation")
    with gr.Row():
        text_column = gr.Dropdown([("auto (detected)", "")], value="", label="Text column", elem_id="dataset-column")
        join_columns = gr.Dropdown([], value=[], multiselect=True, label="Or join several text columns")
        text_unit = gr.Dropdown([(TEXT_UNIT_LABELS[u], u) for u in TEXT_UNITS], value=defaults.text_unit,
                                label="Plain-text files: documents are",
                                info="auto: one per file (a single file is one stream)")
    with gr.Accordion("Preprocessing (applied lazily, in both modes)", open=False):
        with gr.Row():
            drop_empty = gr.Checkbox(defaults.drop_empty, label="Drop empty documents")
            drop_duplicates = gr.Checkbox(defaults.drop_duplicates, label="Drop exact duplicates")
            normalize = gr.Checkbox(defaults.normalize_whitespace, label="Normalise whitespace")
        with gr.Row():
            min_chars = gr.Number(defaults.min_chars, precision=0, label="Minimum characters")
            max_chars = gr.Number(defaults.max_chars, precision=0, label="Maximum characters (0: none)")
            max_documents = gr.Number(defaults.max_documents, precision=0, label="Read at most N documents (0: all)")
            eval_fraction = gr.Number(defaults.eval_fraction, label="Held-out fraction")
    with gr.Row():
        preview = gr.Button("Preview", elem_id="dataset-preview-button")
        profile_button = gr.Button("Profile", variant="primary", elem_id="dataset-profile-button")
        cancel = gr.Button("Cancel", elem_id="dataset-cancel")
        sample = gr.Number(DEFAULT_SAMPLE, precision=0, label="Streaming: profile the first N documents")
    status = gr.Markdown(elem_id="dataset-status")
    table = gr.Dataframe(label="Preview", interactive=False, wrap=True, max_height=420, elem_id="dataset-preview")
    summary = gr.Markdown(elem_id="dataset-profile")
    histogram = gr.Plot(label="Lengths", elem_id="dataset-histogram")

    widgets = dict(
        kind=kind, local_path=local_path, hub_id=hub_id, hub_config=hub_config, hub_split=hub_split, mode=mode,
        text_column=text_column, join_columns=join_columns, text_unit=text_unit, drop_empty=drop_empty,
        drop_duplicates=drop_duplicates, normalize_whitespace=normalize, min_chars=min_chars, max_chars=max_chars,
        max_documents=max_documents, eval_fraction=eval_fraction, demo_box=demo_box, upload_box=upload_box,
        local_box=local_box, hub_box=hub_box, files=files, sample=sample, status=status,
        recommendation=recommended, table=table, summary=summary, histogram=histogram, config=ctx.config,
        profile=ctx.profile,
        uploaded=gr.State(""),  # the folder the last upload was unpacked into
        shown=gr.State(None))  # the data settings as the widgets last showed or stored them
    form = Form(**{name: widgets[name] for name in FIELDS})

    changed = functools.partial(named, widgets)  # the widgets of these names, in order

    # Each function below is named for its endpoint, as before: scripts and tests call them by these names.
    def _kind_shown(kind_now):
        return for_gradio(actions.kind_shown(kind_now), widgets)

    def _kind_chosen():
        return for_gradio(actions.kind_chosen(), widgets)

    def _store(given: dict):  # Gradio passes one {component: value} dict (ui/form.py)
        return for_gradio(actions.store(given[ctx.config], form.values(given)), widgets)

    def _show_config(config, shown):
        return for_gradio(actions.show_config(config, shown), widgets)

    def _upload(visitor, paths):
        return for_gradio(actions.upload(visitor, paths), widgets)

    def _preview_upload(given: dict):
        return for_gradio(actions.preview_upload(given[ctx.config], form.values(given)), widgets)

    def _delete_uploads(visitor):
        return for_gradio(actions.delete_uploads(visitor), widgets)

    def _preview(given: dict):
        return for_gradio(actions.preview(given[ctx.config], form.values(given)), widgets)

    def profile(given: dict, request: gr.Request, progress=gr.Progress()):
        # The one dict leaves Request and Progress as the parameters Gradio knows how to fill in.
        return for_gradio(actions.profile(given[sample], given[ctx.config], form.values(given),
                                          request.session_hash, progress), widgets)

    def _cancel(request: gr.Request):
        return for_gradio(actions.cancel(request.session_hash), widgets)

    stale = list(STALE_CLEARED)
    kind.change(_kind_shown, kind, changed("demo_box", "upload_box", "local_box", "hub_box"))
    kind.input(_kind_chosen, None, changed("text_column", "join_columns", *stale))
    for name in FIELDS:
        widgets[name].change(_store, form.inputs(ctx.config), changed("config", "shown"))
    ctx.config.change(_show_config, changed("config", "shown"), changed(*FIELDS, "shown", "status", "recommendation"),
                      show_progress="hidden")
    previewed = changed("status", "table", "text_column", "join_columns", "recommendation", "config", "shown")
    files.upload(visitors.bind(_upload), visitors.inputs(files), changed("uploaded", "status", *stale)).then(
        _preview_upload, form.inputs(ctx.config), previewed)
    delete_uploads.click(visitors.bind(_delete_uploads), visitors.inputs(), changed("uploaded", "status"))
    preview.click(_preview, form.inputs(ctx.config), previewed)
    profile_button.click(profile, form.inputs(sample, ctx.config),
                         changed("status", "summary", "histogram", "profile", "config", "shown"))
    cancel.click(_cancel, None, status)
