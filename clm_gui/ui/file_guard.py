"""A guard in front of Gradio's file routes: of the runs folder, only run exports are served.

Gradio serves `/gradio_api/file=PATH` (and its aliases) for files in `allowed_paths`, and it must be
told the runs folder there, or it refuses to hand the page any file the app produces in it (a config
download, an export zip) when that folder lies outside the working directory. But then every file in
it would be served to anyone who asks: checkpoints, uploaded datasets, other users' runs. This ASGI
middleware sits before Gradio's routes and refuses every request for a file under the runs folder except
`<run-id>/exports/<file>`; everything else still meets Gradio's own checks. It also refuses URLs
(`file=https://...`), which Gradio would fetch and relay: this app never needs that, and on a public
Space it would make the app a proxy for anyone.

The path is resolved as Gradio resolves it (relative to the working directory, symlinks followed), so
`..`, encoded slashes (already decoded by the server), `//` and symlinks cannot reach around the check.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from starlette.responses import PlainTextResponse

from clm_gui.runs.export import EXPORTS_DIR

# Every route that takes a path after "file=" or "file/": /file=..., /gradio_api/file=..., /file/...
_FILE_ROUTE = re.compile(r"/file[=/](?P<target>.*)$", re.S)
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def requested_file(path: str) -> str | None:
    """The file a request path asks a file route for, or None when it is not a file route."""
    match = _FILE_ROUTE.search(path)
    return match.group("target") if match else None


def is_allowed_download(target: str, runs_dir: Path) -> bool:
    """Whether the guard lets a file-route request for `target` through (to Gradio's own checks)."""
    if _URL.match(target) and not re.match(r"^[A-Za-z]:[\\/]", target):  # a URL, not a Windows drive
        return False
    if "\0" in target:
        return False
    resolved = Path(os.path.abspath(target)).resolve()
    root = runs_dir.resolve()
    if not resolved.is_relative_to(root):
        return True  # not ours: Gradio serves only its cache, uploads and static files from elsewhere
    parts = resolved.relative_to(root).parts
    return len(parts) == 3 and parts[1] == EXPORTS_DIR and not parts[0].startswith(".")


class FileRouteGuard:
    """ASGI middleware: 403 for file-route requests that `is_allowed_download` refuses."""

    def __init__(self, app, runs_dir: Path):
        self.app, self.runs_dir = app, Path(runs_dir)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            target = requested_file(scope.get("path", ""))
            if target is not None and not is_allowed_download(target, self.runs_dir):
                response = PlainTextResponse("File not allowed.", status_code=403)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
