"""The best evaluated model becomes final/, early stopping, and bits per byte (trainer and `evaluate`)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

from clm_gui import cli
from clm_gui.runs.folder import new_run_dir
from clm_gui.train import evaluation
from clm_gui.train import trainer as trainer_lib
from clm_gui.train.evaluation import Score, TokenStream, score_stream, scoring_windows
from clm_gui.train.loss import CausalLMLoss
from clm_gui.train.trainer import train
from tests.fast_runs import fast_config, write_corpus


@pytest.fixture
def corpus(tmp_path):
    return write_corpus(tmp_path / "corpus.txt")


def scripted_eval(monkeypatch, losses: list[float]) -> list[int]:
    """Make the trainer's evaluations score `losses` in turn; returns the steps they were made at."""
    scores, steps = iter(losses), []
    real = trainer_lib.score_stream

    def fake(module, stream, *args, **kwargs):
        real(module, stream, *args, **kwargs)  # the real scoring runs too, so its code path is exercised
        loss = next(scores)
        steps.append(len(steps))
        return Score(nats_per_token=loss, bits_per_byte=loss / math.log(2) / 3, tokens=1, bytes=3)

    monkeypatch.setattr(trainer_lib, "score_stream", fake)
    return steps


def weights(folder) -> dict:
    return load_file(str(folder / "model.safetensors"))


@pytest.mark.slow
def test_final_holds_the_best_evaluation_when_the_last_step_is_worse(tmp_path, corpus, monkeypatch):
    scripted_eval(monkeypatch, [3.0, 2.0, 2.5, 2.6])  # best at the second evaluation (step 4)
    cfg = fast_config(corpus, max_steps=8, eval_interval=2, save_interval=2, keep_checkpoints=10,
                      early_stop_patience=0)
    run = new_run_dir(tmp_path / "runs", cfg)
    status = train(cfg, run)
    assert status["state"] == "finished", status
    assert status["best"] == {"step": 4, "eval_loss": 2.0, "eval_bpb": pytest.approx(2.0 / math.log(2) / 3)}
    assert status["kept"] == "best"
    assert "best model, from step 4" in status["message"] and "loss 2.6000" in status["message"]
    final, at_best, last = weights(run.final_dir), weights(run.checkpoint_dir(4)), weights(run.checkpoint_dir(8))
    assert all(torch.equal(final[k], at_best[k]) for k in at_best)
    assert not all(torch.equal(final[k], last[k]) for k in last)
    assert run.latest_checkpoint() == run.checkpoint_dir(8)  # resume continues from the last step
    model, info = AutoModelForCausalLM.from_pretrained(str(run.final_dir), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]  # the tied head is tied, not missing
    assert torch.equal(model.lm_head.weight, model.transformer.wte.weight)
    evals = [r for r in run.read_metrics() if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [2, 4, 6, 8] and all("eval_bpb" in r and r["epoch"] > 0 for r in evals)


@pytest.mark.slow
def test_keep_last_makes_final_the_last_step(tmp_path, corpus, monkeypatch):
    scripted_eval(monkeypatch, [3.0, 2.0, 2.5, 2.6])
    cfg = fast_config(corpus, max_steps=8, eval_interval=2, save_interval=2, keep="last", early_stop_patience=0)
    run = new_run_dir(tmp_path / "runs", cfg)
    status = train(cfg, run)
    final, last = weights(run.final_dir), weights(run.checkpoint_dir(8))
    assert all(torch.equal(final[k], last[k]) for k in last)
    assert "final/ holds the last step (train.keep: last); the best was step 4" in status["message"]


@pytest.mark.slow
def test_early_stopping_ends_a_run_whose_held_out_loss_rises(tmp_path, corpus, monkeypatch):
    scripted_eval(monkeypatch, [3.0, 2.0, 2.1, 2.2, 2.3, 1.0, 1.0])
    # A floor of half the peak: the rate is never worth annealing, so the plateau stops the run at once.
    cfg = fast_config(corpus, max_steps=40, eval_interval=2, early_stop_patience=3, min_lr_ratio=0.5)
    run = new_run_dir(tmp_path / "runs", cfg)
    status = train(cfg, run)
    assert status["state"] == "finished" and status["step"] == 10, status
    assert status["message"].startswith("Stopped early at step 10: the held-out loss has not improved for 3")
    assert "best model, from step 4" in status["message"]
    assert json.loads((run.best_dir / "best.json").read_text())["step"] == 4


@pytest.mark.slow
def test_an_early_stop_at_a_checkpoint_and_sample_step_still_checkpoints_and_samples_there(tmp_path, corpus,
                                                                                            monkeypatch):
    # Regression: the run used to skip both when its early stop fell on a multiple of their intervals.
    scripted_eval(monkeypatch, [3.0, 2.0, 2.1, 2.2, 2.3])
    cfg = fast_config(corpus, max_steps=40, eval_interval=2, save_interval=5, sample_interval=5,
                      sample_max_new_tokens=2, early_stop_patience=3, keep_checkpoints=10, min_lr_ratio=0.5)
    run = new_run_dir(tmp_path / "runs", cfg)
    assert train(cfg, run)["step"] == 10
    assert [step for step, _ in run.checkpoints()] == [5, 10]
    assert [record["step"] for record in run.read_samples()] == [5, 10]


@pytest.mark.slow
def test_a_resumed_run_remembers_its_best_and_its_patience(tmp_path, corpus, monkeypatch):
    scripted_eval(monkeypatch, [3.0, 2.0, 2.1, 2.2, 2.3])
    cfg = fast_config(corpus, max_steps=6, eval_interval=2, save_interval=2, early_stop_patience=3, min_lr_ratio=0.5)
    run = new_run_dir(tmp_path / "runs", cfg)
    assert train(cfg, run)["step"] == 6
    longer = fast_config(corpus, max_steps=40, eval_interval=2, save_interval=2, early_stop_patience=3,
                         min_lr_ratio=0.5)
    status = train(longer, run, resume=True)
    assert status["step"] == 10 and status["best"]["step"] == 4  # two evaluations were already spent


def logged_rates(run) -> dict[int, float]:
    return {record["step"]: record["lr"] for record in run.read_metrics() if record.get("kind") == "train"}


@pytest.mark.slow
def test_a_plateau_at_a_high_learning_rate_anneals_it_before_the_run_stops_early(tmp_path, corpus, monkeypatch):
    scripted_eval(monkeypatch, [3.0, 2.0, 2.1, 2.2, 2.3, 2.4, 2.5, 2.6])
    cfg = fast_config(corpus, max_steps=40, eval_interval=2, early_stop_patience=3)  # floor: a tenth of the peak
    run = new_run_dir(tmp_path / "runs", cfg)
    status = train(cfg, run)
    # Patience ran out at step 10, halfway up the cosine; the rate then fell to its floor over a fifth of the
    # 10 steps before it, and the run stopped when three more evaluations brought no new best.
    assert status["state"] == "finished" and status["step"] == 16, status
    assert status["message"].startswith("Stopped early at step 16: the held-out loss has not improved for 3 "
                                        "evaluations (after annealing the learning rate from step 10).")
    # A train record's step counts the steps done: record 11 holds the rate of the step after the plateau.
    rates, floor = logged_rates(run), cfg.train.learning_rate * cfg.train.min_lr_ratio
    assert rates[11] > 2 * floor and rates[12] == pytest.approx((rates[11] + floor) / 2)
    assert rates[13] == pytest.approx(floor) and rates[16] == pytest.approx(floor)
    assert status["best"]["step"] == 4


@pytest.mark.slow
def test_the_anneal_a_plateau_started_survives_a_resume(tmp_path, corpus, monkeypatch):
    scripted_eval(monkeypatch, [3.0, 2.0, 2.1, 2.2, 2.3, 2.4, 2.5, 2.6])
    # A constant rate: without the anneal every step would run at the peak.
    cfg = fast_config(corpus, max_steps=12, eval_interval=2, save_interval=2, early_stop_patience=3,
                      schedule="constant")
    run = new_run_dir(tmp_path / "runs", cfg)
    assert train(cfg, run)["step"] == 12  # the anneal started at step 10; the step limit came first
    longer = fast_config(corpus, max_steps=40, eval_interval=2, save_interval=2, early_stop_patience=3,
                         schedule="constant")
    status = train(longer, run, resume=True)
    floor = cfg.train.learning_rate * cfg.train.min_lr_ratio
    assert status["step"] == 16 and "(after annealing the learning rate from step 10)" in status["message"]
    assert logged_rates(run)[14] == pytest.approx(floor)  # the resumed run kept the anneal, not the new schedule


def tiny_lm(context: int = 16) -> GPT2LMHeadModel:
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=32, n_positions=context, n_embd=16, n_layer=1, n_head=2)).eval()


@pytest.mark.parametrize("context", [64, 8])  # one short window; several batches of windows and a short one
def test_bits_per_byte_is_the_total_negative_log_likelihood_over_the_bytes(context):
    lm = tiny_lm(context=64)
    tokens = np.random.default_rng(0).integers(0, 32, 40)
    stream = TokenStream(tokens, n_bytes=100, documents=1)
    score = score_stream(CausalLMLoss(lm), stream, context, 2, torch.device("cpu"))
    total = 0.0
    for window in scoring_windows(tokens, context):  # every token after the first, once
        ids = torch.from_numpy(window)[None]
        with torch.no_grad():
            log_probs = torch.log_softmax(lm(ids).logits[0, :-1].float(), -1)
        total -= log_probs.gather(1, ids[0, 1:, None]).sum().item()
    assert len(scoring_windows(tokens, context)) == (1 if context == 64 else 6)
    assert score.tokens == 39
    assert score.bits_per_byte == pytest.approx(total / math.log(2) / 100, rel=1e-5)
    assert score.nats_per_token == pytest.approx(total / 39, rel=1e-5)


def test_windows_overlap_by_one_token_so_every_token_is_predicted_once():
    tokens = np.arange(20)
    windows = scoring_windows(tokens, 8)
    assert [w[0] for w in windows] == [0, 7, 14]
    assert sum(len(w) - 1 for w in windows) == 19
    # A long stream scored in windows is close to the same stream scored with more context.
    lm = tiny_lm(context=64)
    stream = TokenStream(np.random.default_rng(1).integers(0, 32, 60), n_bytes=60, documents=1)
    narrow = score_stream(CausalLMLoss(lm), stream, 16, 2, torch.device("cpu"))
    wide = score_stream(CausalLMLoss(lm), stream, 64, 2, torch.device("cpu"))
    assert narrow.tokens == wide.tokens == 59
    assert narrow.bits_per_byte == pytest.approx(wide.bits_per_byte, rel=0.05)


@pytest.mark.slow
def test_evaluate_scores_a_trained_run_on_any_text_in_bits_per_byte(tmp_path, corpus, capsys):
    cfg = fast_config(corpus, max_steps=4, eval_interval=2)
    run = new_run_dir(tmp_path / "runs", cfg)
    train(cfg, run)
    held_out = tmp_path / "held_out.txt"
    held_out.write_text(corpus.read_text()[-2000:], encoding="utf-8")
    assert cli.main(["evaluate", str(run.path), str(held_out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert 0 < result["bits_per_byte"] < 16 and result["bytes"] == len(held_out.read_bytes())
    direct = evaluation.evaluate_model(run.final_dir, [held_out.read_text()])
    assert result["bits_per_byte"] == pytest.approx(direct.bits_per_byte)


def test_evaluate_explains_a_folder_without_a_model(tmp_path, corpus, capsys):
    assert cli.main(["evaluate", str(tmp_path), str(corpus)]) != 0
    assert "neither a run folder nor a model folder" in capsys.readouterr().err
