"""A step gate: holds a training run at a step the test chooses, however fast the machine trains.

The trainer calls the function its environment names before every step (`clm_gui.train.step_hook`); a
gate's environment names `wait_at_step_gate` below, which reads the gate file, in this process or in a
child (the app's training processes inherit the environment). A test that must act while a run is still training (stop it, kill
it, watch it grow) opens the gate up to a step, waits until the run is held there, acts, and opens the
gate further; no step count races a sleep.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from clm_gui.errors import UserError
from clm_gui.files import atomic_write_text
from clm_gui.train.step_hook import BEFORE_STEP_ENV
from tests.waiting import WAIT_S, wait_for

REPO = Path(__file__).resolve().parents[1]
STEP_GATE_ENV = "CLM_GUI_STEP_GATE"  # PATH holds the last step the run may train
STEP_GATE_GIVE_UP_S = 900  # a gate nobody opens (its test died) fails the run instead of holding it forever


def wait_at_step_gate(step: int) -> None:
    """The trainer's hook: hold the run before step `step + 1` while the file named by CLM_GUI_STEP_GATE
    holds a number at most `step` (a missing file holds it before the first step).

    While held, the first process (RANK 0, or the only one) writes the step it waits at to PATH.held. The
    gate is read before the stop request, so a stop made while the run is held is taken at exactly that step.
    """
    path = os.environ.get(STEP_GATE_ENV)
    if not path:
        return
    is_main = os.environ.get("RANK", "0") == "0"
    gate, held = Path(path), Path(f"{path}.held")
    give_up = time.monotonic() + STEP_GATE_GIVE_UP_S
    while _gate_limit(gate) <= step:
        if is_main and not held.exists():
            atomic_write_text(held, str(step))
        if time.monotonic() > give_up:
            raise UserError(f"{STEP_GATE_ENV} held the run at step {step} and nobody opened the gate.")
        time.sleep(0.02)
    if is_main:
        held.unlink(missing_ok=True)


def _gate_limit(gate: Path) -> int:
    try:
        return int(gate.read_text())
    except (OSError, ValueError):  # not written yet: hold
        return 0


class StepGate:
    def __init__(self, folder: Path):
        self.path = Path(folder) / "step-gate"
        self.held_path = Path(f"{self.path}.held")  # written by the trainer while it waits at the gate

    @property
    def env(self) -> dict[str, str]:
        """The environment entries that put a training process behind this gate, wherever it runs from."""
        paths = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
        return {BEFORE_STEP_ENV: f"{__name__}:wait_at_step_gate", STEP_GATE_ENV: str(self.path),
                "PYTHONPATH": os.pathsep.join(paths)}

    def open_until(self, step: int) -> None:
        """Let the run train up to and including `step`, then hold it there (before the next step)."""
        atomic_write_text(self.path, str(step))

    def open(self) -> None:
        """Let the run train to its end."""
        self.open_until(sys.maxsize)

    def held_at(self) -> int | None:
        """The step the run is held after, or None while it trains (or has not reached the gate)."""
        try:
            return int(self.held_path.read_text())
        except (OSError, ValueError):
            return None

    def wait_held_at(self, step: int, timeout: float = WAIT_S) -> None:
        wait_for(lambda: self.held_at() == step, timeout, f"the run to be held at step {step}", every=0.05)
