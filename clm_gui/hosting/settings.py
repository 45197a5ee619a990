"""App-wide settings that are not part of a run: where runs live, hosted mode, who is admin, limits."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from clm_gui.hosting.quotas import Quotas

HOSTED_ENV = "CLM_GUI_HOSTED"
RUNS_DIR_ENV = "CLM_GUI_RUNS_DIR"
ADMINS_ENV = "CLM_GUI_ADMINS"
SPACE_ENV = "SPACE_ID"  # set by Hugging Face on every Space ("owner/name")
SPACE_STORAGE = Path("/data")  # a Space's persistent storage, when it has some
# A Space tells the app where to listen through Gradio's own variables (0.0.0.0 and its port).
SERVER_NAME_ENV, SERVER_PORT_ENV = "GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT"


def on_a_space() -> bool:
    return bool(os.environ.get(SPACE_ENV))


def default_runs_dir() -> Path:
    """`/data/runs` on a Hugging Face Space with persistent storage, else ./runs."""
    if os.environ.get(RUNS_DIR_ENV):
        return Path(os.environ[RUNS_DIR_ENV])
    if on_a_space() and SPACE_STORAGE.is_dir():
        return SPACE_STORAGE / "runs"
    return Path("runs")


def hosted_from_env() -> bool:
    """A Space is public (or shared): always hosted. Elsewhere CLM_GUI_HOSTED=1 asks for it."""
    return on_a_space() or os.environ.get(HOSTED_ENV, "").lower() in ("1", "true", "yes", "on")


def server_name_from_env() -> str:
    return os.environ.get(SERVER_NAME_ENV) or "127.0.0.1"  # this machine only, unless told otherwise


def server_port_from_env() -> str:
    """As text: argparse reads it with the option's type, so a bad value is refused like a bad --port."""
    return os.environ.get(SERVER_PORT_ENV) or "7860"


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
