"""Uploaded files become a dataset folder under the app's uploads directory.

Several files at once and `.zip` / `.tar.gz` archives of them are accepted. Archives are unpacked by
hand, entry by entry, never with `extractall`: names are checked so nothing lands outside the target
folder (no absolute paths, no `..`, no links), only allowed extensions are kept, and both the number
of entries and the bytes actually written are capped, which defeats zip bombs whatever sizes the
archive claims.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from clm_gui.errors import UserError
from clm_gui.config import HUB_SOURCE_PREFIX
from clm_gui.security import is_inside, shown_path
from clm_gui.units import format_bytes

UPLOADS_DIR = ".uploads"  # in the runs folder: every upload, in a folder per visitor when hosted
DATA_SUFFIXES = (".txt", ".md", ".jsonl", ".json", ".csv", ".parquet")
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")
COPY_CHUNK = 1 << 20
_SAFE_NAME = re.compile(r"[^\w.\- ]+")
_JUNK_PARTS = {"__MACOSX", ".DS_Store"}


@dataclass
class UploadLimits:
    max_file_bytes: int  # each uploaded file, archive or not
    max_extracted_bytes: int  # everything written for one upload, after unpacking
    max_entries: int = 10_000  # entries in one archive

    @classmethod
    def from_megabytes(cls, max_upload_mb: int) -> UploadLimits:
        return cls(max_file_bytes=max_upload_mb * 1_000_000, max_extracted_bytes=5 * max_upload_mb * 1_000_000)


@dataclass
class UploadResult:
    folder: Path  # use this as data.source
    files: list[str]  # relative paths of the data files written
    skipped: list[str] = field(default_factory=list)  # "name: why" for each entry left out

    def summary(self) -> str:
        text = f"{len(self.files)} file(s) ready: {describe_upload(self.folder)}"
        if self.skipped:
            text += f". Skipped {len(self.skipped)}: {'; '.join(self.skipped[:5])}"
        return text


def describe_upload(folder: Path, shown: int = 8) -> str:
    """An upload as its user knows it: the files' names and their size ("plays.txt, 991.3 KB"), not the
    content-named folder they were copied into."""

    files = sorted(p for p in folder.rglob("*") if p.is_file())
    names = [str(p.relative_to(folder)) for p in files]
    listed = ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")
    return f"{listed}, {format_bytes(sum(p.stat().st_size for p in files))}"


def upload_of(source: str, data_root: Path) -> Path | None:
    """The upload folder a dataset source names (inside `data_root`'s uploads), or None."""
    if source == "demo" or source.startswith(HUB_SOURCE_PREFIX):
        return None
    path = Path(source).expanduser()
    return path if path.is_dir() and is_inside(path, Path(data_root) / UPLOADS_DIR) else None


def source_label(source: str, data_root: Path) -> str:
    """A dataset source as its user knows it and as a page or a model card may show it: an upload by its
    files' names, a path inside the data folder relative to it, never a server path of the app's."""
    if source == "demo":
        return "the demo corpus"
    upload = upload_of(source, data_root)
    return f"uploaded {describe_upload(upload)}" if upload else shown_path(source, data_root)


def _suffix(name: str) -> str:
    lower = name.lower()
    for suffix in ARCHIVE_SUFFIXES + DATA_SUFFIXES:
        if lower.endswith(suffix):
            return suffix
    return PurePosixPath(lower).suffix


def _allowed() -> str:
    return ", ".join(DATA_SUFFIXES + ARCHIVE_SUFFIXES)


def safe_relative_path(name: str) -> PurePosixPath | None:
    """The archive entry name as a safe relative path, or None when it could escape the target folder."""
    name = name.replace("\\", "/")
    path = PurePosixPath(name)
    if not name or path.is_absolute() or re.match(r"^[A-Za-z]:", name):
        return None
    parts = [p for p in path.parts if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        return None
    return PurePosixPath(*(_SAFE_NAME.sub("_", p) for p in parts))


class _Budget:
    """Counts bytes actually written for one upload and stops at the limit."""

    def __init__(self, limits: UploadLimits):
        self.limits = limits
        self.written = 0

    def copy(self, source: BinaryIO, target: Path, label: str) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as out:
            while chunk := source.read(COPY_CHUNK):
                self.written += len(chunk)
                if self.written > self.limits.max_extracted_bytes:
                    raise UserError(
                        f"{label} unpacks to more than {self.limits.max_extracted_bytes / 1e6:,.0f} MB, the limit "
                        "for one upload (it may be a zip bomb). Upload fewer or smaller files."
                    )
                out.write(chunk)


def _unique(target: Path) -> Path:
    """target, or target with -2, -3... before its suffix when the name is taken."""
    candidate, n = target, 1
    while candidate.exists():
        n += 1
        candidate = target.with_name(f"{target.stem}-{n}{target.suffix}")
    return candidate


Opener = Callable[[], BinaryIO]


def _entries_zip(archive: Path) -> Iterator[tuple[str, str, Opener]]:
    """(name, "dir" | "file" | "link", opener) for each entry of a zip file."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
            kind = "dir" if info.is_dir() else "link" if is_link else "file"
            yield info.filename, kind, (lambda i=info: zf.open(i))


def _entries_tar(archive: Path) -> Iterator[tuple[str, str, Opener]]:
    with tarfile.open(archive) as tf:
        for member in tf:
            kind = "dir" if member.isdir() else "file" if member.isreg() else "link"
            yield member.name, kind, (lambda m=member: tf.extractfile(m))


def _extract(archive: Path, into: Path, budget: _Budget, result: UploadResult, root: Path) -> None:
    entries = _entries_zip if _suffix(archive.name) == ".zip" else _entries_tar
    try:
        for count, (name, kind, open_entry) in enumerate(entries(archive), start=1):
            if count > budget.limits.max_entries:
                raise UserError(f"{archive.name} has more than {budget.limits.max_entries:,} entries, the limit.")
            if kind == "dir":
                continue
            why = _entry_problem(name, kind)
            if why:
                if why != "junk":
                    result.skipped.append(f"{name}: {why}")
                continue
            target = _unique(into / safe_relative_path(name))
            if not is_inside(target, root):  # belt and braces after the name check
                raise UserError(f"{archive.name} has an entry that points outside the upload folder: {name}.")
            with open_entry() as source:
                budget.copy(source, target, archive.name)
            result.files.append(str(target.relative_to(root)))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise UserError(f"{archive.name} is not a readable archive ({exc}); re-create it and upload it again.") from None


def _entry_problem(name: str, kind: str) -> str | None:
    relative = safe_relative_path(name)
    if relative is None:
        return "unsafe path (absolute or with '..'), not extracted"
    if any(part in _JUNK_PARTS or part.startswith("._") for part in relative.parts):
        return "junk"  # macOS metadata: skipped silently
    if kind != "file":
        return "a link or special file, not extracted"
    suffix = _suffix(name)
    if suffix in ARCHIVE_SUFFIXES:
        return "nested archives are not unpacked"
    if suffix not in DATA_SUFFIXES:
        return f"{suffix or 'no extension'} is not a data file type"
    return None


def _upload_id(paths: list[Path]) -> str:
    """Same files, same folder: a hash of names and contents, so re-uploading does not pile up copies."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        with open(path, "rb") as f:
            while chunk := f.read(COPY_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def _check_upload(path: Path, limits: UploadLimits) -> None:
    suffix = _suffix(path.name)
    if suffix not in DATA_SUFFIXES + ARCHIVE_SUFFIXES:
        raise UserError(f"{path.name}: {suffix or 'no extension'} files are not accepted. Upload {_allowed()}.")
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise UserError(
            f"{path.name} is {size / 1e6:,.1f} MB, over the upload limit of {limits.max_file_bytes / 1e6:,.0f} MB. "
            "Upload a smaller file, split it, or (running locally) use a server path."
        )


def import_uploads(paths: list[str | Path], uploads_dir: Path, limits: UploadLimits) -> UploadResult:
    """Copy uploaded files (unpacking archives) into a new folder under uploads_dir; return what was kept."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise UserError("No files were uploaded; choose one or more files first.")
    for path in paths:
        _check_upload(path, limits)
    folder = uploads_dir / _upload_id(paths)
    staging = uploads_dir / f".{folder.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    result = UploadResult(folder=folder, files=[])
    budget = _Budget(limits)
    try:
        for path in paths:
            if _suffix(path.name) in ARCHIVE_SUFFIXES:
                _extract(path, staging / safe_relative_path(_stem(path.name)), budget, result, staging)
                continue
            target = _unique(staging / safe_relative_path(path.name))
            with open(path, "rb") as source:
                budget.copy(source, target, path.name)
            result.files.append(str(target.relative_to(staging)))
        if not result.files:
            found = "; ".join(result.skipped[:5]) or "nothing"
            raise UserError(f"The upload holds no readable data files (found: {found}). Upload {_allowed()}.")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(staging, folder)  # the folder appears complete or not at all
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


def _stem(name: str) -> str:
    suffix = _suffix(name)
    return name[: -len(suffix)] if suffix else name
