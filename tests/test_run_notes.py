"""A run's display name and notes: kept in notes.json beside its records, written whole or not at all."""

from __future__ import annotations

import json

import pytest

from clm_gui.config import RunConfig
from clm_gui.errors import UserError
from clm_gui.markdown import escape
from clm_gui.runs.compare import settings_markdown, settings_rows
from clm_gui.runs.folder import new_run_dir
from clm_gui.runs.notes import MAX_NAME, NOTES_FILE, RunNotes, read_notes, run_label, write_notes
from clm_gui.ui.train_actions import RUN_COLUMNS, run_choices, runs_table


def test_a_run_is_renamed_and_annotated_and_keeps_its_id(runs_root):
    run = new_run_dir(runs_root, RunConfig(name="lr-test"))
    assert read_notes(run) == RunNotes() and run_label(run) == run.id
    write_notes(run, "  Higher learning rate ", "Loss fell faster,\nthen rose after step 400.")
    assert read_notes(run) == RunNotes("Higher learning rate", "Loss fell faster,\nthen rose after step 400.")
    assert run_label(run) == f"Higher learning rate ({run.id})"
    assert run_choices(runs_root) == [(f"Higher learning rate ({run.id})", run.id)]  # chosen by id, labelled by name
    row = runs_table([run])[0]
    assert row[RUN_COLUMNS.index("Run")] == run.id and row[RUN_COLUMNS.index("Name")] == "Higher learning rate"
    write_notes(run, "", "")
    assert run_label(run) == run.id  # cleared: the id again


@pytest.mark.parametrize("name, notes, said", [
    ("a" * (MAX_NAME + 1), "", "keep it to 80"),
    ("two\nlines", "", "one line"),
    ("bell\x07", "", "control character"),
    ("ok", "\ud800", "lone surrogate"),
])
def test_bad_text_is_refused_with_a_reason_and_changes_nothing(runs_root, name, notes, said):
    run = new_run_dir(runs_root, RunConfig(name="kept"))
    write_notes(run, "Kept name", "kept notes")
    before = sorted(p.name for p in run.path.iterdir())
    with pytest.raises(UserError, match=said):
        write_notes(run, name, notes)
    assert read_notes(run) == RunNotes("Kept name", "kept notes")
    assert sorted(p.name for p in run.path.iterdir()) == before  # no temporary file left behind


def test_a_damaged_notes_file_means_no_notes_never_a_broken_run(runs_root):
    run = new_run_dir(runs_root, RunConfig(name="damaged"))
    for text in ("{not json", json.dumps(["a list"]), json.dumps({"name": 3, "notes": "only the notes"})):
        (run.path / NOTES_FILE).write_text(text)
        assert read_notes(run).name == "" and run_label(run) == run.id
    assert read_notes(run).notes == "only the notes"


def test_a_deleted_run_is_not_brought_back_by_its_notes(runs_root):
    run = new_run_dir(runs_root, RunConfig(name="gone"))
    run.config_path.unlink()
    with pytest.raises(UserError, match="no run"):
        write_notes(run, "name", "")
    assert not (run.path / NOTES_FILE).exists()


def test_the_compare_table_heads_runs_by_name_and_shows_their_notes_as_text(runs_root):
    a, b = new_run_dir(runs_root, RunConfig(name="a")), new_run_dir(runs_root, RunConfig(name="b"))
    write_notes(a, "Baseline", "[click](http://example.com) " + "long " * 100)
    notes = {r.name: r.values for r in settings_rows([a, b])[0]}["Notes"]
    assert notes[1] == "(none)" and notes[0].endswith("…") and len(notes[0]) <= 301
    table = settings_markdown([a, b], [run_label(a), run_label(b)])
    assert f"| Setting | {escape(run_label(a))} | {escape(b.id)} |" in table  # headed by the display name
    assert "[click](http" not in table and "\\[click\\]\\(http" in table  # a link written in notes stays text
