"""The run folder: the on-disk truth about a run.

```
runs/<run-id>/
  config.yaml          the RunConfig, written before training starts
  status.json          state, message, step, pid (rewritten atomically)
  metrics.jsonl        one JSON object per logged step or eval (append-only)
  samples.jsonl        generations from the sample prompts during training
  tokenizer/           the tokenizer used (Hugging Face format)
  checkpoints/step-N/  resumable state; written as .tmp-step-N and renamed when complete
  final/               save_pretrained model + tokenizer + model card
  STOP                 present while a stop is asked for: every rank stops at its next step
  cache-folder         hosted: the name of its owner's folder under runs/.token-cache (hosting/access.py)
  notes.json           the display name and notes its user gave it (runs/notes.py)
```
Everything a page reload, a second browser or an app restart needs is read back from here.

Beside the run folders, the runs folder (the "runs root") keeps the app's own hidden folders and files;
a run id never starts with a dot, so none is ever taken for a run:
```
runs/.uploads/                 uploaded datasets (`UPLOADS_DIR`, kept in data/uploads.py: the data layer,
                               below this one, finds an upload by it)
runs/.tokenizers/              tokenizers saved in the Tokenizer tab
runs/.quickstart-tokenizers/   tokenizers Quick start trained
runs/.token-cache/             tokenised training data, kept for later runs on the same data
runs/.drafts/                  config.yaml files the Train tab offers for download
runs/.training.lock            held while a run trains (jobs/run_lock.py), its holder in .training.lock.json
```
Hosted, each of the first four holds one folder per visitor (hosting/access.py). A saved model folder
(final/, a checkpoint, best/) holds `WEIGHTS_FILE` and `MODEL_CONFIG_FILE`; a checkpoint is complete once
its `COMPLETE_MARKER` is written.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from clm_gui.config import RunConfig, load_config
from clm_gui.errors import UserError
from clm_gui.files import append_jsonl, atomic_write_text, overwrite_in_place, read_jsonl
from clm_gui.runs.faults import is_disk_full

STATES = ("queued", "running", "stopping", "stopped", "finished", "failed", "interrupted")
ACTIVE_STATES = ("queued", "running", "stopping")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_CHECKPOINT = re.compile(r"^step-(\d+)$")
STOP_FILE = "STOP"  # created in the run folder to ask every rank to stop at the next step
SAVED_TOKENIZERS_DIR = ".tokenizers"
QUICKSTART_TOKENIZERS_DIR = ".quickstart-tokenizers"
TOKEN_CACHE_DIR = ".token-cache"  # tokenised training data, kept for later runs on the same data
DRAFTS_DIR = ".drafts"
TRAINING_LOCK_FILE = ".training.lock"
TRAINING_LOCK_HOLDER_FILE = ".training.lock.json"
WEIGHTS_FILE = "model.safetensors"
MODEL_CONFIG_FILE = "config.json"  # written last of a saved model's files (save_pretrained)
COMPLETE_MARKER = "COMPLETE"  # written last into a checkpoint folder
CACHE_FOLDER_FILE = "cache-folder"


def check_run_id(run_id: str) -> str:
    if not _RUN_ID.match(run_id or "") or ".." in run_id:
        raise UserError(
            f"{run_id!r} is not a valid run id: use letters, digits, '.', '_' and '-' only "
            "(no slashes), at most 100 characters."
        )
    return run_id


def slugify(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:60]
    return slug or "run"


@dataclass(frozen=True)
class RunDir:
    """Paths and records of one run folder."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    config_path = property(lambda self: self.path / "config.yaml")
    status_path = property(lambda self: self.path / "status.json")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    samples_path = property(lambda self: self.path / "samples.jsonl")
    tokenizer_dir = property(lambda self: self.path / "tokenizer")
    checkpoints_dir = property(lambda self: self.path / "checkpoints")
    final_dir = property(lambda self: self.path / "final")
    best_dir = property(lambda self: self.path / "best")  # the best evaluated weights (see best_model.py)
    log_path = property(lambda self: self.path / "train.log")
    stop_path = property(lambda self: self.path / STOP_FILE)

    def exists(self) -> bool:
        return self.config_path.is_file()

    def has_final_model(self) -> bool:
        """Whether final/ holds a finished model (its config.json is written last of its files)."""
        return (self.final_dir / MODEL_CONFIG_FILE).is_file()

    @property
    def token_cache_dir(self) -> Path:
        """Where this run keeps its tokenised data: its owner's cache folder when one is recorded (hosted,
        so that the cache counts against their storage), else the runs folder's shared one."""
        shared = self.path.parent / TOKEN_CACHE_DIR
        try:
            name = (self.path / CACHE_FOLDER_FILE).read_text(encoding="utf-8").strip()
        except OSError:
            return shared
        return shared / check_run_id(name)

    def record_cache_folder(self, name: str) -> None:
        atomic_write_text(self.path / CACHE_FOLDER_FILE, check_run_id(name))

    def load_config(self) -> RunConfig:
        return load_config(self.config_path)

    # --- status -------------------------------------------------------------------------------
    def read_status(self) -> dict:
        try:
            return json.loads(self.status_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {"state": "queued" if self.exists() else "unknown", "message": "", "step": 0}

    def write_status(self, state: str, message: str = "", **extra) -> dict:
        assert state in STATES, state
        status = {**self.read_status(), **extra, "state": state, "message": message, "updated": time.time()}
        text = json.dumps(status, indent=1)
        try:
            atomic_write_text(self.status_path, text)
        except OSError as exc:
            if not (is_disk_full(exc) and self.status_path.is_file()):
                raise
            # No room for a new copy, but the old one's blocks can hold the new state: a run that ends on
            # a full disk must not stay "running".
            overwrite_in_place(self.status_path, text)
        return status

    # --- records ------------------------------------------------------------------------------
    def append_metrics(self, record: dict) -> None:
        append_jsonl(self.metrics_path, record)

    def read_metrics(self) -> list[dict]:
        """Every record as logged, those a resume superseded included (`monitor.current_metrics` drops them)."""
        return read_jsonl(self.metrics_path)

    def append_sample(self, record: dict) -> None:
        append_jsonl(self.samples_path, record)

    def read_samples(self) -> list[dict]:
        return read_jsonl(self.samples_path)

    # --- checkpoints --------------------------------------------------------------------------
    def checkpoint_dir(self, step: int) -> Path:
        return self.checkpoints_dir / f"step-{step}"

    def checkpoints(self) -> list[tuple[int, Path]]:
        """Complete checkpoints, oldest first. Temporary (half-written) folders are never listed."""
        if not self.checkpoints_dir.is_dir():
            return []
        found = []
        for child in self.checkpoints_dir.iterdir():
            match = _CHECKPOINT.match(child.name)
            if match and (child / COMPLETE_MARKER).is_file():
                found.append((int(match.group(1)), child))
        return sorted(found)

    def latest_checkpoint(self) -> Path | None:
        found = self.checkpoints()
        return found[-1][1] if found else None


def new_run_dir(runs_root: Path, cfg: RunConfig) -> RunDir:
    """Create a fresh run folder with `config.yaml` written first."""
    runs_root.mkdir(parents=True, exist_ok=True)
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{slugify(cfg.name or cfg.model.family)}"
    run_id, n = base, 1
    while (runs_root / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    run = RunDir(runs_root / run_id)
    run.path.mkdir()
    cfg.save(run.config_path)
    run.write_status("queued", "Waiting to start.", step=0)
    return run


def open_run(runs_root: Path, run_id: str) -> RunDir:
    run = RunDir(Path(runs_root) / check_run_id(run_id))
    if not run.exists():
        raise UserError(f"There is no run {run_id!r} (it may have been deleted): pick one from the list.")
    return run


def list_runs(runs_root: Path) -> list[RunDir]:
    """Every run under the root, newest first."""
    if not Path(runs_root).is_dir():
        return []
    runs = [RunDir(p) for p in Path(runs_root).iterdir() if p.is_dir() and (p / "config.yaml").is_file()]
    return sorted(runs, key=lambda r: r.config_path.stat().st_mtime, reverse=True)
