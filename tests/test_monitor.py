"""Watching a run through its folder: incremental metric reading, resumed runs, smoothing, progress and ETA."""

from __future__ import annotations

import json

import pytest

from clm_gui.config import TrainConfig
from clm_gui.monitor import (JsonlTail, current_status, downsample, ema, last_records, latest_per_step, log_tail,
                             model_choices, progress, seconds_per_step, summarize)
from clm_gui.runs import new_run_dir
from tests.conftest import make_tiny_config


def train_record(step, elapsed, tokens_per_step=1000, loss=3.0):
    return {"kind": "train", "step": step, "tokens": step * tokens_per_step, "elapsed_s": elapsed,
            "train_loss": loss, "lr": 1e-3, "tokens_per_s": 500.0}


def test_tail_reads_only_complete_lines_and_picks_up_appends(tmp_path):
    path = tmp_path / "metrics.jsonl"
    reader = JsonlTail(path)
    assert reader.read() == []  # no file yet
    path.write_text(json.dumps({"step": 1}) + "\n" + '{"step": 2, "trai')  # a writer mid-line
    assert reader.read() == [{"step": 1}]
    with open(path, "a") as f:
        f.write('n_loss": 2.5}\nnot json\n' + json.dumps({"step": 3}) + "\n")
    assert reader.read() == [{"step": 1}, {"step": 2, "train_loss": 2.5}, {"step": 3}]
    path.write_text(json.dumps({"step": 9}) + "\n")  # re-created (shorter): read from the start
    assert reader.read() == [{"step": 9}]


def test_the_latest_values_of_a_long_run_come_from_the_end_of_its_file(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(train_record(s, s)) + "\n" for s in range(1, 5001)))
    window = last_records(path, max_bytes=4096)
    assert window[-1]["step"] == 5000 and 0 < len(window) < 100
    assert [r["step"] for r in window] == list(range(5001 - len(window), 5001))  # no torn first line
    assert last_records(tmp_path / "missing.jsonl") == []


def test_records_superseded_by_a_resume_from_an_earlier_checkpoint_are_dropped():
    crashed = [train_record(s, s) for s in (10, 20, 30, 40)] + [{"kind": "eval", "step": 30, "eval_loss": 2.0}]
    resumed = [train_record(s, s + 0.5, loss=1.0) for s in (30, 40, 50)]  # checkpoint at 20
    kept = latest_per_step(crashed + resumed)
    train_steps = [(r["step"], r["train_loss"]) for r in kept if r["kind"] == "train"]
    assert train_steps == [(10, 3.0), (20, 3.0), (30, 1.0), (40, 1.0), (50, 1.0)]
    assert [r["step"] for r in kept if r["kind"] == "eval"] == [30]


def test_smoothing_zero_is_identity_and_smoothing_tracks_a_constant_exactly():
    assert ema([3.0, 1.0, 2.0], 0.0) == [3.0, 1.0, 2.0]
    assert ema([2.0] * 5, 0.9) == pytest.approx([2.0] * 5)  # bias-corrected: no pull toward zero
    smoothed = ema([0.0, 10.0] * 50, 0.9)
    assert max(smoothed[-10:]) - min(smoothed[-10:]) < 10 / 2  # the zig-zag is damped
    with pytest.raises(ValueError):
        ema([1.0], 1.0)


def test_downsampling_keeps_the_first_and_last_points_and_bounds_the_count():
    xs = list(range(10_001))
    dx, dy = downsample(xs, xs, max_points=1000)
    assert len(dx) <= 1001 and dx[0] == 0 and dx[-1] == 10_000 and dx == dy
    assert downsample([1, 2], [3, 4]) == ([1, 2], [3, 4])


def test_eta_follows_the_recent_pace_toward_the_step_limit():
    train = TrainConfig(max_steps=1000)
    records = [train_record(s, 100 + s * 0.5) for s in range(10, 410, 10)]  # 0.5 s per step
    assert seconds_per_step(records) == pytest.approx(0.5)
    p = progress(train, 1000, records)
    assert p.limit == "steps" and p.fraction == pytest.approx(0.4)
    assert p.eta_s == pytest.approx(600 * 0.5)


def test_eta_is_unknown_until_two_log_records_and_the_first_limit_to_be_reached_wins():
    assert progress(TrainConfig(max_steps=100), 1000, [train_record(1, 0.1)]).eta_s is None
    records = [train_record(s, s * 1.0) for s in range(10, 110, 10)]  # 1 s per step, 1000 tokens per step
    by_tokens = progress(TrainConfig(max_steps=10_000, max_tokens=200_000), 1000, records)
    assert by_tokens.limit == "tokens" and by_tokens.eta_s == pytest.approx(100)
    by_time = progress(TrainConfig(max_steps=10_000, max_minutes=2), 1000, records)  # 100 s of 120 s used
    assert by_time.limit == "minutes" and by_time.eta_s == pytest.approx(20)


def test_a_stop_request_shows_as_stopping_until_the_trainer_takes_it(runs_root):
    run = new_run_dir(runs_root, make_tiny_config())
    run.write_status("running", "Training.")
    (run.path / "STOP").write_text("")
    assert current_status(run)["state"] == "stopping"
    run.write_status("stopped", "Stopped at step 5.")
    assert current_status(run)["state"] == "stopped"


def test_summary_log_and_model_choices_of_a_run_folder(runs_root):
    run = new_run_dir(runs_root, make_tiny_config())
    for record in [train_record(5, 1.0, loss=4.0), {"kind": "eval", "step": 5, "eval_loss": 4.5, "perplexity": 90.0},
                   train_record(10, 2.0, loss=3.5)]:
        run.append_metrics(record)
    run.write_status("stopped", "Stopped at step 10; resume to continue.", step=10)
    for step in (5, 10):
        run.checkpoint_dir(step).mkdir(parents=True)
        (run.checkpoint_dir(step) / "COMPLETE").write_text("ok")

    summary = summarize(run)
    assert (summary.state, summary.step, summary.train_loss, summary.eval_loss) == ("stopped", 10, 3.5, 4.5)
    lines = log_tail(run, run.read_metrics(), run.read_status()).splitlines()
    assert "eval loss 4.5000" in lines[1] and "loss 3.5000" in lines[2]
    assert lines[-1] == "[stopped] Stopped at step 10; resume to continue."
    assert [label for label, _ in model_choices(run)] == ["checkpoint step 10", "checkpoint step 5"]
