"""The learning-rate schedule: linear warm-up, then a cosine or linear decay over the run's budget, which
is whichever of its limits (steps, tokens, minutes) ends it first; and when that budget's clock started."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

LAUNCHED_AT_ENV = "CLM_GUI_LAUNCHED_AT"  # when the app started a training process (time.time())
# A plateau's anneal lasts this share of the steps before it: the cooldown length of warmup-stable-decay
# schedules (Hagele et al. 2024 found 10-20% of the run enough to match a full cosine).
COOLDOWN_SHARE = 0.2


def launched_at(now: float) -> float:
    """When this training started for its user: the app's launch of this process, or `now` (the trainer's
    clock) when nothing launched it."""
    try:
        return min(float(os.environ.get(LAUNCHED_AT_ENV, "")), now)
    except ValueError:
        return now


def budget_used(cfg, step: int, tokens: int, seconds: float) -> float:
    """How much of the run's budget is spent, 0 to 1: of whichever limit (steps, tokens, minutes) comes
    first, so that the learning rate has decayed when a time-limited run ends, however fast it went."""
    shares = [step / cfg.max_steps if cfg.max_steps else 0.0, tokens / cfg.max_tokens if cfg.max_tokens else 0.0,
              seconds / (cfg.max_minutes * 60) if cfg.max_minutes else 0.0]
    return min(1.0, max(shares))


def lr_at(step: int, cfg, used: float | None = None) -> float:
    """Linear warm-up, then cosine / linear decay to min_lr_ratio over the rest of the budget, or constant.
    `used`: the share of the budget spent (budget_used); by default, of the steps."""
    peak, floor = cfg.learning_rate, cfg.learning_rate * cfg.min_lr_ratio
    if step < cfg.warmup_steps:
        return peak * (step + 1) / cfg.warmup_steps
    if used is None:
        if cfg.max_steps <= cfg.warmup_steps:
            return peak
        used = step / cfg.max_steps
    if cfg.schedule == "constant" or used <= 0:
        return peak
    # The decay spans the budget after warm-up: progress 0 at the end of warm-up, 1 at the budget's end.
    warmup = cfg.warmup_steps / cfg.max_steps if cfg.max_steps else 0.0
    progress = min(1.0, max(0.0, (used - warmup) / (1 - warmup))) if warmup < 1 else 1.0
    if cfg.schedule == "linear":
        return floor + (peak - floor) * (1 - progress)
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class Cooldown:
    """Early stopping's first call on a run whose learning rate is still well above its floor: instead of
    stopping, the rate falls linearly from where it was to the floor over `steps`. A run stopped at a high
    rate stops before the anneal, which is where a decaying schedule gains most (on the GPU small-data
    bench the held-out loss flattened at half the peak rate, halfway through the planned decay)."""

    start: int
    start_lr: float
    steps: int

    def lr_at(self, step: int, scheduled: float, floor: float) -> float:
        """The rate at `step`: the anneal's, never above what the schedule itself says by then."""
        progress = min(1.0, (step - self.start) / self.steps)
        return min(scheduled, self.start_lr + (floor - self.start_lr) * progress)

    @classmethod
    def starting(cls, step: int, lr: float) -> Cooldown:
        return cls(step, lr, max(1, round(COOLDOWN_SHARE * step)))


def worth_annealing(lr: float, cfg) -> bool:
    """Whether a run at `lr` that stopped improving should anneal before it stops: its rate is more than twice
    its floor (a run already near the end of its decay stops early, as it always did)."""
    return lr > 2 * cfg.learning_rate * cfg.min_lr_ratio
