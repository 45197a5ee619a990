"""What one person may use of a hosted app: upload storage, runs kept, minutes per run.

Each limit is a launch option (`python -m clm_gui app --hosted --max-runs-per-owner 5 ...`) with a
default that keeps a small shared machine usable for everyone. A refusal names the limit, its option,
and how to make room. Admins (named with `--admin`) and local mode have no quotas; the size of one
uploaded file (`--max-upload-mb`) is limited in every mode.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from clm_gui.config import RunConfig
from clm_gui.data.uploads import UploadLimits, UploadResult, import_uploads
from clm_gui.errors import UserError
from clm_gui.files import remove_tree
from clm_gui.hosting.access import VisitorFolders, visitor_folders
from clm_gui.hosting.ownership import Visitor, runs_owned_by


class QuotaExceeded(UserError):
    """A hosted visitor asked for more than one person may use."""


@dataclass(frozen=True)
class Quotas:
    max_upload_storage_mb: int = 1000  # all of one person's uploads; five uploads of the largest file
    max_runs_per_owner: int = 5  # run folders (with their checkpoints) one person keeps
    max_train_minutes: float = 60.0  # training time of one run, resumes included: others wait meanwhile


def check_new_run(quotas: Quotas, runs_root: Path, visitor: Visitor, cfg: RunConfig) -> None:
    """Refuse a run that would exceed the visitor's run count, the time one run may train or their storage
    (a run adds to it: its token cache). Called before any work for the run (Quick start, Start)."""
    if visitor.admin:
        return
    mine = runs_owned_by(runs_root, visitor)
    if len(mine) >= quotas.max_runs_per_owner:
        raise QuotaExceeded(
            f"You keep {len(mine)} runs, the most one person may keep on this app (--max-runs-per-owner "
            f"{quotas.max_runs_per_owner}). Delete one you no longer need (Train tab: pick it under Run, then "
            f"Delete) to start another. Your runs: {', '.join(run.id for run in mine)}.")
    check_train_minutes(quotas, visitor, cfg)
    check_storage(quotas, visitor, visitor_folders(runs_root, visitor), "Another run")


def check_train_minutes(quotas: Quotas, visitor: Visitor, cfg: RunConfig) -> None:
    """A run must end by the time limit: its Max minutes must be set, and at most the limit."""
    limit, asked = quotas.max_train_minutes, cfg.train.max_minutes
    if visitor.admin or 0 < asked <= limit:
        return
    wanted = f"{asked:g} minutes" if asked else "no time limit (Max minutes 0)"
    raise QuotaExceeded(
        f"A run may train at most {limit:g} minutes on this app (--max-train-minutes {limit:g}), and this one "
        f"asks for {wanted}. Set Max minutes (train.max_minutes) between 1 and {limit:g}.")


def folder_bytes(folder: Path) -> int:
    total = 0
    for parent, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(parent, name)).st_size
            except OSError:
                pass  # deleted meanwhile
    return total


def storage_used(folders: VisitorFolders) -> int:
    """Bytes of everything a visitor keeps: uploads, saved tokenizers, Quick start's tokenizers, token caches."""
    return sum(folder_bytes(folder) for folder in folders.all())


def check_storage(quotas: Quotas, visitor: Visitor, folders: VisitorFolders, what: str = "This") -> None:
    """Refuse when the visitor keeps more than their storage quota: before work that would add to it."""
    used, limit = storage_used(folders), quotas.max_upload_storage_mb * 1_000_000
    if visitor.admin or used <= limit:
        return
    raise QuotaExceeded(
        f"{what} would bring what you keep on this app (uploads, tokenizers and caches) to {used / 1e6:,.1f} MB, "
        f"over the {limit / 1e6:,.0f} MB one person may keep (--max-upload-storage-mb "
        f"{quotas.max_upload_storage_mb}). Delete uploads you no longer need (Dataset tab: Delete my uploads), "
        "or runs (Train tab), or use fewer or smaller files.")


def import_within_quota(paths, folders: VisitorFolders, limits: UploadLimits, quotas: Quotas,
                        visitor: Visitor) -> UploadResult:
    """`uploads.import_uploads` into the visitor's upload folder; an upload that takes them over their
    storage quota is removed again and refused. Counted after unpacking: what an archive holds is what it costs."""
    result = import_uploads(paths, folders.uploads, limits)
    try:
        check_storage(quotas, visitor, folders, "This upload")
    except QuotaExceeded:
        remove_tree(result.folder)
        raise
    return result


def delete_uploads(folders: VisitorFolders) -> int:
    """Remove a visitor's uploads, with the token caches made from them; the bytes freed."""
    freed = 0
    for folder in (folders.uploads, folders.token_cache):
        freed += folder_bytes(folder) if folder.is_dir() else 0
        remove_tree(folder)
    return freed
