"""Watching a run through its folder: incremental metric reading, resumed runs, smoothing, progress and ETA."""

from __future__ import annotations

import json

import pytest

from clm_gui.config import TrainConfig
from clm_gui.runs.monitor import (JsonlTail, best_eval, current_status, downsample, ema, format_passes, last_records,
                                  latest_per_step, log_tail, model_choices, overfitting_note, passes_over_data,
                                  progress, seconds_per_step, step_reached, summarize)
from clm_gui.data.uploads import UPLOADS_DIR
from clm_gui.errors import UserError
from clm_gui.runs import folder as folder_lib
from clm_gui.runs.folder import check_run_id, new_run_dir
from tests.conftest import make_tiny_config


def train_record(step, elapsed, tokens_per_step=1000, loss=3.0):
    return {"kind": "train", "step": step, "tokens": step * tokens_per_step, "elapsed_s": elapsed,
            "train_loss": loss, "lr": 1e-3, "tokens_per_s": 500.0}


def eval_record(step, loss, bpb=None):
    return {"kind": "eval", "step": step, "eval_loss": loss, "eval_bpb": bpb if bpb is not None else loss / 0.7,
            "perplexity": 2.718 ** loss}


def curve(train_losses: dict[int, float], eval_losses: dict[int, float]) -> list[dict]:
    """Records of a run: a train record every 50 steps (its loss from the nearest listed step at or
    before it), and the listed evaluations."""
    listed = sorted(train_losses)
    records = [train_record(s, s, loss=train_losses[max(k for k in listed if k <= s)])
               for s in range(50, max(listed) + 1, 50)]
    return latest_per_step(records + [eval_record(s, loss) for s, loss in eval_losses.items()])


def falling_train(last_step: int) -> dict[int, float]:
    return {s: 5.0 - s / 1000 for s in range(50, last_step + 1, 50)}


MEMORISING = curve(falling_train(1000), {200: 2.0, 400: 1.6, 600: 1.52, 700: 1.55, 800: 1.58, 900: 1.60, 1000: 1.61})


def test_the_best_evaluation_is_the_lowest_eval_loss_and_the_earliest_of_equals():
    assert best_eval(MEMORISING)["step"] == 600
    tied = [eval_record(300, 1.5), eval_record(100, 2.0), eval_record(200, 1.5)]
    assert best_eval(tied)["step"] == 200
    assert best_eval([train_record(10, 1.0)]) is None
    assert best_eval([eval_record(100, float("nan")), eval_record(200, 3.0)])["step"] == 200


def test_memorising_is_said_in_words_with_the_step_of_the_best_model():
    note = overfitting_note(MEMORISING, keep="best")
    assert note == ("Memorising: held-out loss has risen for 4 evaluations since step 600 (best 1.52, now 1.61) "
                    "while train loss kept falling. The best model, from step 600, is the one kept.")
    kept_last = overfitting_note(MEMORISING, keep="last")
    assert "final/ holds the last step" in kept_last and "step 600" in kept_last


def test_no_memorising_note_while_both_losses_fall():
    evals = {s: 3.0 - s / 1000 for s in range(100, 1001, 100)}
    assert overfitting_note(curve(falling_train(1000), evals)) is None


def test_no_memorising_note_with_fewer_than_three_evaluations_after_the_best():
    records = curve(falling_train(800), {200: 2.0, 400: 1.6, 600: 1.52, 700: 1.60, 800: 1.70})
    assert overfitting_note(records) is None


def test_no_memorising_note_for_a_rise_within_noise_or_while_train_loss_rises_too():
    within_noise = {400: 1.60, 600: 1.52, 700: 1.53, 800: 1.53, 900: 1.54}  # 1.3% above the best
    assert overfitting_note(curve(falling_train(900), within_noise)) is None
    diverging = {s: 2.0 + s / 1000 for s in range(50, 1001, 50)}  # train loss rises too: not memorising
    assert overfitting_note(curve(diverging, {600: 1.52, 700: 1.6, 800: 1.7, 900: 1.8})) is None


def test_passes_over_the_data_are_the_latest_epoch_and_unknown_without_one():
    records = [{**train_record(s, s), "epoch": s / 40} for s in (10, 20, 96)]
    assert passes_over_data(records) == pytest.approx(2.4)
    assert format_passes(2.4) == "2.4 passes over the data"
    assert format_passes(0.35) == "0.35 passes over the data"
    assert passes_over_data([train_record(10, 1.0)]) is None  # streaming: the trainer cannot know


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
    assert summary.best_bpb is None  # an evaluation from before bits per byte were measured
    lines = log_tail(run, run.read_metrics(), run.read_status()).splitlines()
    assert "eval loss 4.5000" in lines[1] and "loss 3.5000" in lines[2]
    assert lines[-1] == "[stopped] Stopped at step 10; resume to continue."
    assert [label for label, _ in model_choices(run)] == ["checkpoint step 10", "checkpoint step 5"]


def test_the_run_list_s_best_bits_per_byte_come_from_status_else_from_the_records(runs_root):
    run = new_run_dir(runs_root, make_tiny_config())
    for record in [eval_record(10, 2.0, bpb=2.9), eval_record(20, 1.8, bpb=2.6), eval_record(30, 1.9, bpb=2.7)]:
        run.append_metrics(record)
    assert summarize(run).best_bpb == 2.6
    run.write_status("finished", "Done.", best={"step": 20, "eval_loss": 1.8, "eval_bpb": 2.55}, kept="best")
    assert summarize(run).best_bpb == 2.55  # the trainer's own record wins
    assert "2.550 bits/byte" not in log_tail(run, run.read_metrics(), run.read_status())
    assert "2.600 bits/byte" in log_tail(run, run.read_metrics(), run.read_status())


def test_the_log_shows_each_evaluation_once_no_progress_bars_and_ends_on_the_status(runs_root):
    # A regression (#26, item 11): the Log listed evaluations twice (the records, then train.log's echo of
    # them), showed "Writing model shards" bars and ended on train.log's older lines.
    run = new_run_dir(runs_root, make_tiny_config())
    for record in [train_record(10, 1.0), eval_record(10, 4.5), train_record(20, 2.0), eval_record(25, 4.0)]:
        run.append_metrics(record)
    run.write_status("finished", "Finished after 25 steps.", step=25)
    run.log_path.write_text(
        f"Run: {run.id}\nstep 10: eval loss 4.5000\nstep 25: eval loss 4.0000\n"
        "Writing model shards:   0%|          | 0/1 [00:00<?, ?it/s]\rWriting model shards: 100%|##| 1/1\n"
        "UserWarning: something the records do not hold\n"
        "finished: Finished after 25 steps.\n", encoding="utf-8")
    text = log_tail(run, run.read_metrics(), run.read_status())
    lines = text.splitlines()
    assert sum("eval loss 4.5000" in line for line in lines) == 1
    assert sum("eval loss 4.0000" in line for line in lines) == 1
    assert "Writing model shards" not in text and "Run: " not in text
    assert lines[-2] == "UserWarning: something the records do not hold"
    assert lines[-1] == "[finished] Finished after 25 steps."
    assert text.count("Finished after 25 steps.") == 1


def test_the_step_reached_is_the_status_s_when_the_last_steps_fell_between_records(runs_root):
    # A regression (#26, item 11): "Finished after 1095 steps" beside a progress bar that said 1,090.
    run = new_run_dir(runs_root, make_tiny_config())
    run.append_metrics(train_record(1090, 10.0))
    run.write_status("finished", "Finished after 1095 steps.", step=1095)
    assert step_reached(run.read_status(), run.read_metrics()) == 1095 == summarize(run).step
    assert step_reached({}, run.read_metrics()) == 1090


@pytest.mark.parametrize("name", [UPLOADS_DIR, folder_lib.SAVED_TOKENIZERS_DIR, folder_lib.QUICKSTART_TOKENIZERS_DIR,
                                  folder_lib.TOKEN_CACHE_DIR, folder_lib.DRAFTS_DIR, folder_lib.TRAINING_LOCK_FILE,
                                  folder_lib.TRAINING_LOCK_HOLDER_FILE])
def test_the_runs_folders_own_files_can_never_be_taken_for_a_run(name):
    assert name.startswith(".")
    with pytest.raises(UserError, match="not a valid run id"):
        check_run_id(name)
