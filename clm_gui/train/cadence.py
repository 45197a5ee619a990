"""When a run evaluates and samples: every N steps as set, or, by default, a fixed number of times over the
run's length, whichever of its limits (steps, tokens, minutes) ends it first.

A fixed step interval suits no run length: every 200 steps gave a 600-step run three evaluations, too few
to see the held-out curve turn, and a 100k-step run hundreds. Spread over the budget instead, a run of any
length gets about EVALUATIONS_PER_RUN points, also when the clock ends it and its step count is unknown.

Spread over the clock alone, evaluations were too sparse in steps on a fast GPU and too dear on a CPU: a
10M model on an H100 made 550 steps before its first evaluation after the start, and its held-out loss
had turned by then (the best point was never seen); a 3.7M model on 2 cores spent 45% of its budget on 38
evaluations in 57 steps. So evaluations also come at least every EVALUATION_GAP_STEPS steps, and never
so often that they take more than EVALUATION_COST_SHARE of the run's time.
"""

from __future__ import annotations

import math

from clm_gui.config import AUTO  # train.eval_interval / train.sample_interval: spread over the run

EVALUATIONS_PER_RUN = 40  # enough points to see the held-out curve turn, and to pick its lowest point
SAMPLES_PER_RUN = 8  # samples are for reading: a few along the way, and always one at the end
# The published small-data recipe evaluates every 250 steps; its held-out loss turns after 1,500-3,000.
EVALUATION_GAP_STEPS = 200
EVALUATION_COST_SHARE = 0.1  # of the run's time, at most, spent evaluating


def describe(interval: int, per_run: int) -> str:
    """An interval in words, for a person: "about 40 times over the run", "never", "every 50 steps"."""
    if interval == AUTO:
        return f"about {per_run} times over the run"
    return "never" if interval == 0 else f"every {interval:,} steps"


class Cadence:
    """Whether an evaluation (or a round of samples) is due after a step.

    `used` is the share of the run's budget spent (the trainer's budget_used: of whichever limit ends the
    run first), so that AUTO spreads the events evenly over steps, tokens or minutes alike. With
    `max_gap_steps`, AUTO also makes one after that many steps without one; with `max_cost_share` below 1,
    AUTO skips an event that would make the events' share of the run's seconds larger than that (the
    seconds are the trainer's clock, as `seconds` and `cost`, so tests pass their own).
    """

    def __init__(self, interval: int, per_run: int, max_gap_steps: int = 0, max_cost_share: float = 1.0):
        self.interval, self.per_run = interval, per_run
        self.max_gap_steps, self.max_cost_share = max_gap_steps, max_cost_share
        self.auto = interval == AUTO
        self._done = 0  # AUTO: the share of per_run reached at the last event, in whole events
        self.last_step: int | None = None  # the step of the latest event
        self._last_end, self._last_cost = 0.0, 0.0  # the clock when the latest event ended, and its seconds

    def due(self, step: int, used: float, seconds: float = 0.0) -> bool:
        if not self.auto:
            return self.interval > 0 and step % self.interval == 0
        spread = used * self.per_run >= self._done + 1
        gap = bool(self.max_gap_steps) and step - (self.last_step or 0) >= self.max_gap_steps
        return (spread or gap) and self._affordable(seconds)

    def _affordable(self, seconds: float) -> bool:
        """Whether one more event, as long as the last, keeps the events within max_cost_share of the time."""
        between = seconds - self._last_end
        return self._last_cost <= self.max_cost_share * (between + self._last_cost)

    def mark(self, step: int, used: float, seconds: float = 0.0, cost: float = 0.0) -> None:
        """Record that the event ran after `step`, ending at `seconds` after `cost` seconds (a resumed run
        counts from where its budget stands)."""
        self.last_step, self._last_end, self._last_cost = step, seconds, cost
        self._done = max(self._done + 1, math.floor(used * self.per_run))

    def owed_at_end(self, step: int) -> bool:
        """Whether the run's last step still needs the event: every run that has it ends with one."""
        return self.interval != 0 and self.last_step != step
