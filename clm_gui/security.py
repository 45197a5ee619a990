"""Where a path that came from a user may point.

On a local box (the default) the app reads whatever path its user types: it is their machine. In hosted
mode (`--hosted` or CLM_GUI_HOSTED=1: a public Space or a shared box) every path that comes from a form
field, an API call, a kept draft or a config file must lead, symlinks followed, into one of the folders
of the visitor who asks (their uploads, their saved tokenizers: `hosting/access.py` says which), never
into another visitor's. Datasets then come from their uploads, the built-in demo corpus or the Hub.

The rule is enforced where files are read, not in each handler: the readers of a dataset source
(`data/sources.source_files`) and of a tokenizer (`tokenizer/loading.load_tokenizer`) ask `in_force()`,
the policy of the visitor whose request is being served (the UI sets it around every event with
`enforcing`), so a value that reached the library by any route meets the same check. Outside a request
(the CLI, a training child) the local policy applies: those read what their own user gave them.

Paths are checked the way their readers open them: a relative path is relative to the working
directory for a config field (as `data/sources.py` and `tokenizer/loading.py` read it), and relative to the folder for a
name joined under a folder (an archive entry, a run id). Resolving before comparing defeats `..`,
symlinks and doubled slashes alike.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from clm_gui.config import HUB_SOURCE_PREFIX, RunConfig, is_hub_id, names_local_path
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


def inside_data(path: str | Path, data_root: str | Path) -> str | None:
    """The path relative to the app's data folder when it lies inside it, else None."""
    try:
        if is_inside(path, data_root):
            return str(Path(path).resolve().relative_to(Path(data_root).resolve()))
    except (OSError, ValueError):
        pass
    return None


def shown_path(path: str | Path, data_root: str | Path) -> str:
    """A path as a page, a log or a model card may show it: relative to the app's data folder when inside
    it (a hosted app shows no server path), else as given (a local user's own path)."""
    relative = inside_data(path, data_root)
    return f"{relative} in {DATA_FOLDER}" if relative is not None else os.fspath(path)


@dataclass(frozen=True)
class AccessPolicy:
    """What the app may read for one user: anything locally; when hosted, only inside `readable` (that
    visitor's own folders; none for a visitor the app does not know yet)."""

    hosted: bool = False
    readable: tuple[Path, ...] = ()

    def readable_path(self, user_path: str | Path, what: str = "The path",
                      instead: str = "upload the files in the Dataset tab, or use a Hub dataset") -> Path:
        """The path to open for a user-given file or folder (as the readers open it), or `PathOutsideRoot`.
        The refusal names the path as the user gave it and no server folder."""
        path = Path(_checked_text(user_path)).expanduser()
        if self.hosted and not any(is_inside(path, root) for root in self.readable):
            raise PathOutsideRoot(f"{what} {os.fspath(user_path)!r} is not one of your uploads or saved tokenizers, "
                                  f"and in hosted mode no other server path is read: {instead}.")
        return path

    def check_data_source(self, source: str, what: str = "data.source") -> None:
        """A dataset source: the demo corpus and Hub ids always, a path only as `readable_path` allows."""
        if source != "demo" and not source.startswith(HUB_SOURCE_PREFIX):
            self.readable_path(source, what)

    def check_tokenizer(self, path: str, what: str = "tokenizer.path") -> None:
        """A tokenizer to load: a Hub id always, a folder only as `readable_path` allows."""
        if path and (names_local_path(path) or not is_hub_id(path)):
            self.readable_path(path, what, "use a tokenizer trained or saved in this app, or a Hub id")

    def draft_problems(self, draft: dict) -> list[str]:
        """Each setting of a draft (`RunConfig.to_dict()`, or whatever a client sent in its place) that
        would read a file this policy does not allow, as a sentence."""
        if not self.hosted:
            return []  # a local user may read their own disk; validate() still checks that paths exist
        problems = []
        for check, section, name, default in ((self.check_data_source, "data", "source", "demo"),
                                              (self.check_tokenizer, "tokenizer", "path", "")):
            value = _setting(draft, section, name, default)
            try:
                if not isinstance(value, str):
                    raise UserError(f"{section}.{name} must be text, not {type(value).__name__}.")
                check(value)
            except UserError as exc:
                problems.append(str(exc))
        return problems

    def config_problems(self, cfg: RunConfig) -> list[str]:
        return self.draft_problems(cfg.to_dict())

    def check_config(self, cfg: RunConfig) -> RunConfig:
        problems = self.config_problems(cfg)
        if problems:
            raise ConfigError(problems)
        return cfg


def _setting(draft, section: str, name: str, default):
    part = draft.get(section) if isinstance(draft, dict) else None
    return part.get(name, default) if isinstance(part, dict) else default


LOCAL = AccessPolicy()  # a user on their own machine, the CLI, a training child
_IN_FORCE: ContextVar[AccessPolicy] = ContextVar("clm_gui_access_policy", default=LOCAL)


def in_force() -> AccessPolicy:
    """The policy of the request being served (`enforcing`), else `LOCAL`."""
    return _IN_FORCE.get()


@contextmanager
def enforcing(policy: AccessPolicy) -> Iterator[AccessPolicy]:
    """Every read of a user-given path in this block (this thread, this context) follows `policy`."""
    token = _IN_FORCE.set(policy)
    try:
        yield policy
    finally:
        _IN_FORCE.reset(token)
