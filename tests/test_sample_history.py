"""Earlier rounds of samples: every step's samples stay readable, so an audience sees the text improve."""

from __future__ import annotations

from clm_gui.runs.monitor import NO_SAMPLES, sample_steps, samples_at, samples_markdown
from clm_gui.ui.train_actions import LATEST_SAMPLES, picked_step, sample_step_choices


def round_at(step: int, text: str) -> dict:
    return {"step": step, "samples": [{"prompt": "Once", "text": text}]}


ROUNDS = [round_at(10, "Once qqq zzz"), round_at(20, "Once upon a tme"), round_at(30, "Once upon a time there")]


def test_each_step_s_samples_can_be_shown_and_the_latest_is_the_default():
    assert sample_steps(ROUNDS) == [30, 20, 10]
    assert samples_at(ROUNDS, None)["step"] == 30
    assert samples_at(ROUNDS, 10)["samples"][0]["text"] == "Once qqq zzz"
    earliest = samples_markdown(ROUNDS, 10)
    assert earliest.startswith("**Samples at step 10** (round 1 of 3 rounds)") and "Once qqq zzz" in earliest
    assert "tme" not in earliest
    assert samples_markdown(ROUNDS).startswith("**Samples at step 30** (the latest of 3 rounds)")


def test_a_step_without_samples_shows_the_latest_and_no_samples_says_what_comes():
    assert samples_at(ROUNDS, 15)["step"] == 30  # e.g. a step picked on another run
    assert samples_at([], 10) is None and samples_markdown([], 10) == NO_SAMPLES
    assert samples_markdown(ROUNDS[:1]).startswith("**Samples at step 10** (the latest of 1 round)\n")


def test_rounds_a_resume_superseded_are_dropped():
    resumed = [*ROUNDS, round_at(20, "Once upon a time, again")]  # resumed from the step-20 checkpoint
    assert sample_steps(resumed) == [20, 10]
    assert samples_at(resumed, 20)["samples"][0]["text"] == "Once upon a time, again"


def test_the_step_picker_offers_latest_then_each_step_newest_first():
    assert sample_step_choices(ROUNDS) == [("latest", LATEST_SAMPLES), ("step 30", "30"), ("step 20", "20"),
                                           ("step 10", "10")]
    assert picked_step("20") == 20 and picked_step(LATEST_SAMPLES) is None and picked_step(None) is None
