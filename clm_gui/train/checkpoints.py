"""Checkpoints: `checkpoints/step-N` in the run folder, everything a run needs to continue exactly.

A checkpoint is written under a temporary name and renamed once every file is on disk (and a COMPLETE
marker written last), so a kill or a full disk mid-write never leaves a folder that looks whole. Only
the newest `keep` checkpoints stay. A checkpoint damaged afterwards (a truncated file under its COMPLETE
marker) is passed over on resume for the newest one that reads whole.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from clm_gui.errors import UserError, first_line
from clm_gui.files import TMP_PREFIX, remove_tree
from clm_gui.runs.faults import reported_save_failure
from clm_gui.runs.folder import COMPLETE_MARKER, WEIGHTS_FILE, RunDir

AVERAGE_FILE = "average.safetensors"  # the weight average (train.ema_decay), beside the weights it follows


@dataclass
class Checkpoint:
    """The whole model's weights (a tied head stored once), the optimizer's state, the trainer's
    progress (`trainer_state.json`: step, tokens, elapsed seconds, data position, config, best model),
    every random generator's state, and the weight average's state when the run keeps one."""

    weights: dict
    optimizer_state: dict
    trainer_state: dict
    rng: dict
    average: dict | None = None  # WeightAverage.state_dict(): {"updates": n, "tensors": {name: tensor}}

    @property
    def step(self) -> int:
        return self.trainer_state["step"]


def rng_state(device: torch.device) -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def restore_rng(rng: dict, device: torch.device) -> None:
    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    torch.set_rng_state(rng["torch"])
    if device.type == "cuda" and rng.get("cuda") is not None:
        torch.cuda.set_rng_state(rng["cuda"], device)


def save(run: RunDir, checkpoint: Checkpoint, model_config, keep: int) -> None:
    """Write checkpoints/step-N atomically and drop all but the newest `keep`; a failed write (a full
    disk) raises a UserError that says the previous checkpoint is intact."""
    final = run.checkpoint_dir(checkpoint.step)
    tmp = final.with_name(TMP_PREFIX + final.name)
    remove_tree(tmp)
    with reported_save_failure(f"the checkpoint at step {checkpoint.step}", run.latest_checkpoint):
        try:
            write_checkpoint(tmp, checkpoint, model_config)
            remove_tree(final)
            os.replace(tmp, final)
        except BaseException:
            remove_tree(tmp)  # a half-written checkpoint never stays, and its space is freed
            raise
    for _, old in run.checkpoints()[:-keep]:
        remove_tree(old)


def write_checkpoint(folder: Path, checkpoint: Checkpoint, model_config) -> None:
    """Write the checkpoint's files into a new `folder`, each synced to disk, COMPLETE last."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    save_file({k: v.detach().contiguous().cpu() for k, v in checkpoint.weights.items()},
              str(folder / WEIGHTS_FILE))
    for name, state in (("optimizer.pt", checkpoint.optimizer_state), ("rng.pt", checkpoint.rng)):
        # Into an open file, not a path: given a path, torch's own writer reports a full disk only as
        # "unexpected pos" (an iostream error); through a Python file the OSError(ENOSPC) comes along.
        with open(folder / name, "wb") as f:
            torch.save(state, f)
    if checkpoint.average is not None:
        save_file({k: v.detach().contiguous().cpu() for k, v in checkpoint.average["tensors"].items()},
                  str(folder / AVERAGE_FILE), metadata={"updates": str(checkpoint.average["updates"])})
    (folder / "trainer_state.json").write_text(json.dumps(checkpoint.trainer_state, indent=1))
    model_config.save_pretrained(str(folder))
    for f in folder.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    (folder / COMPLETE_MARKER).write_text("ok")


class DamagedCheckpoint(Exception):
    """A file of a complete checkpoint cannot be read (truncated or corrupt after it was written)."""


def read_checkpoint(path: Path, optimizer_device: torch.device | str) -> Checkpoint:
    """Read a checkpoint folder: weights on the CPU, the optimizer's state on `optimizer_device`. A file
    that cannot be read raises DamagedCheckpoint naming it."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    def read(name: str, reader):
        try:
            return reader(path / name)
        except (MemoryError, torch.OutOfMemoryError):
            raise  # the machine, not the file
        except Exception as exc:  # noqa: BLE001 - safetensors, torch.load and json each fail in their own type
            raise DamagedCheckpoint(f"{name}: {first_line(exc)}") from exc

    def read_average(f: Path) -> dict:
        with safe_open(str(f), "pt", device="cpu") as opened:
            return {"updates": int(opened.metadata()["updates"]),
                    "tensors": {k: opened.get_tensor(k) for k in opened.keys()}}

    return Checkpoint(
        weights=read(WEIGHTS_FILE, lambda f: load_file(str(f), device="cpu")),
        optimizer_state=read("optimizer.pt", lambda f: torch.load(f, map_location=optimizer_device, weights_only=True)),
        trainer_state=read("trainer_state.json", lambda f: json.loads(f.read_text())),
        rng=read("rng.pt", lambda f: torch.load(f, weights_only=False)),
        average=read(AVERAGE_FILE, read_average) if (path / AVERAGE_FILE).is_file() else None,
    )


def read_newest_intact(run: RunDir, optimizer_device: torch.device | str) -> tuple[Checkpoint, Path, list[str]] | None:
    """The newest checkpoint that reads whole, its folder, and each newer one passed over with the reason
    (`step-30 (model.safetensors: invalid header length)`); None when the run has none. Raises a UserError
    when every one is damaged."""
    damaged = []
    for _, path in reversed(run.checkpoints()):
        try:
            return read_checkpoint(path, optimizer_device), path, damaged
        except DamagedCheckpoint as exc:
            damaged.append(f"{path.name} ({exc})")
    if damaged:
        raise UserError(f"No checkpoint of the run {run.id} can be read: {'; '.join(damaged)}. "
                        "Start the run again.")
    return None
