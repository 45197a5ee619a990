"""When a run evaluates and samples: every N steps as set, or, by default, a fixed number of times over the
run's length, whichever of its limits (steps, tokens, minutes) ends it first.

A fixed step interval suits no run length: every 200 steps gave a 600-step run three evaluations, too few
to see the held-out curve turn, and a 100k-step run hundreds. Spread over the budget instead, a run of any
length gets about EVALUATIONS_PER_RUN points, also when the clock ends it and its step count is unknown.
"""

from __future__ import annotations

import math

from clm_gui.config import AUTO  # train.eval_interval / train.sample_interval: spread over the run

EVALUATIONS_PER_RUN = 40  # enough points to see the held-out curve turn, and to pick its lowest point
SAMPLES_PER_RUN = 8  # samples are for reading: a few along the way, and always one at the end


def describe(interval: int, per_run: int) -> str:
    """An interval in words, for a person: "about 40 times over the run", "never", "every 50 steps"."""
    if interval == AUTO:
        return f"about {per_run} times over the run"
    return "never" if interval == 0 else f"every {interval:,} steps"


class Cadence:
    """Whether an evaluation (or a round of samples) is due after a step.

    `used` is the share of the run's budget spent (the trainer's budget_used: of whichever limit ends the
    run first), so that AUTO spreads the events evenly over steps, tokens or minutes alike.
    """

    def __init__(self, interval: int, per_run: int):
        self.interval, self.per_run = interval, per_run
        self.auto = interval == AUTO
        self._done = 0  # AUTO: the share of per_run reached at the last event, in whole events
        self.last_step: int | None = None  # the step of the latest event

    def due(self, step: int, used: float) -> bool:
        if self.auto:
            return used * self.per_run >= self._done + 1
        return self.interval > 0 and step % self.interval == 0

    def mark(self, step: int, used: float) -> None:
        """Record that the event ran after `step` (a resumed run counts from where its budget stands)."""
        self.last_step = step
        self._done = max(self._done + 1, math.floor(used * self.per_run))

    def owed_at_end(self, step: int) -> bool:
        """Whether the run's last step still needs the event: every run that has it ends with one."""
        return self.interval != 0 and self.last_step != step
