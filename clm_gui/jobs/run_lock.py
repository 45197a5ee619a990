"""One training at a time per runs folder, however it was started: a file lock that every trainer holds.

The app, `python -m clm_gui train`, `quickstart` and rank 0 of every `accelerate` / `torchrun` launch
take `<runs>/.training.lock` before they create or change a run folder, and hold it until training ends.
It is a kernel lock (flock, through the `filelock` package): the kernel drops it when its process dies,
however it dies, so a kill -9 never leaves the runs folder locked. Beside it, `.training.lock.json`
names the holder (its run and process), so that a refusal can say which run trains. A killed holder
leaves that note behind; whoever finds the lock free again knows the note is stale and clears it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from clm_gui.errors import UserError
from clm_gui.files import atomic_write_text
from clm_gui.runs.folder import TRAINING_LOCK_FILE, TRAINING_LOCK_HOLDER_FILE

# A trainer waits this long for the lock before it gives up: long enough to ride over another process
# merely looking whether the lock is free (`TrainingLock.holder` takes it for an instant), far shorter
# than any training.
ACQUIRE_WAIT_S = 5.0


class TrainingBusy(UserError):
    """Another process holds the runs folder's training lock."""


@dataclass(frozen=True)
class Holder:
    """Who holds the lock: a run id (empty while its folder is being prepared) and a process id."""

    run_id: str
    pid: int

    def busy_message(self) -> str:
        what = f"The run {self.run_id}" if self.run_id else "A new run, still being prepared,"
        return (f"{what} is training in this runs folder (process {self.pid}); only one training runs at a "
                "time on this machine, whether it was started from the app or the command line. Stop it "
                "(it keeps a checkpoint you can resume), or wait for it to finish.")


class TrainingLock:
    """The training lock of one runs folder. `acquire` or refuse; `release` (or leave the `with`) when done."""

    def __init__(self, runs_root: Path):
        self.root = Path(runs_root)
        self.lock_path, self.holder_path = self.root / TRAINING_LOCK_FILE, self.root / TRAINING_LOCK_HOLDER_FILE
        self._lock = FileLock(self.lock_path)

    def acquire(self, run_id: str = "") -> TrainingLock:
        """Take the lock for this process, or raise `TrainingBusy` naming the run that holds it."""
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=ACQUIRE_WAIT_S)
        except Timeout:
            raise TrainingBusy(self._note_or_unknown().busy_message()) from None
        self.name_run(run_id)
        return self

    def name_run(self, run_id: str) -> None:
        """Say which run this holder trains (once its folder exists)."""
        atomic_write_text(self.holder_path, json.dumps(asdict(Holder(run_id, os.getpid()))))

    def release(self) -> None:
        if self._lock.is_locked:
            self.holder_path.unlink(missing_ok=True)
            self._lock.release()

    def __enter__(self) -> TrainingLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def holder(self) -> Holder | None:
        """Who trains now, or None when the lock is free; a stale note (its holder was killed) is cleared."""
        probe = FileLock(self.lock_path)
        try:
            probe.acquire(timeout=0)
        except Timeout:
            return self._note_or_unknown()
        try:
            self.holder_path.unlink(missing_ok=True)  # the lock is free, so whoever wrote the note is gone
        finally:
            probe.release()
        return None

    def _note_or_unknown(self) -> Holder:
        try:
            return Holder(**json.loads(self.holder_path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return Holder("", 0)  # taken a moment ago: its note is not written yet
