"""Evaluations spread over a run's length, and a time budget kept with the closing evaluation inside it."""

import itertools

import pytest

from clm_gui.config import AUTO, CHECKPOINTS_PER_RUN, TrainConfig
from clm_gui.runs.folder import new_run_dir
from clm_gui.train import trainer as trainer_lib
from clm_gui.train.cadence import Cadence, describe
from clm_gui.train.trainer import train
from tests.fast_runs import fast_config, write_corpus


def run_cadence(cadence: Cadence, used_by_step: list[float]) -> list[int]:
    steps = []
    for step, used in enumerate(used_by_step, start=1):
        if cadence.due(step, used):
            cadence.mark(step, used)
            steps.append(step)
    return steps


@pytest.mark.parametrize("steps", [60, 606, 100_000])
def test_auto_cadence_gives_the_same_number_of_evaluations_whatever_the_run_length(steps):
    done = run_cadence(Cadence(AUTO, 40), [s / steps for s in range(1, steps + 1)])
    assert len(done) == 40 and done[-1] == steps
    gaps = {b - a for a, b in itertools.pairwise([0, *done])}
    assert max(gaps) - min(gaps) <= 1  # evenly spread


def test_auto_cadence_follows_the_clock_when_the_pace_changes():
    # A run whose steps slow down halfway (the budget is time): evaluations stay evenly spread in time.
    used = [s / 500 if s <= 250 else 0.5 + (s - 250) / 250 for s in range(1, 376)]
    done = run_cadence(Cadence(AUTO, 10), used)
    assert len(done) == 10
    assert all(abs(used[s - 1] - k / 10) < 0.005 for k, s in enumerate(done, start=1))


def test_a_fast_run_evaluates_at_least_every_gap_of_steps():
    # 10,000 steps in a budget spread over 40 evaluations would leave 250 steps between them; with a gap of
    # 100 steps, and evaluations that cost nothing, they come every 100 steps from the start.
    cadence = Cadence(AUTO, 40, max_gap_steps=100, max_cost_share=0.1)
    done = []
    for step in range(1, 10_001):
        seconds = step * 0.01
        if cadence.due(step, step / 10_000, seconds):
            cadence.mark(step, step / 10_000, seconds, cost=0.0)
            done.append(step)
    assert done[:5] == [100, 200, 300, 400, 500]
    assert max(b - a for a, b in itertools.pairwise([0, *done])) <= 100


def test_evaluations_never_take_more_than_their_share_of_the_time():
    # Slow steps (10 s) and dear evaluations (7 s): spread over the budget they would come every step; the
    # cost share keeps them to at most 10% of the run's seconds.
    cadence = Cadence(AUTO, 40, max_gap_steps=100, max_cost_share=0.1)
    seconds, spent = 0.0, 0.0
    for step in range(1, 58):
        seconds += 10.0
        if cadence.due(step, step / 57, seconds):
            seconds += 7.0
            spent += 7.0
            cadence.mark(step, step / 57, seconds, cost=7.0)
    assert spent <= 0.1 * seconds + 7.0  # within one evaluation of the share
    assert spent > 0


def test_a_set_interval_is_kept_and_zero_means_never():
    assert run_cadence(Cadence(50, 40), [0.0] * 120) == [50, 100]
    assert run_cadence(Cadence(0, 40), [s / 10 for s in range(10)]) == []
    assert not Cadence(0, 40).owed_at_end(10)


def test_a_resumed_run_counts_its_evaluations_from_where_its_budget_stands():
    cadence = Cadence(AUTO, 10)
    assert run_cadence(cadence, [0.55, 0.56, 0.61]) == [1, 3]  # one on resuming, then on schedule


def test_the_last_step_is_owed_an_evaluation_unless_it_had_one():
    cadence = Cadence(AUTO, 4)
    assert run_cadence(cadence, [0.3, 0.4]) == [1]
    assert cadence.owed_at_end(2)
    cadence.mark(2, 0.4)
    assert not cadence.owed_at_end(2)


def test_intervals_in_words():
    assert describe(AUTO, 40) == "about 40 times over the run"
    assert describe(0, 40) == "never" and describe(200, 40) == "every 200 steps"


def test_the_default_cadence_is_spread_over_the_run():
    assert TrainConfig().eval_interval == AUTO and TrainConfig().sample_interval == AUTO


# ---------------------------------------------------------------------------------------------
# The trainer.


class FakeClock:
    """The trainer's clock: every reading moves it on by `tick` seconds, so a run's timing is the same on
    any machine (how many readings a step, an evaluation and a round of samples take)."""

    def __init__(self, tick: float):
        self.now, self.tick = 1_000_000.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


@pytest.mark.slow
def test_auto_cadence_spreads_evaluations_and_samples_over_a_step_limited_run(tmp_path, monkeypatch):
    monkeypatch.setattr(trainer_lib, "EVALUATIONS_PER_RUN", 4)
    monkeypatch.setattr(trainer_lib, "SAMPLES_PER_RUN", 2)
    # On the real clock an evaluation of this tiny model can cost more than a tenth of the steps between,
    # more so on a busy machine: the spread is what is tested here (the cost share has tests of its own).
    monkeypatch.setattr(trainer_lib, "EVALUATION_COST_SHARE", 1.0)
    cfg = fast_config(write_corpus(tmp_path / "corpus.txt"), max_steps=20, eval_interval=AUTO, sample_interval=AUTO,
                      eval_batches=1, sample_max_new_tokens=2)
    run = new_run_dir(tmp_path / "runs", cfg)
    assert train(cfg, run)["state"] == "finished"
    assert [r["step"] for r in run.read_metrics() if r["kind"] == "eval"] == [5, 10, 15, 20]
    assert [s["step"] for s in run.read_samples()] == [10, 20]


@pytest.mark.slow
def test_a_fast_run_on_a_long_budget_evaluates_every_gap_of_steps_from_the_start(tmp_path, monkeypatch):
    # A fast card: about 40 evaluations over a 10-minute clock would leave thousands of steps before the
    # first, and on a small corpus the held-out loss can turn by then. On the trainer's own clock (a fake
    # one, so a step takes the same time on any machine) evaluations come every gap of steps instead.
    monkeypatch.setattr(trainer_lib, "EVALUATION_GAP_STEPS", 10)
    cfg = fast_config(write_corpus(tmp_path / "corpus.txt"), max_steps=0, max_minutes=10, eval_interval=AUTO,
                      eval_batches=1, early_stop_patience=0)
    run = new_run_dir(tmp_path / "runs", cfg)
    trainer = trainer_lib.Trainer(cfg, run, should_stop=lambda: trainer.state.step >= 35,
                                  clock=FakeClock(tick=0.0001))
    assert trainer.run()["state"] == "stopped"
    assert [r["step"] for r in run.read_metrics() if r["kind"] == "eval"] == [10, 20, 30]


@pytest.mark.slow
def test_auto_checkpoints_are_spread_over_the_run_and_all_kept_when_asked(tmp_path):
    cfg = fast_config(write_corpus(tmp_path / "corpus.txt"), max_steps=20, save_interval=AUTO,
                      keep_checkpoints=CHECKPOINTS_PER_RUN + 1)
    run = new_run_dir(tmp_path / "runs", cfg)
    assert train(cfg, run)["state"] == "finished"
    # From early in the run to its end: the Playground sets an early model beside the final one.
    assert CHECKPOINTS_PER_RUN == 4 and [step for step, _ in run.checkpoints()] == [5, 10, 15, 20]


@pytest.mark.slow
def test_a_time_budget_ends_the_run_with_its_closing_evaluation_and_samples_inside_it(tmp_path, monkeypatch):
    monkeypatch.setattr(trainer_lib, "EVALUATIONS_PER_RUN", 5)
    budget_s = 30.0
    cfg = fast_config(write_corpus(tmp_path / "corpus.txt"), max_steps=0, max_minutes=budget_s / 60,
                      eval_interval=AUTO, sample_interval=AUTO, eval_batches=1, sample_max_new_tokens=2)
    run = new_run_dir(tmp_path / "runs", cfg)
    status = train(cfg, run, clock=FakeClock(tick=0.05))
    assert status["state"] == "finished" and (run.final_dir / "model.safetensors").is_file()
    evals = [r for r in run.read_metrics() if r["kind"] == "eval"]
    last_train = [r for r in run.read_metrics() if r["kind"] == "train"][-1]
    assert len(evals) >= 5 and evals[-1]["step"] == last_train["step"] == status["step"]
    samples = run.read_samples()
    assert samples[-1]["step"] == status["step"]
    assert max(evals[-1]["elapsed_s"], samples[-1]["elapsed_s"]) <= budget_s  # the end fits in the budget
    assert evals[-1]["elapsed_s"] > budget_s * 0.8  # and the budget was used


def test_a_launched_training_counts_its_time_from_the_launch_and_its_start_up_too(monkeypatch):
    from clm_gui.train.schedule import LAUNCHED_AT_ENV, launched_at

    monkeypatch.setenv(LAUNCHED_AT_ENV, "1000.5")  # the app started the process 20 s before training began
    assert launched_at(1020.5) == 1000.5
    monkeypatch.setenv(LAUNCHED_AT_ENV, "garbage")
    assert launched_at(1020.5) == 1020.5
    monkeypatch.delenv(LAUNCHED_AT_ENV)
    assert launched_at(1020.5) == 1020.5  # started by hand (the CLI): from the trainer's own start
