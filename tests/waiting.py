"""How long a test waits, and the one way it waits for a condition.

Every bound here is a guard against a hang, never a speed requirement (tests never depend on how fast the
machine is): each is long enough for a busy 2-core machine, and a test that meets its condition sooner
goes on at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

WAIT_S = 300  # s: a few tiny runs, a held run reaching its gate, a child process ending
UI_WAIT = 30_000  # ms (Playwright's unit): a page update
TRAIN_WAIT = 600_000  # ms: a training watched in the page
GENERATE_WAIT = 300_000  # ms: loading a model and generating with it in the page

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float = WAIT_S, what: str = "the condition",
             every: float = 0.1) -> T:
    """Poll `condition` until it returns a true value, and return that value; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)
