"""The learning-rate schedule spans whichever budget ends the run first: steps, tokens or minutes."""

import pytest

from clm_gui.config import TrainConfig
from clm_gui.train.schedule import budget_used, lr_at


def test_a_step_limited_schedule_warms_up_then_decays_to_its_floor_at_the_last_step():
    cfg = TrainConfig(max_steps=100, warmup_steps=10, learning_rate=1e-3, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(1e-4)
    assert lr_at(10, cfg) == pytest.approx(1e-3)
    assert lr_at(55, cfg) == pytest.approx(0.55e-3)  # half-way through the decay of a cosine
    assert lr_at(100, cfg) == pytest.approx(1e-4)
    assert lr_at(55, cfg, budget_used(cfg, 55, 0, 0.0)) == lr_at(55, cfg)


def test_a_time_limited_run_decays_with_the_clock_whatever_its_step_limit():
    cfg = TrainConfig(max_steps=1_000_000, max_minutes=10, warmup_steps=10, learning_rate=1e-3, min_lr_ratio=0.1)
    assert budget_used(cfg, 500, 0, 300.0) == pytest.approx(0.5)
    assert lr_at(500, cfg, budget_used(cfg, 500, 0, 300.0)) == pytest.approx(0.55e-3, rel=1e-3)
    assert lr_at(900, cfg, budget_used(cfg, 900, 0, 600.0)) == pytest.approx(1e-4)


def test_a_token_limit_counts_like_the_others():
    cfg = TrainConfig(max_steps=0, max_tokens=1000, warmup_steps=0, schedule="linear", min_lr_ratio=0.0)
    assert lr_at(3, cfg, budget_used(cfg, 3, 250, 1.0)) == pytest.approx(cfg.learning_rate * 0.75)
