"""Writing files safely: atomically replaced texts, append-only JSON lines, folders removed in one rename.

Used by the run folder and by everything else that keeps state on disk (the training lock, owners,
model cards, the configuration), so that a crash mid-write never leaves a torn file under a trusted name.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

TMP_PREFIX = ".tmp-"  # files and folders being written or deleted; readers never trust these names


def atomic_write_text(path: Path, text: str) -> None:
    """Write a file so that readers see either the old or the new content, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}.{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk: no partial copy stays behind
        raise


def overwrite_in_place(path: Path, text: str) -> None:
    """Write over an existing file's bytes, then cut it to length. Not atomic (a crash midway tears the
    file): only for when a full disk leaves no room for the new copy `atomic_write_text` makes, since a
    file's own blocks can take a text no longer than they hold."""
    with open(path, "r+b") as f:
        f.write(text.encode("utf-8"))
        f.truncate()
        f.flush()
        os.fsync(f.fileno())


def append_jsonl(path: Path, record: dict) -> None:
    """Append one record as a line. A torn last line (a crash mid-write) is ended first, so the new
    record stays on a line of its own; a lone surrogate in a text is written as its JSON escape."""
    line = json.dumps(record, ensure_ascii=False) + "\n"
    with open(path, "ab") as f:
        if f.tell() and not _ends_with_newline(path):
            line = "\n" + line
        f.write(line.encode("utf-8", errors="backslashreplace"))  # "\\ud800" is that JSON escape
        f.flush()


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def read_jsonl(path: Path) -> list[dict]:
    """Every complete record; a torn or corrupt line (a crash mid-write) is skipped, not fatal."""
    if not path.exists():
        return []
    with open(path, encoding="utf-8", errors="replace") as f:
        return parse_jsonl(f)


def parse_jsonl(lines: Iterable[str]) -> list[dict]:
    """The JSON objects among these lines; corrupt lines are skipped."""
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def remove_tree(path: Path) -> None:
    """Delete a folder. It is renamed away first, so that a crash halfway never leaves a half-deleted
    folder under a name readers trust (a checkpoint still marked COMPLETE, final/)."""
    trash = path.with_name(f"{TMP_PREFIX}trash-{path.name}.{os.getpid()}")
    try:
        os.replace(path, trash)
    except OSError:  # missing, or not renameable: delete it where it is
        trash = path
    shutil.rmtree(trash, ignore_errors=True)
