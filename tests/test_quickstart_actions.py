"""The Quick start tab's actions, without Gradio or a page: each returns the widgets it changes by name."""

from __future__ import annotations

import pytest

from clm_gui.data.uploads import UploadLimits
from clm_gui.hosting.access import visitor_folders
from clm_gui.hosting.ownership import machine_user, require_visitor
from clm_gui.hosting.quotas import Quotas, import_within_quota
from clm_gui.hosting.settings import AppSettings
from clm_gui.jobs.manager import JobManager
from clm_gui.runs.folder import list_runs
from clm_gui.ui.quickstart_actions import QuickStartActions
from clm_gui.ui.widgets import Shown
from tests.fast_runs import write_corpus
from tests.waiting import WAIT_S

pytestmark = pytest.mark.slow


def actions_for(runs_dir, notes: list[str], hosted: bool = False) -> QuickStartActions:
    def import_upload(visitor, paths):
        folders = visitor_folders(runs_dir, require_visitor(visitor))
        return import_within_quota(paths, folders, UploadLimits.from_megabytes(10), Quotas(), visitor)

    return QuickStartActions(AppSettings(runs_dir=runs_dir, hosted=hosted), JobManager(runs_dir), import_upload,
                             notify=notes.append)


def no_progress(fraction, message):
    pass


def form(**values) -> dict:
    return {"kind": "demo", "uploaded": "", "local_path": "", "minutes": 5, "started": "", **values}


def test_choosing_a_kind_of_data_shows_its_own_field_and_a_hosted_app_offers_no_server_path(tmp_path):
    actions = actions_for(tmp_path / "runs", [])
    assert actions.kind_chosen("upload") == {"files": Shown(True), "local_path": Shown(False)}
    assert actions.kind_chosen("local") == {"files": Shown(False), "local_path": Shown(True)}
    assert [kind for _, kind in actions.kinds] == ["demo", "upload", "local"]
    assert [kind for _, kind in actions_for(tmp_path / "runs", [], hosted=True).kinds] == ["demo", "upload"]


def test_an_upload_is_the_data_until_it_is_removed_and_an_empty_file_is_refused_at_once(tmp_path):
    actions = actions_for(tmp_path / "runs", [])
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    refused = actions.files_chosen(machine_user(), [str(empty)])
    assert refused["uploaded"] == "" and "empty.txt is empty" in refused["status"]
    chosen = actions.files_chosen(machine_user(), [str(write_corpus(tmp_path / "book.txt"))])
    assert (tmp_path / chosen["uploaded"] / "book.txt").is_file() and "book.txt" in chosen["status"]
    assert actions.files_chosen(machine_user(), []) == {"uploaded": "", "status": ""}  # the widget's x


@pytest.mark.parametrize(("values", "said"), [
    (form(kind="upload"), "Upload a text file first (.txt, .md, .jsonl, .json, .csv, .parquet or an archive)."),
    (form(kind="local", local_path="  "), "Type the path of a file or folder on this machine first."),
    (form(minutes=0.05), "The time budget must be at least 0.1 minutes (it is 0.05)."),
])
def test_start_says_what_is_missing_and_starts_nothing(tmp_path, values, said):
    actions = actions_for(tmp_path / "runs", [])
    assert actions.start(machine_user(), values, no_progress) == {"status": f"⚠️ {said}"}
    assert list_runs(tmp_path / "runs") == []


def test_start_plans_and_starts_a_run_a_second_press_is_a_note_and_a_reload_shows_it_until_it_ends(tmp_path,
                                                                                                  step_gate):
    notes, said = [], []
    actions = actions_for(tmp_path / "runs", notes)
    book = write_corpus(tmp_path / "book.txt")
    values = form(kind="local", local_path=str(book), minutes=1)
    started = actions.start(machine_user(), values, lambda fraction, message: said.append(message))
    run_id = started["started"]
    try:
        assert started["status"].startswith(f"Started **{run_id}**") and "Playground" in started["status"]
        assert started["links"] == started["watch"] == Shown(True)
        assert started["config"]["train"]["max_minutes"] <= 1 and started["profile"]
        assert "Profiling the data" in said and "<table>" in started["choices"]
        step_gate.wait_held_at(0)

        assert actions.start(machine_user(), {**values, "started": run_id}, no_progress) == {}  # the line stays
        assert notes == [f"{run_id} is already training: your first Start started it."]
        other_page = actions.start(machine_user(), values, no_progress)  # a page that did not start it
        assert other_page == {"status": f"⚠️ {run_id} is training: one run at a time. Watch or stop it in the "
                                        "Train tab."}

        reloaded = actions.reopen(started["kept"])
        assert {name: reloaded[name] for name in ("kind", "minutes", "local_path", "started", "status")} == {
            "kind": "local", "minutes": 1, "local_path": str(book), "started": run_id, "status": started["status"]}
        assert reloaded["choices"] == started["choices"] and reloaded["watch"] == Shown(True)
    finally:
        step_gate.open()
        if actions.manager.active_run() is not None:
            actions.manager.stop()
        actions.manager.wait(WAIT_S)
    assert actions.reopen(started["kept"]) == {"choices": "", "links": Shown(False), "watch": Shown(False),
                                               "kept": ""}  # ended: a fresh form, keeping what was typed
    assert actions.reopen("not a page")["kept"] == ""
