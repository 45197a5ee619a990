"""Who may control a run: its owner, an admin, or, on a local machine, its one user.

A run records who started it in `owner.json`: a logged-in user (`--auth`, or Hugging Face sign-in on a
Space) or, for a visitor who did not log in, their browser: a random token kept in that browser, of
which only a hash is written, so the file never holds what would let someone act as that browser. In
hosted mode only the owner, or an admin named at launch, may stop, resume, delete or export a run;
everyone else watches its charts and samples. Locally every visitor is the machine's user, who may do
everything, as before. A run without `owner.json` (trained from the command line) belongs to the
machine: in hosted mode only an admin controls it.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from clm_gui.errors import UserError
from clm_gui.files import atomic_write_text
from clm_gui.runs.folder import RunDir, list_runs

OWNER_FILE = "owner.json"
MACHINE = "machine"  # the owner of command-line runs, and of every run on a local machine


class NotOwner(UserError):
    """A visitor asked to control a run that is not theirs."""


@dataclass(frozen=True)
class Visitor:
    key: str  # what owner.json records: "user:NAME", "browser:HASH" or "machine"
    name: str  # how messages name them: a user name, "a visitor", the machine's user
    admin: bool = False  # may control every run, and no quota applies

    @property
    def folder_name(self) -> str:
        """A file-system-safe name for what this visitor keeps (their uploads)."""
        return hashlib.sha256(self.key.encode()).hexdigest()[:16]


def machine_user() -> Visitor:
    return Visitor(MACHINE, getpass.getuser(), admin=True)


def new_browser_token() -> str:
    return secrets.token_urlsafe(24)  # 192 random bits: nobody guesses another browser's token


def visitor_for(hosted: bool, admins: Iterable[str], username: str | None, browser_token: str | None) -> Visitor | None:
    """Who is asking. Locally: the machine's user. Hosted: the logged-in user, else the browser, else
    nobody (None: a page that has not received its browser token yet, or a client that sent none)."""
    if not hosted:
        return machine_user()
    if username:
        return Visitor(f"user:{username}", username, admin=username in set(admins))
    if browser_token:
        return Visitor(f"browser:{hashlib.sha256(browser_token.encode()).hexdigest()[:32]}", "a visitor")
    return None


def require_visitor(visitor: Visitor | None) -> Visitor:
    if visitor is None:
        raise NotOwner("This page does not know who you are yet (it has no browser session): reload the page, "
                       "with cookies and site data allowed, then try again.")
    return visitor


def record_owner(run: RunDir, visitor: Visitor) -> None:
    """Written right after the run folder is created, before training starts."""
    shown = visitor.name if visitor.key.startswith("user:") else ""
    atomic_write_text(run.path / OWNER_FILE, json.dumps({"owner": visitor.key, "name": shown}))


def _owner_record(run: RunDir) -> dict:
    try:
        record = json.loads((run.path / OWNER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"owner": MACHINE}
    return record if isinstance(record, dict) and record.get("owner") else {"owner": MACHINE}


def owner_of(run: RunDir) -> str:
    return _owner_record(run)["owner"]


def owner_label(run: RunDir) -> str:
    """The owner as someone else may see it: a user name, never a browser's hash."""
    record = _owner_record(run)
    if record["owner"] == MACHINE:
        return "the machine's administrator (command line)"
    return record.get("name") or "another visitor"


def may_control(visitor: Visitor | None, run: RunDir) -> bool:
    return visitor is not None and (visitor.admin or owner_of(run) == visitor.key)


def check_control(visitor: Visitor | None, run: RunDir, action: str) -> Visitor:
    """The visitor, when they may `action` ("stop", "resume", ...) the run; else `NotOwner` saying why."""
    visitor = require_visitor(visitor)
    if not may_control(visitor, run):
        raise NotOwner(control_refusal(run, action))
    return visitor


def control_refusal(run: RunDir, action: str) -> str:
    return (f"Only whoever started the run {run.id} ({owner_label(run)}) or an admin may {action} it; "
            "you can watch its charts and samples. Start a run of your own to control it.")


def runs_owned_by(runs_root: Path, visitor: Visitor) -> list[RunDir]:
    return [run for run in list_runs(runs_root) if owner_of(run) == visitor.key]
