"""The exponential moving average of the weights (train.ema_decay): what a run evaluates, keeps and resumes."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from clm_gui.config import RunConfig
from clm_gui.runs.folder import new_run_dir
from clm_gui.train import checkpoints
from clm_gui.train.trainer import Trainer, train
from clm_gui.train.weight_average import WeightAverage
from tests.fast_runs import fast_config, write_corpus
from tests.test_best_model import scripted_eval


@pytest.fixture
def corpus(tmp_path):
    return write_corpus(tmp_path / "corpus.txt")


def test_the_average_follows_the_weights_with_a_warming_decay():
    model = torch.nn.Linear(2, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    average = WeightAverage(model, decay=0.9)
    expected = torch.zeros(1, 2)
    for n, value in enumerate([1.0, 2.0, 3.0]):
        model.weight.data.fill_(value)
        decay = min(0.9, (1 + n) / (10 + n))  # 0.1, 0.18..., 0.25
        expected = decay * expected + (1 - decay) * value
        average.update()
        assert torch.allclose(average.average[0], expected)
    with average.applied():
        assert torch.allclose(model.weight, expected)
    assert torch.equal(model.weight, torch.full((1, 2), 3.0))  # its own weights again


@pytest.mark.slow
def test_final_and_best_hold_the_average_not_the_raw_weights(tmp_path, corpus, monkeypatch):
    scripted_eval(monkeypatch, [3.0, 2.0, 2.5, 2.6])  # best at step 4
    cfg = fast_config(corpus, max_steps=8, eval_interval=2, save_interval=2, keep_checkpoints=10,
                      early_stop_patience=0, ema_decay=0.5)
    run = new_run_dir(tmp_path / "runs", cfg)
    assert train(cfg, run)["state"] == "finished"
    at_best = checkpoints.read_checkpoint(run.checkpoint_dir(4), "cpu")
    final = load_file(str(run.final_dir / "model.safetensors"))
    saved_average = at_best.average["tensors"]
    assert at_best.average["updates"] == 4
    for name, tensor in final.items():
        assert torch.equal(tensor, saved_average[name]), name  # the average at the best evaluation
    assert any(not torch.equal(final[name], at_best.weights[name]) for name in final)  # not the raw weights


@pytest.mark.slow
def test_a_resumed_run_continues_the_same_average(tmp_path, corpus):
    cfg = fast_config(corpus, max_steps=8, save_interval=0, keep_checkpoints=10, ema_decay=0.7)
    whole = new_run_dir(tmp_path / "whole", cfg)
    assert train(cfg, whole)["state"] == "finished"

    split = new_run_dir(tmp_path / "split", cfg)
    first = Trainer(cfg, split, should_stop=lambda: first.state.step >= 4)
    assert first.run()["state"] == "stopped"
    assert checkpoints.read_checkpoint(split.checkpoint_dir(4), "cpu").average["updates"] == 4
    assert train(cfg, split, resume=True)["state"] == "finished"

    expected = checkpoints.read_checkpoint(whole.checkpoint_dir(8), "cpu").average
    resumed = checkpoints.read_checkpoint(split.checkpoint_dir(8), "cpu").average
    assert resumed["updates"] == expected["updates"] == 8
    for name, tensor in expected["tensors"].items():
        assert torch.allclose(resumed["tensors"][name], tensor, atol=1e-6), name


def test_the_decay_is_checked():
    cfg = RunConfig()
    cfg.train.ema_decay = 1.0
    assert any("train.ema_decay must be at least 0 and below 1" in p for p in cfg.validate(check_paths=False))
    cfg.train.ema_decay, cfg.train.distributed = 0.99, "fsdp"
    assert any("train.ema_decay needs whole weights" in p for p in cfg.validate(check_paths=False))
