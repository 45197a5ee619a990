"""What the Dataset tab does, without Gradio: each action takes the tab's values by name and returns the widgets
it changes, `{name: value}`; a widget it leaves out keeps its value. The tab (`ui/dataset_tab.py`) lays the
widgets out, registers them under these names and turns each result into Gradio's `{component: value}`
(`ui/widgets.py`).

The widgets describe a DataConfig (FIELDS); as they change, the shared draft (`config`, its `data` section)
follows them, and the profile goes into `profile`, which the Tokenizer and Model tabs read. The actions are
thin wrappers around clm_gui.data.sources, clm_gui.data.profiling and clm_gui.data.uploads.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from clm_gui.config import HUB_SOURCE_PREFIX, DataConfig, hub_source, parse_hub_source
from clm_gui.data.profiling import (DEFAULT_SAMPLE, DatasetProfile, profile_dataset, profile_summary,
                                    recommend_for_source)
from clm_gui.data.prompts import prompts_for
from clm_gui.data.sources import load_source, preview, source_files
from clm_gui.data.uploads import describe_upload, source_label, upload_of
from clm_gui.errors import UserError
from clm_gui.hosting.access import visitor_folders
from clm_gui.hosting.ownership import Visitor, require_visitor
from clm_gui.hosting.quotas import delete_uploads
from clm_gui.hosting.settings import AppSettings
from clm_gui.ui.draft_view import draft_changes
from clm_gui.ui.plots import length_histogram
from clm_gui.ui.progress import SessionCancels
from clm_gui.ui.widgets import Choices, Shown
from clm_gui.units import format_bytes

# The widgets that make up DataConfig, by name.
FIELDS = ("kind", "uploaded", "local_path", "hub_id", "hub_config", "hub_split", "mode", "text_column",
          "join_columns", "text_unit", "drop_empty", "drop_duplicates", "normalize_whitespace", "min_chars",
          "max_chars", "max_documents", "eval_fraction")
SAME_AS_CONFIG = ("text_unit", "drop_empty", "drop_duplicates", "normalize_whitespace", "min_chars", "max_chars",
                  "max_documents", "eval_fraction")  # widgets that hold a DataConfig field as it is
KIND_BOXES = {"demo": "demo_box", "upload": "upload_box", "local": "local_box", "hub": "hub_box"}
# What describes the previous source (its mode recommendation, preview, profile, histogram, the profile
# the other tabs read): cleared when the source changes or reading it fails, so no stale figure remains.
STALE_CLEARED = {"recommendation": "", "table": None, "summary": "", "histogram": None, "profile": None}
# progress(done, desc=..., unit=...), as gr.Progress takes it: done is a fraction or (done, total)
Progress = Callable[..., None]


def source_kinds(hosted: bool) -> list[tuple[str, str]]:
    """The kinds of source, (label, kind): a public or shared server reads no arbitrary server path."""
    kinds = [("Demo corpus", "demo"), ("Upload files", "upload"), ("Local path", "local"), ("Hugging Face Hub", "hub")]
    return [k for k in kinds if k[1] != "local"] if hosted else kinds


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
    return {
        "kind": kind, "uploaded": source if kind == "upload" else "", "local_path": source if kind == "local" else "",
        "hub_id": hub[0] if hub else "", "hub_config": (hub[1] or "") if hub else "",
        "hub_split": hub[2] if hub else "train", "mode": "streaming" if cfg.streaming else "in-memory",
        "text_column": Choices([("auto (detected)", "")] + [(c, c) for c in [cfg.text_column] if c],
                               value=cfg.text_column),
        "join_columns": Choices(list(cfg.join_columns), value=list(cfg.join_columns)),
        **{name: getattr(cfg, name) for name in SAME_AS_CONFIG},
    }


def _fail(message: str) -> str:
    return f"⚠️ {message}"


def recommendation(cfg: DataConfig) -> str:
    rec = recommend_for_source(cfg)
    return f"**Recommended: {rec['mode']}.** {rec['reason']}"


def demo_description() -> str:
    found = source_files(DataConfig())
    return (f"Python's own standard library: {len(found.files):,} `.py` files, {format_bytes(found.disk_bytes)}. "
            "A real code corpus present on every machine; nothing is downloaded.")


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


class DatasetActions:
    """The tab's actions. `values` are the FIELDS widgets' values by name; `config` is the shared draft.
    `import_upload(visitor, paths)` copies uploaded files into the visitor's upload folder (the UI's, which
    also clears Gradio's copies). A profile runs until its browser session (`session`) cancels it."""

    def __init__(self, settings: AppSettings, import_upload: Callable[[Visitor | None, list], Any]):
        self.settings, self.import_upload = settings, import_upload
        self.kinds = source_kinds(settings.hosted)
        self.cancels = SessionCancels()

    @staticmethod
    def kind_shown(kind: str) -> dict:
        return {box: Shown(kind == shown) for shown, box in KIND_BOXES.items()}

    @staticmethod
    def kind_chosen() -> dict:
        """The user picked another kind of source: detect its text column again, forget the old one's figures."""
        return {"text_column": "", "join_columns": [], **STALE_CLEARED}

    def store(self, config: dict, values: dict) -> dict:
        """Keep the shared configuration in step with the widgets (silently while they are half filled in)."""
        try:
            updated = _with_data(config, data_config(self.settings, values))
        except UserError:
            return {}
        return {"config": updated, "shown": updated["data"]}

    def show_config(self, config: dict, shown: dict | None) -> dict:
        """The draft's data settings in the widgets, when they changed other than by these widgets; `shown`
        is the data settings as the widgets last showed or stored them."""
        data = (config or {}).get("data")
        if draft_changes(data, shown) is None:
            return {}
        values = widget_values(self.settings, data)
        try:
            recommended = recommendation(_data_from(data))
        except UserError:
            recommended = ""  # the source is gone (an upload cleared away): nothing to recommend from
        changes = {**{name: values[name] for name in FIELDS}, "shown": data, "recommendation": recommended}
        if values["kind"] == "upload" and Path(data["source"]).is_dir():
            changes["status"] = f"Using the uploaded {describe_upload(Path(data['source']))}."
        return changes

    def upload(self, visitor: Visitor | None, paths: list | None) -> dict:
        try:
            result = self.import_upload(visitor, paths)
        except UserError as exc:
            return {"uploaded": "", "status": _fail(str(exc)), **STALE_CLEARED}
        return {"uploaded": str(result.folder), "status": f"Uploaded: {result.summary()}.", **STALE_CLEARED}

    def delete_uploads(self, visitor: Visitor | None) -> dict:
        try:
            freed = delete_uploads(visitor_folders(self.settings.runs_dir, require_visitor(visitor)))
        except UserError as exc:
            return {"status": _fail(str(exc))}
        return {"uploaded": "",
                "status": f"Deleted your uploads and the tokenised copies made of them ({format_bytes(freed)} freed)."}

    def preview(self, config: dict, values: dict) -> dict:
        """The first rows (read as a stream, so even a huge source previews at once) and the columns."""
        try:
            cfg = data_config(self.settings, values)
            shown = preview(load_source(dataclasses.replace(cfg, streaming=True)), cfg)
            recommended = recommendation(cfg)
        except UserError as exc:
            return {"status": _fail(str(exc)), "table": None, "recommendation": ""}
        columns = [name for name, kind in shown.column_kinds.items() if kind == "text"]
        detected = f"auto (detected: {', '.join(shown.text_columns)})" if shown.text_columns else "auto"
        status = _fail(shown.problem) if shown.problem else (
            f"Showing the first {len(shown.rows)} rows; the text comes from **{', '.join(shown.text_columns)}** "
            f"(marked ▶). Columns: {', '.join(f'{c} ({k})' for c, k in shown.column_kinds.items())}.")
        updated = _with_data(config, cfg)
        return {"status": status, "table": pd.DataFrame(shown.rows, columns=shown.headers()),
                "text_column": Choices([(detected, "")] + [(c, c) for c in columns]), "join_columns": Choices(columns),
                "recommendation": recommended, "config": updated, "shown": updated["data"]}

    def preview_upload(self, config: dict, values: dict) -> dict:
        """The preview after an upload; nothing when it failed (its message stays)."""
        return self.preview(config, values) if values["uploaded"] else {}

    def profile(self, sample, config: dict, values: dict, session: str, progress: Progress) -> dict:
        """Profile the first `sample` documents (streaming; all of them in memory), counting tokens with the
        tokenizer in use; the held-out text gives the training's sample prompts."""
        with self.cancels.task(session) as stop:
            try:
                cfg = data_config(self.settings, values)
                tokenizer, tokenizer_note = _tokenizer_for(config)
                progress(0, desc="Loading the dataset")
                ds = load_source(cfg)

                def report(read: int, expected: int | None) -> None:
                    progress((read, expected), desc=f"Profiling: {read:,} documents read", unit="documents")

                profile = profile_dataset(ds, cfg, sample=int(sample or DEFAULT_SAMPLE), tokenizer=tokenizer,
                                          progress=report, should_stop=stop.is_set)
            except UserError as exc:
                return {"status": _fail(str(exc)), "summary": "", "histogram": None, "profile": None}
            progress(1, desc="Choosing sample prompts from the held-out text")
            prompts = prompts_for(cfg)
        updated = _with_data(config, cfg)
        done = f"Profiled in {profile.elapsed_s:.1f} s ({profile.mode})."
        if prompts:
            updated["train"] = {**updated.get("train", {}), "sample_prompts": prompts}
            done += (" Sample prompts for training, from the held-out text (the Train tab shows them): "
                     + ", ".join(f"`{p.strip() or repr(p)}`" for p in prompts) + ".")
        return {"status": done,
                "summary": _summary_markdown(profile, tokenizer_note, source_label(cfg.source, self.settings.runs_dir)),
                "histogram": length_histogram(profile), "profile": profile.to_dict(), "config": updated,
                "shown": updated["data"]}

    def cancel(self, session: str) -> dict:
        return {"status": "Cancelling the profile…" if self.cancels.cancel(session) else "Nothing is being profiled."}
