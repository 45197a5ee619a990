"""Checkpoints: `checkpoints/step-N` in the run folder, everything a run needs to continue exactly.

A checkpoint is written under a temporary name and renamed once every file is on disk (and a COMPLETE
marker written last), so a kill or a full disk mid-write never leaves a folder that looks whole. Only
the newest `keep` checkpoints stay.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from clm_gui.errors import UserError
from clm_gui.files import TMP_PREFIX, remove_tree
from clm_gui.runs.faults import save_failed_message
from clm_gui.runs.folder import RunDir

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
    try:
        write_checkpoint(tmp, checkpoint, model_config)
        remove_tree(final)
        os.replace(tmp, final)
    except BaseException as exc:
        remove_tree(tmp)
        if isinstance(exc, OSError):  # a full disk ends the run with a message, not a traceback
            raise UserError(save_failed_message(exc, f"the checkpoint at step {checkpoint.step}",
                                                run.latest_checkpoint())) from None
        raise
    for _, old in run.checkpoints()[:-keep]:
        remove_tree(old)


def write_checkpoint(folder: Path, checkpoint: Checkpoint, model_config) -> None:
    """Write the checkpoint's files into a new `folder`, each synced to disk, COMPLETE last."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    save_file({k: v.detach().contiguous().cpu() for k, v in checkpoint.weights.items()},
              str(folder / "model.safetensors"))
    torch.save(checkpoint.optimizer_state, folder / "optimizer.pt")
    torch.save(checkpoint.rng, folder / "rng.pt")
    if checkpoint.average is not None:
        save_file({k: v.detach().contiguous().cpu() for k, v in checkpoint.average["tensors"].items()},
                  str(folder / AVERAGE_FILE), metadata={"updates": str(checkpoint.average["updates"])})
    (folder / "trainer_state.json").write_text(json.dumps(checkpoint.trainer_state, indent=1))
    model_config.save_pretrained(str(folder))
    for f in folder.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    (folder / "COMPLETE").write_text("ok")


def read_checkpoint(path: Path, optimizer_device: torch.device | str) -> Checkpoint:
    """Read a checkpoint folder: weights on the CPU, the optimizer's state on `optimizer_device`."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    average = None
    if (path / AVERAGE_FILE).is_file():
        with safe_open(str(path / AVERAGE_FILE), "pt", device="cpu") as f:
            average = {"updates": int(f.metadata()["updates"]), "tensors": {k: f.get_tensor(k) for k in f.keys()}}
    return Checkpoint(
        weights=load_file(str(path / "model.safetensors"), device="cpu"),
        optimizer_state=torch.load(path / "optimizer.pt", map_location=optimizer_device, weights_only=True),
        trainer_state=json.loads((path / "trainer_state.json").read_text()),
        rng=torch.load(path / "rng.pt", weights_only=False),
        average=average,
    )
