"""App-wide settings that are not part of a run: where runs live, hosted mode, who is admin, limits."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from clm_gui.hosting.quotas import Quotas

HOSTED_ENV = "CLM_GUI_HOSTED"
RUNS_DIR_ENV = "CLM_GUI_RUNS_DIR"
ADMINS_ENV = "CLM_GUI_ADMINS"


def default_runs_dir() -> Path:
    """`/data/runs` on a Hugging Face Space with persistent storage, else ./runs."""
    if os.environ.get(RUNS_DIR_ENV):
        return Path(os.environ[RUNS_DIR_ENV])
    if os.environ.get("SPACE_ID") and Path("/data").is_dir():
        return Path("/data/runs")
    return Path("runs")


def hosted_from_env() -> bool:
    return os.environ.get(HOSTED_ENV, "").lower() in ("1", "true", "yes", "on")


def admins_from_env() -> list[str]:
    """CLM_GUI_ADMINS=alice,bob: a Space passes no command-line options, so its admins come from here."""
    return [name.strip() for name in os.environ.get(ADMINS_ENV, "").split(",") if name.strip()]


@dataclass
class AppSettings:
    runs_dir: Path = Path("runs")
    hosted: bool = False  # a public Space or shared box: no server paths, uploads and the Hub only
    host: str = "127.0.0.1"
    port: int = 7860
    auth: list[tuple[str, str]] | None = None  # USER:PASS pairs: each logged-in user owns their runs
    admins: tuple[str, ...] = ()  # logged-in users (--auth or Hugging Face) who may control every run
    max_upload_mb: int = 200  # one uploaded file, in every mode
    quotas: Quotas = field(default_factory=Quotas)  # hosted mode only
