"""Where a path that came from a user may point.

On a local box (the default) the app reads whatever path its user types: it is their machine. In hosted
mode (`--hosted` or CLM_GUI_HOSTED=1: a public Space or a shared box) every path that comes from a form
field, an API call or a config file must lead, symlinks followed, into the app's data folder (the runs
folder, which also holds uploads). Datasets then come from uploads, the built-in demo corpus or the Hub.

Paths are checked the way their readers open them: a relative path is relative to the working
directory for a config field (as `data/sources.py` and `tokenizer/loading.py` read it), and relative to the folder for a
name joined under a folder (an archive entry, a run id). Resolving before comparing defeats `..`,
symlinks and doubled slashes alike.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from clm_gui.config import HUB_SOURCE_PREFIX, RunConfig, is_hub_id
from clm_gui.errors import ConfigError, UserError

DATA_FOLDER = "the app's data folder"  # said instead of the real path: hosted mode shows no server paths
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class PathOutsideRoot(UserError):
    """A user-given path that leads out of the folder it must stay in."""


def _checked_text(user_path: str | Path) -> str:
    text = os.fspath(user_path)
    if not text.strip():
        raise UserError("The path is empty; give a file or folder.")
    if "\0" in text:
        raise UserError("The path contains a NUL character, which no file name can hold.")
    return text


def check_encodable(text: str, what: str) -> str:
    """text, or a UserError when it holds a lone surrogate: a code point that no encoding can write,
    which a JSON escape such as "\\ud800" can smuggle in, and on which tokenizers fail."""
    if _LONE_SURROGATE.search(text):
        raise UserError(f"{what} contains an invalid character (a lone surrogate, which is not text); remove it.")
    return text


def is_inside(path: str | Path, root: str | Path) -> bool:
    """Whether path, once resolved (symlinks followed), is root or lies under it."""
    return Path(path).resolve().is_relative_to(Path(root).resolve())


@dataclass(frozen=True)
class AccessPolicy:
    """What the app may read for its users: anything locally, only its data folder when hosted."""

    data_root: Path
    hosted: bool = False

    def readable_path(self, user_path: str | Path, what: str = "The path",
                      instead: str = "upload the files in the Dataset tab, or use a Hub dataset") -> Path:
        """The path to open for a user-given file or folder (as the readers open it), or `PathOutsideRoot`."""
        path = Path(_checked_text(user_path)).expanduser()
        if self.hosted and not is_inside(path, self.data_root):
            raise PathOutsideRoot(f"{what} {os.fspath(user_path)!r} is outside {DATA_FOLDER}, and in hosted mode "
                                  f"no other server path is read: {instead}.")
        return path

    def check_data_source(self, source: str, what: str = "data.source") -> None:
        """A dataset source: the demo corpus and Hub ids always, a path only as `readable_path` allows."""
        if source != "demo" and not source.startswith(HUB_SOURCE_PREFIX):
            self.readable_path(source, what)

    def check_tokenizer(self, path: str, what: str = "tokenizer.path") -> None:
        """A tokenizer to load: a Hub id always, a folder only as `readable_path` allows."""
        if path and (_names_local_folder(path) or not is_hub_id(path)):
            self.readable_path(path, what, "use a tokenizer trained or saved in this app, or a Hub id")

    def config_problems(self, cfg: RunConfig) -> list[str]:
        """Each setting of cfg that would read a file this policy does not allow, as a sentence."""
        if not self.hosted:
            return []  # a local user may read their own disk; validate() still checks that paths exist
        problems = []
        for check, value in ((self.check_data_source, cfg.data.source), (self.check_tokenizer, cfg.tokenizer.path)):
            try:
                check(value)
            except UserError as exc:
                problems.append(str(exc))
        return problems

    def check_config(self, cfg: RunConfig) -> RunConfig:
        problems = self.config_problems(cfg)
        if problems:
            raise ConfigError(problems)
        return cfg


def _names_local_folder(text: str) -> bool:
    """Whether the tokenizer loader would read `text` from disk rather than ask the Hub."""
    return text.startswith((".", "/", "~")) or Path(text).expanduser().exists()


def policy_for(settings) -> AccessPolicy:
    """The policy of an app launched with these `AppSettings`."""
    return AccessPolicy(data_root=Path(settings.runs_dir), hosted=bool(settings.hosted))
