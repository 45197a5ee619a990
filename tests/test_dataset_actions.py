"""The Dataset tab's actions, without Gradio or a page: each returns the widgets it changes by name."""

from __future__ import annotations

import json

import pandas as pd

from clm_gui.config import DataConfig, RunConfig
from clm_gui.data.uploads import UploadLimits
from clm_gui.hosting.access import visitor_folders
from clm_gui.hosting.ownership import machine_user, require_visitor
from clm_gui.hosting.quotas import Quotas, import_within_quota
from clm_gui.hosting.settings import AppSettings
from clm_gui.ui.dataset_actions import FIELDS, SAME_AS_CONFIG, STALE_CLEARED, DatasetActions
from clm_gui.ui.widgets import Choices, Shown

ROWS = [{"id": i, "text": f"Document number {i}. The cat sat on the mat and the dog slept by the door."}
        for i in range(40)] + [{"id": 40, "text": ""}]


def actions_for(runs_dir, hosted: bool = False) -> DatasetActions:
    def import_upload(visitor, paths):  # as the tab imports (ui/gradio_cache.py), without Gradio's cache
        return import_within_quota(paths, visitor_folders(runs_dir, require_visitor(visitor)),
                                   UploadLimits.from_megabytes(10), Quotas(), visitor)

    return DatasetActions(AppSettings(runs_dir=runs_dir, hosted=hosted), import_upload)


def form(**values) -> dict:
    """The tab's FIELDS as a fresh page holds them, with `values` changed."""
    defaults = DataConfig()
    fresh = {"kind": "demo", "uploaded": "", "local_path": "", "hub_id": "", "hub_config": "", "hub_split": "train",
             "mode": "in-memory", "text_column": "", "join_columns": [],
             **{name: getattr(defaults, name) for name in SAME_AS_CONFIG}}
    assert set(fresh) == set(FIELDS)
    return {**fresh, **values}


def notes_file(tmp_path):
    path = tmp_path / "notes.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    return path


def test_choosing_a_kind_shows_its_box_and_forgets_the_previous_sources_figures(tmp_path):
    actions = actions_for(tmp_path / "runs")
    assert actions.kind_shown("hub") == {"demo_box": Shown(False), "upload_box": Shown(False),
                                         "local_box": Shown(False), "hub_box": Shown(True)}
    assert actions.kind_chosen() == {"text_column": "", "join_columns": [], **STALE_CLEARED}
    assert STALE_CLEARED == {"recommendation": "", "table": None, "summary": "", "histogram": None, "profile": None}
    assert [kind for _, kind in actions.kinds] == ["demo", "upload", "local", "hub"]
    assert [kind for _, kind in actions_for(tmp_path / "runs", hosted=True).kinds] == ["demo", "upload", "hub"]


def test_the_draft_follows_the_widgets_once_they_describe_a_source_and_shows_in_them_when_changed_elsewhere(tmp_path):
    actions = actions_for(tmp_path / "runs")
    draft = RunConfig().to_dict()
    assert actions.store(draft, form(kind="local", local_path="  ")) == {}  # half filled in: silently kept
    stored = actions.store(draft, form(kind="hub", hub_id="owner/name", max_documents=7))
    assert stored["shown"] == stored["config"]["data"] and stored["shown"]["max_documents"] == 7
    assert actions.show_config(stored["config"], stored["shown"]) == {}  # this tab's own edit coming back

    loaded = {**draft, "data": {**draft["data"], "source": str(notes_file(tmp_path)), "text_column": "text",
                                "streaming": True}}  # e.g. a config.yaml loaded in the Train tab
    shown = actions.show_config(loaded, stored["shown"])
    assert {name: shown[name] for name in ("kind", "local_path", "uploaded", "mode", "hub_id")} == {
        "kind": "local", "local_path": loaded["data"]["source"], "uploaded": "", "mode": "streaming", "hub_id": ""}
    assert shown["text_column"] == Choices([("auto (detected)", ""), ("text", "text")], value="text")
    assert shown["join_columns"] == Choices([], value=[]) and shown["shown"] == loaded["data"]
    assert shown["recommendation"].startswith("**Recommended: ") and "status" not in shown
    assert set(shown) == {*FIELDS, "shown", "recommendation"}


def test_preview_shows_the_first_rows_and_offers_the_text_columns(tmp_path):
    actions, path = actions_for(tmp_path / "runs"), notes_file(tmp_path)
    shown = actions.preview(RunConfig().to_dict(), form(kind="local", local_path=str(path)))
    assert "the text comes from **text** (marked ▶)" in shown["status"] and "id (" in shown["status"]
    assert isinstance(shown["table"], pd.DataFrame) and "▶ text" in shown["table"].columns
    assert "Document number 0." in shown["table"]["▶ text"].iloc[0]
    assert shown["text_column"] == Choices([("auto (detected: text)", ""), ("text", "text")])  # keeps its value
    assert shown["join_columns"] == Choices(["text"]) and shown["config"]["data"]["source"] == str(path)
    assert shown["shown"] == shown["config"]["data"] and shown["recommendation"].startswith("**Recommended: ")


def test_preview_says_what_is_missing_and_a_hosted_app_reads_no_server_path(tmp_path):
    refused = actions_for(tmp_path / "runs").preview(RunConfig().to_dict(), form(kind="local", local_path=" "))
    assert refused == {"status": "⚠️ Type the path of a folder or file on this machine first.", "table": None,
                       "recommendation": ""}
    hosted = actions_for(tmp_path / "runs", hosted=True).preview(RunConfig().to_dict(),
                                                                 form(kind="local", local_path="/etc"))
    assert hosted["status"] == "⚠️ Server paths are switched off in hosted mode; upload your files instead."
    assert actions_for(tmp_path / "runs").preview_upload(RunConfig().to_dict(), form(kind="upload")) == {}


def test_an_upload_becomes_the_source_until_the_uploads_are_deleted(tmp_path):
    actions, visitor = actions_for(tmp_path / "runs"), machine_user()
    uploaded = actions.upload(visitor, [str(notes_file(tmp_path))])
    assert (tmp_path / uploaded["uploaded"] / "notes.jsonl").is_file()
    assert uploaded["status"].startswith("Uploaded: ") and "notes.jsonl" in uploaded["status"]
    assert {name: uploaded[name] for name in STALE_CLEARED} == STALE_CLEARED
    stored = actions.store(RunConfig().to_dict(), form(kind="upload", uploaded=uploaded["uploaded"]))
    shown = actions.show_config(stored["config"], None)  # a reloaded page
    assert shown["kind"] == "upload" and shown["uploaded"] == uploaded["uploaded"]
    assert shown["status"].startswith("Using the uploaded ")

    deleted = actions.delete_uploads(visitor)
    assert deleted["uploaded"] == "" and deleted["status"].startswith("Deleted your uploads and the tokenised copies")
    assert not (tmp_path / uploaded["uploaded"]).exists()
    assert actions.show_config(stored["config"], None)["recommendation"] == ""  # nothing left to recommend from


def test_a_refused_upload_says_why_and_leaves_no_source(tmp_path):
    picture = tmp_path / "photo.png"
    picture.write_bytes(b"\x89PNG")
    refused = actions_for(tmp_path / "runs").upload(machine_user(), [str(picture)])
    assert refused["uploaded"] == "" and refused["status"].startswith("⚠️ ") and "photo.png" in refused["status"]


def test_profile_measures_the_data_and_puts_it_in_the_draft(tmp_path):
    actions, said = actions_for(tmp_path / "runs"), []
    values = form(kind="local", local_path=str(notes_file(tmp_path)))
    done = actions.profile(0, RunConfig().to_dict(), values, "page", lambda done, desc, unit="": said.append(desc))
    assert done["status"].startswith("Profiled in ") and "(in-memory)" in done["status"]
    assert done["summary"].startswith("### Profile") and "all 41 documents (exact figures)" in done["summary"]
    assert "Token counts appear once a tokenizer is chosen in the Tokenizer tab." in done["summary"]
    assert (done["profile"]["sample_documents"], done["profile"]["documents"]) == (41, 40)  # the empty one dropped
    assert done["histogram"] is not None
    assert done["config"]["data"]["source"] == values["local_path"] and done["shown"] == done["config"]["data"]
    assert said[0] == "Loading the dataset" and said[-1] == "Choosing sample prompts from the held-out text"


def test_profile_failing_clears_the_old_figures_and_cancel_stops_it_from_its_own_page(tmp_path):
    actions = actions_for(tmp_path / "runs")
    failed = actions.profile(0, RunConfig().to_dict(), form(kind="hub"), "page", print)
    assert failed == {"status": "⚠️ Type a Hub dataset id first, for example 'owner/name'.", "summary": "",
                      "histogram": None, "profile": None}
    assert actions.cancel("page") == {"status": "Nothing is being profiled."}
    cancels = []

    def cancel_at_once(done, desc, unit=""):  # the Cancel button, pressed while the profile runs
        cancels.append((actions.cancel("other page"), actions.cancel("page")))

    values = form(kind="local", local_path=str(notes_file(tmp_path)), mode="streaming")
    stopped = actions.profile(0, RunConfig().to_dict(), values, "page", cancel_at_once)
    assert cancels[0] == ({"status": "Nothing is being profiled."}, {"status": "Cancelling the profile…"})
    assert stopped["status"].startswith("⚠️ Profiling was cancelled after ") and stopped["profile"] is None
