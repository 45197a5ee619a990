"""End-to-end training on the demo corpus through the public API, on the CPU."""

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

from clm_gui.data.prompts import prompts_for
from clm_gui.model.architecture import count_parameters
from clm_gui.runs.folder import RunDir, new_run_dir
from clm_gui.train import checkpoints as checkpoints_lib
from clm_gui.train import trainer as trainer_lib
from clm_gui.train.trainer import Trainer, TrainState, train
from tests.conftest import make_tiny_config
from tests.fast_runs import fast_config, write_corpus

pytestmark = pytest.mark.slow


def losses(run: RunDir, kind="train_loss") -> dict[int, float]:
    return {r["step"]: r[kind] for r in run.read_metrics() if kind in r}


def test_training_lowers_the_loss_and_final_model_loads_with_plain_transformers(runs_root):
    cfg = make_tiny_config(max_steps=60, sample_interval=30)
    run = new_run_dir(runs_root, cfg)
    status = train(cfg, run)
    assert status["state"] == "finished", status
    train_losses = losses(run)
    assert train_losses[60] < train_losses[1] - 0.7, train_losses
    assert losses(run, "eval_loss")[60] < train_losses[1] - 0.7

    final = str(run.final_dir)
    model = AutoModelForCausalLM.from_pretrained(final)
    tokenizer = AutoTokenizer.from_pretrained(final)
    assert model.config.vocab_size % 64 == 0 and model.config.vocab_size >= len(tokenizer)
    text = pipeline("text-generation", model=model, tokenizer=tokenizer)("def ", max_new_tokens=8)[0]
    assert text["generated_text"].startswith("def ")
    assert (run.final_dir / "model.safetensors").is_file()
    samples = run.read_samples()
    assert samples and all(s["text"].startswith(s["prompt"]) for s in samples[-1]["samples"])
    assert [s["prompt"] for s in samples[-1]["samples"]] == prompts_for(cfg.data)  # the data's own


def test_run_folder_layout_and_metrics_fields(runs_root, tiny_config):
    run = new_run_dir(runs_root, tiny_config)
    train(tiny_config, run)
    names = {p.name for p in run.path.iterdir()}
    assert {"config.yaml", "status.json", "metrics.jsonl", "tokenizer", "checkpoints", "final"} <= names
    record = next(r for r in run.read_metrics() if r["kind"] == "train")
    assert {"step", "tokens", "train_loss", "lr", "tokens_per_s", "memory_gb"} <= set(record)
    assert [step for step, _ in run.checkpoints()] == [20, 30]  # keep_checkpoints=2
    assert not any(p.name.startswith(".tmp") for p in run.checkpoints_dir.iterdir())
    assert run.read_status()["parameters"] == count_parameters(AutoModelForCausalLM.from_pretrained(run.final_dir))


def test_memory_is_logged_in_the_gigabytes_the_planner_and_the_charts_use(runs_root, monkeypatch):
    """10^9 bytes, as every chart is labelled and every estimate is made (it was GiB under a "GB" label)."""
    import psutil

    monkeypatch.setattr(psutil, "Process", lambda: SimpleNamespace(memory_info=lambda: SimpleNamespace(rss=2_500_000_000)))
    cfg = make_tiny_config(max_steps=2, eval_interval=0, save_interval=0, sample_interval=0)
    run = new_run_dir(runs_root, cfg)
    assert train(cfg, run)["state"] == "finished"
    assert {r["memory_gb"] for r in run.read_metrics() if r["kind"] == "train"} == {2.5}


def test_stop_then_resume_matches_an_uninterrupted_run(runs_root):
    cfg = make_tiny_config(max_steps=20, eval_interval=0, save_interval=0)
    straight = new_run_dir(runs_root, cfg)
    assert train(cfg, straight)["state"] == "finished"

    resumed = new_run_dir(runs_root, cfg)
    first = Trainer(cfg, resumed, should_stop=lambda: first.state.step >= 10)
    status = first.run()
    assert status["state"] == "stopped" and status["step"] == 10
    assert [s for s, _ in resumed.checkpoints()] == [10]
    saved = checkpoints_lib.read_newest_intact(resumed, "cpu")[0].trainer_state  # what a resume restores
    assert TrainState.from_dict(saved) == dataclasses.replace(first.state, elapsed=saved["elapsed"])
    assert train(cfg, resumed, resume=True)["state"] == "finished"

    expected, got = losses(straight), losses(resumed)
    assert got[20] == pytest.approx(expected[20], abs=1e-5)
    assert got[15] == pytest.approx(expected[15], abs=1e-5)


def test_a_checkpoint_interrupted_mid_write_is_never_picked_up(runs_root, monkeypatch):
    cfg = make_tiny_config(max_steps=20, save_interval=10, eval_interval=0)
    run = new_run_dir(runs_root, cfg)
    real_write = checkpoints_lib.write_checkpoint

    def failing_second_write(folder, checkpoint, *rest):
        if checkpoint.step == 20:
            (folder).mkdir(parents=True)
            (folder / "model.safetensors").write_bytes(b"half")
            raise OSError("disk full")
        real_write(folder, checkpoint, *rest)

    monkeypatch.setattr(checkpoints_lib, "write_checkpoint", failing_second_write)
    status = train(cfg, run)
    assert status["state"] == "failed" and "step-10" in status["message"]
    assert run.latest_checkpoint() == run.checkpoint_dir(10)
    assert not run.checkpoint_dir(20).exists()
    assert not any(p.name.startswith(".tmp") for p in run.checkpoints_dir.iterdir())
    state = json.loads((run.checkpoint_dir(10) / "trainer_state.json").read_text())
    assert state["step"] == 10
    monkeypatch.setattr(checkpoints_lib, "write_checkpoint", real_write)
    assert train(cfg, run, resume=True)["state"] == "finished"


def test_streaming_mode_trains_and_resumes(runs_root):
    cfg = make_tiny_config(max_steps=12, eval_interval=0, save_interval=5)
    cfg.data.streaming = True
    run = new_run_dir(runs_root, cfg)
    first = Trainer(cfg, run, should_stop=lambda: first.state.step >= 5)
    assert first.run()["state"] == "stopped"
    assert train(cfg, run, resume=True)["state"] == "finished"
    straight = new_run_dir(runs_root, cfg)
    train(cfg, straight)
    assert losses(run)[10] == pytest.approx(losses(straight)[10], abs=1e-5)


def test_llama_family_trains(runs_root):
    cfg = make_tiny_config(max_steps=10, eval_interval=0)
    cfg.model.family, cfg.model.n_kv_head = "llama", 1
    run = new_run_dir(runs_root, cfg)
    assert train(cfg, run)["state"] == "finished"
    model = AutoModelForCausalLM.from_pretrained(str(run.final_dir))
    assert model.config.model_type == "llama" and model.config.num_key_value_heads == 1


def test_limits_by_tokens_and_time(runs_root):
    cfg = make_tiny_config(max_steps=0, max_tokens=8 * 64 * 7, eval_interval=0, save_interval=0)
    run = new_run_dir(runs_root, cfg)
    assert train(cfg, run)["step"] == 7

    # The trainer's clock moves only as steps train, 10 s a step, so the time limit ends the run at the
    # same step on any machine.
    clock = SimpleNamespace(now=time.time())

    def ten_seconds_a_step(step):
        clock.now += 10

    cfg = make_tiny_config(max_steps=0, max_minutes=1, eval_interval=0, save_interval=0)
    run = new_run_dir(runs_root, cfg)
    status = train(cfg, run, clock=lambda: clock.now, before_step=ten_seconds_a_step)
    assert status["state"] == "finished" and status["step"] == 6


def test_bad_data_fails_the_run_with_a_message(runs_root, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "a.txt").write_text("")
    cfg = make_tiny_config()
    cfg.data.source = str(empty)
    run = new_run_dir(runs_root, cfg)
    status = train(cfg, run)
    assert status["state"] == "failed"
    assert "no text" in status["message"]


def test_cli_trains_with_overrides_and_generates(tmp_path):
    cfg = make_tiny_config(max_steps=5, eval_interval=0, save_interval=0)
    config_path = tmp_path / "c.yaml"
    cfg.save(config_path)
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "clm_gui", "train", str(config_path), "--runs-dir", str(runs),
           "--set", "train.max_steps=6", "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[1])
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["step"] == 6
    [run_dir] = [p for p in runs.iterdir() if not p.name.startswith(".")]
    gen = subprocess.run([sys.executable, "-m", "clm_gui", "generate", str(run_dir), "--prompt", "import",
                          "--max-new-tokens", "5", "--json"], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).parents[1])
    assert gen.returncode == 0, gen.stderr
    assert json.loads(gen.stdout)["text"].startswith("import")


def test_cli_rejects_a_bad_config_with_every_problem(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  context_length: 4\n  n_head: 3\ntrain:\n  micro_batch_size: 0\n  bogus: 1\n")
    out = subprocess.run([sys.executable, "-m", "clm_gui", "train", str(path)], capture_output=True, text=True,
                         cwd=Path(__file__).parents[1], timeout=120)
    assert out.returncode == 2
    assert "train.bogus" in out.stderr and "Traceback" not in out.stderr


def test_resume_refuses_a_changed_model_naming_the_fields(runs_root, tmp_path):
    from clm_gui.errors import ConfigError
    from clm_gui.jobs.preparation import prepare_run

    cfg = make_tiny_config(max_steps=5, eval_interval=0, save_interval=5)
    run = new_run_dir(runs_root, cfg)
    train(cfg, run)
    with pytest.raises(ConfigError, match=r"model.n_embd \(64 -> 128\)"):
        prepare_run(None, ["model.n_embd=128"], run.path, runs_root)
    resumed_run, resumed_cfg = prepare_run(None, ["train.max_steps=8"], run.path, runs_root)
    assert resumed_cfg.train.max_steps == 8 and resumed_run == run


def test_same_seed_gives_the_same_initial_weights():
    from clm_gui.model.architecture import build_model

    cfg = make_tiny_config().model
    a, b = build_model(cfg, 1000, seed=1), build_model(cfg, 1000, seed=1)
    c = build_model(cfg, 1000, seed=2)
    assert a.config.vocab_size == 1024
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    assert not torch.equal(next(a.parameters()), next(c.parameters()))


def test_a_stop_while_the_training_data_is_tokenized_ends_the_run_as_stopped(runs_root, tmp_path):
    cfg = fast_config(write_corpus(tmp_path / "corpus.txt"))
    run = new_run_dir(runs_root, cfg)
    status = Trainer(cfg, run, should_stop=lambda: True).run()
    assert (status["state"], status["message"]) == ("stopped", "Stopped at step 0.")
    cache = runs_root / ".token-cache"
    assert not cache.exists() or not any(cache.iterdir())  # the half-written cache is gone
