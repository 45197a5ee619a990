"""Tests: hold a run before a given step, in this process or in a child, however fast the machine trains.

A test writes a step number into the file named by CLM_GUI_STEP_GATE (tests/step_gate.py does it); the
trainer waits at each step until the number allows it on (`wait_at_step_gate`). Unset, it costs one
environment lookup a step.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from clm_gui.errors import UserError
from clm_gui.files import atomic_write_text

STEP_GATE_ENV = "CLM_GUI_STEP_GATE"  # PATH holds the last step the run may train
STEP_GATE_GIVE_UP_S = 900  # a gate nobody opens (its test died) fails the run instead of holding it forever


def wait_at_step_gate(step: int, is_main: bool = True) -> None:
    """Tests: hold the run before step `step + 1` while the file named by CLM_GUI_STEP_GATE holds a number
    at most `step` (a missing file holds it before the first step).

    A test can then stop, kill or inspect a run at a known step, in this process or in a child, however
    fast the machine trains: the test opens the gate further by writing a larger number. While held, rank
    0 writes the step it waits at to PATH.held. The gate is read before the stop request, so a stop made
    while the run is held is taken at exactly that step.
    """
    path = os.environ.get(STEP_GATE_ENV)
    if not path:
        return
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
