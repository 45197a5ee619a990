"""The Dataset tab: pick a source (demo corpus, uploads, a server path, a Hub id), choose streaming or
in-memory, preview the first rows and profile the data. The choices go into the shared run
configuration (`ctx.config["data"]`) and the profile into `ctx.profile`, which the Tokenizer and Model
tabs read."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import gradio as gr
import pandas as pd

from clm_gui.config import HUB_SOURCE_PREFIX, TEXT_UNITS, DataConfig, hub_source, parse_hub_source
from clm_gui.data.profiling import (DEFAULT_SAMPLE, DatasetProfile, profile_dataset, profile_summary,
                                    recommend_for_source)
from clm_gui.data.prompts import prompts_for
from clm_gui.data.sources import load_source, preview, source_files
from clm_gui.data.uploads import (ARCHIVE_SUFFIXES, DATA_SUFFIXES, UploadLimits, describe_upload, source_label,
                                  upload_of)
from clm_gui.errors import UserError
from clm_gui.hosting.access import visitor_folders
from clm_gui.hosting.ownership import Visitor, require_visitor
from clm_gui.hosting.quotas import delete_uploads, import_within_quota
from clm_gui.hosting.settings import AppSettings
from clm_gui.ui.context import UIContext
from clm_gui.ui.draft_view import draft_changes
from clm_gui.ui.form import Form
from clm_gui.ui.gradio_cache import discard_uploaded
from clm_gui.ui.plots import length_histogram
from clm_gui.ui.progress import SessionCancels
from clm_gui.units import format_bytes

MODES_EXPLAINED = (
    "**In memory** loads every document first: the profile is exact and repeated passes are fast, but the "
    "whole dataset must fit in RAM (or the disk cache).  \n"
    "**Streaming** reads documents lazily while training runs: it starts at once and handles corpora larger "
    "than RAM, but the profile is estimated from a sample."
)
TEXT_UNIT_LABELS = {"auto": "auto", "document": "one per file", "paragraph": "one per paragraph",
                    "line": "one per line"}
# The widgets that make up DataConfig, by name (the form's names; the order of their outputs).
FIELDS = ("kind", "uploaded", "local_path", "hub_id", "hub_config", "hub_split", "mode", "text_column",
          "join_columns", "text_unit", "drop_empty", "drop_duplicates", "normalize_whitespace", "min_chars",
          "max_chars", "max_documents", "eval_fraction")
SAME_AS_CONFIG = ("text_unit", "drop_empty", "drop_duplicates", "normalize_whitespace", "min_chars", "max_chars",
                  "max_documents", "eval_fraction")  # widgets that hold a DataConfig field as it is
_CANCELS = SessionCancels()


# ---------------------------------------------------------------------------------------------
# Widgets -> DataConfig.


def _source(values: dict, settings: AppSettings) -> str:
    kind = values["kind"]
    if kind == "demo":
        return "demo"
    if kind == "upload":
        if not values["uploaded"]:
            raise UserError("Upload one or more files first (.txt, .md, .jsonl, .json, .csv, .parquet or an archive).")
        return values["uploaded"]
    if kind == "local":
        if settings.hosted:
            raise UserError("Server paths are switched off in hosted mode; upload your files instead.")
        if not (values["local_path"] or "").strip():
            raise UserError("Type the path of a folder or file on this machine first.")
        return values["local_path"].strip()
    hub_id = (values["hub_id"] or "").strip()
    if not hub_id:
        raise UserError("Type a Hub dataset id first, for example 'owner/name'.")
    return hub_source(hub_id, (values["hub_config"] or "").strip(), (values["hub_split"] or "").strip())


def data_config(settings: AppSettings, v: dict) -> DataConfig:
    """The DataConfig the widgets' values (by name) describe, checked; raises UserError with every problem."""
    cfg = DataConfig(
        source=_source(v, settings), streaming=v["mode"] == "streaming", text_column=v["text_column"] or "",
        join_columns=list(v["join_columns"] or []), text_unit=v["text_unit"] or "auto",
        drop_empty=bool(v["drop_empty"]), drop_duplicates=bool(v["drop_duplicates"]),
        normalize_whitespace=bool(v["normalize_whitespace"]), min_chars=int(v["min_chars"] or 0),
        max_chars=int(v["max_chars"] or 0), max_documents=int(v["max_documents"] or 0),
        eval_fraction=float(v["eval_fraction"] or 0),
    )
    problems = cfg.validate()
    if problems:
        raise UserError(" ".join(problems))
    return cfg


def _with_data(config: dict, cfg: DataConfig) -> dict:
    config = copy.deepcopy(config)
    config["data"] = dataclasses.asdict(cfg)
    return config


def _store(settings: AppSettings, config: dict, values: dict):
    """Keep the shared configuration in step with the widgets (silently while they are half filled in)."""
    try:
        updated = _with_data(config, data_config(settings, values))
    except UserError:
        return gr.skip(), gr.skip()
    return updated, updated["data"]


# ---------------------------------------------------------------------------------------------
# Event handlers: thin wrappers around clm_gui.data.sources, clm_gui.data.profiling and clm_gui.data.uploads.


def _fail(message: str) -> str:
    return f"⚠️ {message}"


# What describes the previous source (its mode recommendation, preview, profile, histogram, the profile
# the other tabs read): cleared when the source changes or reading it fails, so no stale figure remains.
STALE_CLEARED = ("", None, "", None, None)


def _kind_shown(kind: str):
    return [gr.update(visible=kind == k) for k in ("demo", "upload", "local", "hub")]


def _kind_chosen():
    """The user picked another kind of source: detect its text column again, forget the old one's figures."""
    return (gr.update(value=""), gr.update(value=[]), *STALE_CLEARED)


def _data_from(data: dict) -> DataConfig:
    return DataConfig(**{k: v for k, v in data.items() if k in DataConfig.__dataclass_fields__})


def widget_values(settings: AppSettings, data: dict) -> dict:
    """The widgets' values (by name) that describe a DataConfig: the inverse of data_config, so that a page
    reloaded, a loaded config.yaml or a quick start shows its data settings here."""
    cfg = _data_from(data)
    source, kind = cfg.source, "local"
    hub = parse_hub_source(source) if source.startswith(HUB_SOURCE_PREFIX) else None
    if source == "demo":
        kind = "demo"
    elif hub:
        kind = "hub"
    elif upload_of(source, settings.runs_dir):
        kind = "upload"
    values = {
        "kind": kind, "uploaded": source if kind == "upload" else "", "local_path": source if kind == "local" else "",
        "hub_id": hub[0] if hub else "", "hub_config": (hub[1] or "") if hub else "",
        "hub_split": hub[2] if hub else "train", "mode": "streaming" if cfg.streaming else "in-memory",
        "text_column": gr.update(choices=[("auto (detected)", "")] + [(c, c) for c in [cfg.text_column] if c],
                                 value=cfg.text_column),
        "join_columns": gr.update(choices=list(cfg.join_columns), value=list(cfg.join_columns)),
        **{name: getattr(cfg, name) for name in SAME_AS_CONFIG},
    }
    return values


def _show_config(settings: AppSettings, config: dict, shown: dict | None):
    """The draft's data settings in the widgets, when they changed other than by these widgets."""
    data = (config or {}).get("data")
    if draft_changes(data, shown) is None:
        return (*[gr.skip()] * len(FIELDS), gr.skip(), gr.skip(), gr.skip())
    values = widget_values(settings, data)
    note = (f"Using the uploaded {describe_upload(Path(data['source']))}." if values["kind"] == "upload"
            and Path(data["source"]).is_dir() else gr.skip())
    try:
        recommendation = _recommendation(_data_from(data))
    except UserError:
        recommendation = ""  # the source is gone (an upload cleared away): nothing to recommend from
    return (*[values[name] for name in FIELDS], data, note, recommendation)


def import_for_visitor(settings: AppSettings, visitor: Visitor | None, paths):
    """Uploaded files into the visitor's own upload folder when hosted, within their storage quota (the
    Dataset and Quick start tabs both upload this way); raises UserError."""
    try:
        folders = visitor_folders(settings.runs_dir, require_visitor(visitor))
        return import_within_quota(paths or [], folders, UploadLimits.from_megabytes(settings.max_upload_mb),
                                   settings.quotas, visitor)
    finally:
        discard_uploaded(paths)  # imported or refused, Gradio's copy is no longer needed


def _upload(settings: AppSettings, visitor: Visitor | None, paths):
    try:
        result = import_for_visitor(settings, visitor, paths)
    except UserError as exc:
        return "", _fail(str(exc)), *STALE_CLEARED
    return str(result.folder), f"Uploaded: {result.summary()}.", *STALE_CLEARED


def _delete_uploads(settings: AppSettings, visitor: Visitor | None):
    try:
        freed = delete_uploads(visitor_folders(settings.runs_dir, require_visitor(visitor)))
    except UserError as exc:
        return gr.skip(), _fail(str(exc))
    return "", f"Deleted your uploads and the tokenised copies made of them ({format_bytes(freed)} freed)."


def _recommendation(cfg: DataConfig) -> str:
    rec = recommend_for_source(cfg)
    return f"**Recommended: {rec['mode']}.** {rec['reason']}"


def _preview(settings: AppSettings, config: dict, values: dict):
    """The first rows (read as a stream, so even a huge source previews at once) and the columns."""
    try:
        cfg = data_config(settings, values)
        shown = preview(load_source(dataclasses.replace(cfg, streaming=True)), cfg)
        recommendation = _recommendation(cfg)
    except UserError as exc:
        return _fail(str(exc)), None, gr.skip(), gr.skip(), "", gr.skip(), gr.skip()
    columns = [name for name, kind in shown.column_kinds.items() if kind == "text"]
    detected = f"auto (detected: {', '.join(shown.text_columns)})" if shown.text_columns else "auto"
    column_choices = [(detected, "")] + [(c, c) for c in columns]
    status = _fail(shown.problem) if shown.problem else (
        f"Showing the first {len(shown.rows)} rows; the text comes from **{', '.join(shown.text_columns)}** "
        f"(marked ▶). Columns: {', '.join(f'{c} ({k})' for c, k in shown.column_kinds.items())}.")
    table = pd.DataFrame(shown.rows, columns=shown.headers())
    updated = _with_data(config, cfg)
    return (status, table, gr.update(choices=column_choices), gr.update(choices=columns), recommendation,
            updated, updated["data"])


def _preview_upload(settings: AppSettings, config: dict, values: dict):
    """The preview after an upload; nothing when it failed (its message stays)."""
    if not values["uploaded"]:
        return (gr.skip(),) * 7
    return _preview(settings, config, values)


def _tokenizer_for(config: dict):
    """The tokenizer chosen in the Tokenizer tab, if any, for token counts; with a note on what happened."""
    path = ((config or {}).get("tokenizer") or {}).get("path")
    if not path:
        return None, "Token counts appear once a tokenizer is chosen in the Tokenizer tab."
    from clm_gui.tokenizer.loading import load_tokenizer

    try:
        return load_tokenizer(path, add_eos=True), f"Tokens counted with the tokenizer {Path(path).name}."
    except UserError as exc:
        return None, f"Token counts skipped: {exc}"


def _summary_markdown(profile: DatasetProfile, tokenizer_note: str, label: str) -> str:
    rows = profile_summary(profile, label)
    table = "\n".join(f"| {label} | {value.replace('|', '/')} |" for label, value in rows if label != "Suggestion")
    tips = [value for label, value in rows if label == "Suggestion"]
    text = f"### Profile\n| Measure | Value |\n|---|---|\n{table}\n\n{tokenizer_note}"
    if tips:
        text += "\n\n**Suggestions**\n" + "\n".join(f"- {tip}" for tip in tips)
    return text


def _profile(settings: AppSettings, sample, config: dict, values: dict, request: gr.Request, progress: gr.Progress):
    with _CANCELS.task(request.session_hash) as stop:
        try:
            cfg = data_config(settings, values)
            tokenizer, tokenizer_note = _tokenizer_for(config)
            progress(0, desc="Loading the dataset")
            ds = load_source(cfg)

            def report(read: int, expected: int | None) -> None:
                progress((read, expected), desc=f"Profiling: {read:,} documents read", unit="documents")

            profile = profile_dataset(ds, cfg, sample=int(sample or DEFAULT_SAMPLE), tokenizer=tokenizer,
                                      progress=report, should_stop=stop.is_set)
        except UserError as exc:
            return _fail(str(exc)), "", None, None, gr.skip(), gr.skip()
        progress(1, desc="Choosing sample prompts from the held-out text")
        prompts = prompts_for(cfg)
    updated = _with_data(config, cfg)
    done = f"Profiled in {profile.elapsed_s:.1f} s ({profile.mode})."
    if prompts:
        updated["train"] = {**updated.get("train", {}), "sample_prompts": prompts}
        done += (" Sample prompts for training, from the held-out text (the Train tab shows them): "
                 + ", ".join(f"`{p.strip() or repr(p)}`" for p in prompts) + ".")
    return (done, _summary_markdown(profile, tokenizer_note, source_label(cfg.source, settings.runs_dir)),
            length_histogram(profile), profile.to_dict(), updated, updated["data"])


def _cancel(request: gr.Request) -> str:
    return "Cancelling the profile…" if _CANCELS.cancel(request.session_hash) else "Nothing is being profiled."


def _demo_description() -> str:
    found = source_files(DataConfig())
    return (f"Python's own standard library: {len(found.files):,} `.py` files, {format_bytes(found.disk_bytes)}. "
            "A real code corpus present on every machine; nothing is downloaded.")


# ---------------------------------------------------------------------------------------------
# Layout and wiring.


def build(ctx: UIContext) -> None:
    settings, defaults = ctx.settings, DataConfig()
    gr.Markdown("## Dataset")
    kinds = [("Demo corpus", "demo"), ("Upload files", "upload"), ("Local path", "local"), ("Hugging Face Hub", "hub")]
    if settings.hosted:  # a public or shared server: no reading of arbitrary server paths
        kinds = [k for k in kinds if k[1] != "local"]
    kind = gr.Radio(kinds, value="demo", label="Source", elem_id="dataset-kind")
    uploaded = gr.State("")  # the folder the last upload was unpacked into
    with gr.Group(visible=True) as demo_box:
        gr.Markdown(_demo_description())
    with gr.Group(visible=False) as upload_box:
        files = gr.File(file_count="multiple", label="Files or archives", elem_id="dataset-files",
                        file_types=list(DATA_SUFFIXES) + [".zip", ".gz", ".tgz", ".tar"])
        gr.Markdown(f"{', '.join(DATA_SUFFIXES)} files, several at once, or {', '.join(ARCHIVE_SUFFIXES)} archives "
                    f"of them; up to {settings.max_upload_mb} MB per file" + (
                        f", {settings.quotas.max_upload_storage_mb:,} MB in all." if settings.hosted else "."))
        delete_uploads_btn = gr.Button("Delete my uploads", size="sm", visible=settings.hosted,
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
        recommendation = gr.Markdown(_recommendation(defaults), elem_id="dataset-recommendation")
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
        preview_button = gr.Button("Preview", elem_id="dataset-preview-button")
        profile_button = gr.Button("Profile", variant="primary", elem_id="dataset-profile-button")
        cancel_button = gr.Button("Cancel", elem_id="dataset-cancel")
        sample = gr.Number(DEFAULT_SAMPLE, precision=0, label="Streaming: profile the first N documents")
    status = gr.Markdown(elem_id="dataset-status")
    table = gr.Dataframe(label="Preview", interactive=False, wrap=True, max_height=420, elem_id="dataset-preview")
    summary = gr.Markdown(elem_id="dataset-profile")
    histogram = gr.Plot(label="Lengths", elem_id="dataset-histogram")

    form = Form(kind=kind, uploaded=uploaded, local_path=local_path, hub_id=hub_id, hub_config=hub_config,
                hub_split=hub_split, mode=mode, text_column=text_column, join_columns=join_columns,
                text_unit=text_unit, drop_empty=drop_empty, drop_duplicates=drop_duplicates,
                normalize_whitespace=normalize, min_chars=min_chars, max_chars=max_chars,
                max_documents=max_documents, eval_fraction=eval_fraction)
    widgets = [form[name] for name in FIELDS]  # the outputs that show a DataConfig, in widget_values' order

    def bound(handler):  # the handlers take the app settings first, then what Gradio passes
        def call(*args, **kwargs):
            return handler(settings, *args, **kwargs)
        call.__name__ = handler.__name__
        return call

    def by_name(handler):  # Gradio passes one {component: value} dict; the handler gets the draft and the form
        def call(given: dict):
            return handler(settings, given[ctx.config], form.values(given))
        call.__name__ = handler.__name__
        return call

    stale = [recommendation, table, summary, histogram, ctx.profile]
    kind.change(_kind_shown, kind, [demo_box, upload_box, local_box, hub_box])
    kind.input(_kind_chosen, None, [text_column, join_columns, *stale])
    shown = gr.State(None)  # the data settings as the widgets last showed or stored them
    for widget in widgets:
        widget.change(by_name(_store), form.inputs(ctx.config), [ctx.config, shown])
    ctx.config.change(bound(_show_config), [ctx.config, shown], [*widgets, shown, status, recommendation],
                      show_progress="hidden")
    preview_outputs = [status, table, text_column, join_columns, recommendation, ctx.config, shown]
    visitors = ctx.visitors
    files.upload(visitors.bind(bound(_upload)), visitors.inputs(files), [uploaded, status, *stale]).then(
        by_name(_preview_upload), form.inputs(ctx.config), preview_outputs)
    delete_uploads_btn.click(visitors.bind(bound(_delete_uploads)), visitors.inputs(), [uploaded, status])
    preview_button.click(by_name(_preview), form.inputs(ctx.config), preview_outputs)

    def profile(given: dict, request: gr.Request, progress=gr.Progress()):
        # The one dict leaves Request and Progress as the parameters Gradio knows how to fill in.
        return _profile(settings, given[sample], given[ctx.config], form.values(given),
                        request=request, progress=progress)

    profile_button.click(profile, form.inputs(sample, ctx.config),
                         [status, summary, histogram, ctx.profile, ctx.config, shown])
    cancel_button.click(_cancel, None, status)
