"""What the app takes back out of Gradio's cache, where Gradio keeps every file that passes through it.

An upload lands there before the app copies it into the visitor's upload folder; a file the app hands a
page (an export zip) is copied there before it is served. The app removes an upload's cached copy once
it has imported (or refused) it, so a refused upload takes no room, and a run's export copies when the
run is deleted, so an export vanishes with its run. `import_for_visitor` is the one way the tabs import an
upload, so each upload's copy goes. What is left (an upload posted by a script that never
calls an event) goes with `gr.Blocks(delete_cache=...)` (ui/app.py). Only files inside Gradio's cache are
ever touched here.
"""

from __future__ import annotations

import os
from pathlib import Path

from gradio.utils import get_upload_folder

from clm_gui.data.uploads import UploadResult, UploadLimits
from clm_gui.files import remove_tree
from clm_gui.hosting.access import visitor_folders
from clm_gui.hosting.ownership import Visitor, require_visitor
from clm_gui.hosting.quotas import import_within_quota
from clm_gui.hosting.settings import AppSettings
from clm_gui.security import is_inside


def cache_folder() -> Path:
    return Path(get_upload_folder())


def discard_uploaded(paths) -> None:
    """Remove the cached copies of uploaded files (and the folders Gradio made for them)."""
    cache = cache_folder()
    for path in paths or []:
        path = Path(os.fspath(path))
        if path.parent != cache and is_inside(path.parent, cache):
            remove_tree(path.parent)  # Gradio keeps each file in a folder of its own, named for its content


def discard_exports(run_id: str) -> None:
    """Remove Gradio's copies of a run's export zips (`runs/export.py` names them `<run id>-final-*.zip`)."""
    cache = cache_folder()
    if cache.is_dir():
        for copy in cache.glob(f"*/{run_id}-final-*.zip"):
            remove_tree(copy.parent)


def import_for_visitor(settings: AppSettings, visitor: Visitor | None, paths) -> UploadResult:
    """Uploaded files into the visitor's own upload folder when hosted, within their storage quota (the
    Dataset and Quick start tabs both upload this way); raises UserError."""
    try:
        folders = visitor_folders(settings.runs_dir, require_visitor(visitor))
        return import_within_quota(paths or [], folders, UploadLimits.from_megabytes(settings.max_upload_mb),
                                   settings.quotas, visitor)
    finally:
        discard_uploaded(paths)  # imported or refused, Gradio's copy is no longer needed
