"""A step gate: holds a training run at a step the test chooses, however fast the machine trains.

The trainer reads the gate file named by CLM_GUI_STEP_GATE before every step
(`clm_gui.train.step_gate.wait_at_step_gate`), in this process or in a child (the app's training
processes inherit the environment). A test that must act while a run is still training (stop it, kill
it, watch it grow) opens the gate up to a step, waits until the run is held there, acts, and opens the
gate further; no step count races a sleep.
"""

from __future__ import annotations

import sys
from pathlib import Path

from clm_gui.files import atomic_write_text
from clm_gui.train.step_gate import STEP_GATE_ENV
from tests.waiting import WAIT_S, wait_for


class StepGate:
    def __init__(self, folder: Path):
        self.path = Path(folder) / "step-gate"
        self.held_path = Path(f"{self.path}.held")  # written by the trainer while it waits at the gate

    @property
    def env(self) -> dict[str, str]:
        """The environment entry that puts a training process behind this gate."""
        return {STEP_GATE_ENV: str(self.path)}

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
