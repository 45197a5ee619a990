"""A plateau's anneal (schedule.Cooldown): from the rate where the held-out loss stopped improving to the floor."""

from __future__ import annotations

import pytest

from clm_gui.config import TrainConfig
from clm_gui.train.schedule import COOLDOWN_SHARE, Cooldown, worth_annealing


def test_the_anneal_falls_linearly_to_the_floor_over_a_share_of_the_steps_before_it():
    cooldown = Cooldown.starting(step=1_000, lr=6e-4)
    assert cooldown.steps == round(COOLDOWN_SHARE * 1_000)
    floor = 1e-4
    assert cooldown.lr_at(1_000, scheduled=6e-4, floor=floor) == pytest.approx(6e-4)
    assert cooldown.lr_at(1_000 + cooldown.steps // 2, scheduled=5.9e-4, floor=floor) == pytest.approx(3.5e-4)
    assert cooldown.lr_at(1_000 + cooldown.steps, scheduled=5.8e-4, floor=floor) == pytest.approx(floor)
    assert cooldown.lr_at(5_000, scheduled=2e-4, floor=floor) == pytest.approx(floor)  # it stays at the floor


def test_the_anneal_never_rises_above_the_schedule():
    cooldown = Cooldown.starting(step=100, lr=6e-4)
    assert cooldown.lr_at(101, scheduled=2e-4, floor=1e-4) == pytest.approx(2e-4)


def test_only_a_rate_well_above_its_floor_is_worth_annealing():
    train = TrainConfig(learning_rate=1e-3, min_lr_ratio=0.1)
    assert worth_annealing(5e-4, train) and not worth_annealing(2e-4, train)
    assert not worth_annealing(1e-3, TrainConfig(learning_rate=1e-3, min_lr_ratio=0.5))
    assert worth_annealing(1e-5, TrainConfig(learning_rate=1e-3, min_lr_ratio=0.0))
