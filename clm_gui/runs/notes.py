"""A run's display name and notes, given by its user after the run started: `notes.json` in the run folder.

The run id (its folder's name) never changes, so the command line, links and the other tabs keep finding
the run; the display name only labels it in lists, pickers and comparisons. The file is written
atomically and read leniently: a missing or damaged one means no name and no notes, never a broken run.
The text is a user's and shown to every visitor: pages put it through `markdown.escape`.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

from clm_gui.errors import UserError
from clm_gui.files import atomic_write_text
from clm_gui.runs.folder import RunDir
from clm_gui.security import check_encodable

NOTES_FILE = "notes.json"
MAX_NAME = 80  # characters: a label that fits a picker
MAX_NOTES = 5_000  # characters: a few paragraphs, not a document
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # everything but tab and line breaks


@dataclass(frozen=True)
class RunNotes:
    name: str = ""  # the display name; empty: the run id
    notes: str = ""


def read_notes(run: RunDir) -> RunNotes:
    try:
        record = json.loads((run.path / NOTES_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return RunNotes()
    if not isinstance(record, dict):
        return RunNotes()
    return RunNotes(**{k: record[k] for k in ("name", "notes") if isinstance(record.get(k), str)})


def _checked(text: str, what: str, limit: int, one_line: bool) -> str:
    text = check_encodable(text or "", what).strip()
    if one_line and ("\n" in text or "\r" in text):
        raise UserError(f"The {what} must fit on one line: put longer text in the notes.")
    if _CONTROL.search(text):
        raise UserError(f"The {what} contains a control character; remove it.")
    if len(text) > limit:
        raise UserError(f"The {what} is {len(text):,} characters long; keep it to {limit:,}.")
    return text


def write_notes(run: RunDir, name: str, notes: str) -> RunNotes:
    """Give the run a display name and notes (empty clears them). Bad text is refused with a message and
    changes nothing; the run's other files are never touched."""
    if not run.exists():
        raise UserError(f"There is no run {run.id!r} (it may have been deleted): pick one from the list.")
    given = RunNotes(_checked(name, "display name", MAX_NAME, one_line=True),
                     _checked(notes, "notes", MAX_NOTES, one_line=False))
    atomic_write_text(run.path / NOTES_FILE, json.dumps(asdict(given), ensure_ascii=False, indent=1))
    return given


def run_label(run: RunDir) -> str:
    """How lists and pickers name a run: its display name with its id, or the id alone."""
    name = read_notes(run).name
    return f"{name} ({run.id})" if name else run.id
