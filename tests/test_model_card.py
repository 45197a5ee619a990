"""The model card in final/: configuration, data, tokenizer, final loss and a loss plot that needs no browser.
Also the trainer's optional TensorBoard mirror, checked on the same training run."""

from __future__ import annotations

import re
import sys
import types
import xml.etree.ElementTree as ET

import pytest
import yaml
from transformers import AutoModelForCausalLM

from clm_gui.config import config_from_yaml
from clm_gui.files import read_jsonl
from clm_gui.runs.folder import new_run_dir
from clm_gui.runs.model_card import loss_plot_svg, model_card_text, nice_ticks, read_model_card
from clm_gui.train.tensorboard_log import SCALARS, TensorBoardLog
from clm_gui.train.trainer import train
from tests.conftest import make_tiny_config

SVG = "{http://www.w3.org/2000/svg}"


class RecordingWriter:
    """Stands in for torch.utils.tensorboard.SummaryWriter: remembers what it was given."""

    instances: list[RecordingWriter] = []

    def __init__(self, log_dir):
        self.log_dir, self.scalars, self.flushes = log_dir, [], 0
        RecordingWriter.instances.append(self)

    def add_scalar(self, tag, value, global_step):
        self.scalars.append((tag, value, global_step))

    def flush(self):
        self.flushes += 1


def fake_tensorboard(monkeypatch):
    module = types.ModuleType("torch.utils.tensorboard")
    module.SummaryWriter = RecordingWriter
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", module)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A tiny finished run, trained while a (recording) tensorboard is installed."""
    with pytest.MonkeyPatch.context() as mp:
        fake_tensorboard(mp)
        RecordingWriter.instances.clear()
        cfg = make_tiny_config(max_steps=20, sample_interval=20)
        run = new_run_dir(tmp_path_factory.mktemp("runs"), cfg)
        status = train(cfg, run)
    assert status["state"] == "finished", status
    return cfg, run, list(RecordingWriter.instances)


def parse_svg(text):
    root = ET.fromstring(text)
    assert root.tag == f"{SVG}svg"
    return root


def test_loss_plot_draws_every_train_point_and_each_evaluation_inside_the_canvas():
    metrics = [{"kind": "train", "step": s, "train_loss": 7 - s / 10} for s in range(1, 41)]
    metrics += [{"kind": "eval", "step": s, "eval_loss": 6.8 - s / 10} for s in (10, 20, 30, 40)]
    root = parse_svg(loss_plot_svg(metrics))
    width, height = float(root.get("width")), float(root.get("height"))
    line = root.find(f"{SVG}polyline")
    points = [tuple(map(float, p.split(","))) for p in line.get("points").split()]
    assert len(points) == 40
    assert all(0 <= x <= width and 0 <= y <= height for x, y in points)
    assert points[-1][1] > points[0][1]  # the loss falls, so the line goes down the screen (y grows)
    assert len(root.findall(f"{SVG}circle")) == 4


def memorised_run(runs_root, keep):
    """A run folder whose held-out loss bottoms at step 60 (1.8 nats, 3.0 bits/byte), then rises to 2.8."""
    run = new_run_dir(runs_root, make_tiny_config(max_steps=100, keep=keep))
    for step in range(10, 101, 10):
        eval_loss = 3.0 - step / 50 if step <= 60 else 1.8 + (step - 60) / 40
        run.append_metrics({"kind": "train", "step": step, "tokens": step * 512, "train_loss": 5 - step / 50})
        run.append_metrics({"kind": "eval", "step": step, "tokens": step * 512, "eval_loss": eval_loss,
                            "eval_bpb": eval_loss / 0.6, "perplexity": 2.718 ** eval_loss})
    run.write_status("finished", "Finished.", step=100, kept=keep, best={"step": 60, "eval_loss": 1.8, "eval_bpb": 3.0})
    return run


def test_the_card_says_which_step_final_holds_and_what_the_last_evaluation_scored(runs_root):
    best = model_card_text(run := memorised_run(runs_root, "best"), run.load_config())
    assert "- This model is from step 60, the best evaluation (eval loss 1.8000, 3.000 bits/byte)" in best
    assert "- Final eval loss: 2.8000 (perplexity 16.44, 4.667 bits/byte), at the last evaluation (step 100)" in best
    last = model_card_text(run := memorised_run(runs_root, "last"), run.load_config())
    assert ("- This model is from the last step (`train.keep: last`); the best evaluation was at step 60 "
            "(eval loss 1.8000, 3.000 bits/byte)") in last


def test_the_card_of_a_run_that_never_evaluated_says_its_model_is_the_last_step(runs_root):
    run = new_run_dir(runs_root, make_tiny_config())
    run.append_metrics({"kind": "train", "step": 10, "tokens": 5120, "train_loss": 4.0})
    assert "- This model is from the last step (no evaluation ran)" in model_card_text(run, run.load_config())


def test_loss_plot_marks_the_best_evaluation_with_its_step(runs_root):
    root = parse_svg(loss_plot_svg(read_jsonl(memorised_run(runs_root, "best").metrics_path)))
    marker = root.findall(f"{SVG}polygon[@class='best']")
    assert len(marker) == 1
    assert [t.text for t in root.findall(f"{SVG}text[@class='best']")] == ["best: step 60"]
    corners = [tuple(map(float, p.split(","))) for p in marker[0].get("points").split()]
    centre = (sum(x for x, _ in corners) / 4, sum(y for _, y in corners) / 4)
    at_60 = root.findall(f"{SVG}circle")[5]  # the evaluations are drawn in step order: 10, 20, ... 60
    assert centre == pytest.approx((float(at_60.get("cx")), float(at_60.get("cy"))), abs=0.1)


def test_bits_per_byte_have_their_own_tensorboard_tag():
    assert SCALARS["eval_bpb"] == "bpb/eval"


def test_loss_plot_without_any_metrics_says_so_instead_of_failing():
    root = parse_svg(loss_plot_svg([]))
    assert "No loss recorded yet" in "".join(root.itertext())


@pytest.mark.parametrize("lo,hi", [(0, 30), (6.02, 6.93), (0.001, 0.0042), (2.5, 2.5), (0, 123_456)])
def test_axis_ticks_are_round_and_cover_the_data(lo, hi):
    ticks = nice_ticks(lo, hi)
    assert ticks[0] <= lo and ticks[-1] >= hi
    assert 2 <= len(ticks) <= 12
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:])}
    assert len(steps) == 1
    mantissa = float(f"{steps.pop():e}".split("e")[0])
    assert mantissa in (1.0, 2.0, 5.0)


@pytest.mark.slow
def test_a_finished_run_has_a_model_card_with_configuration_data_tokenizer_loss_and_plot(trained_run):
    cfg, run, _ = trained_run
    card = (run.final_dir / "README.md").read_text()
    front, body = re.match(r"^---\n(.*?)\n---\n(.*)$", card, re.S).groups()
    assert yaml.safe_load(front)["library_name"] == "transformers"

    metrics = run.read_metrics()
    last_train = [r for r in metrics if r["kind"] == "train"][-1]
    last_eval = [r for r in metrics if r["kind"] == "eval"][-1]
    assert f"final train loss: {last_train['train_loss']:.4f}" in body
    assert f"Final eval loss: {last_eval['eval_loss']:.4f}" in body
    assert f"Tokens trained on: {last_train['tokens']:,}" in body
    assert "built-in demo corpus" in body and "at most 300 documents" in body
    vocab = len(__import__("transformers").AutoTokenizer.from_pretrained(str(run.final_dir)))
    assert f"Vocabulary: {vocab:,} tokens" in body
    config_block = re.search(r"```yaml\n(.*?)```", body, re.S).group(1)
    assert config_from_yaml(config_block) == cfg  # the card carries the whole, reusable configuration

    assert "![Training and evaluation loss](loss.svg)" in body
    plot = parse_svg((run.final_dir / "loss.svg").read_text())
    assert len(plot.find(f"{SVG}polyline").get("points").split()) == len([r for r in metrics if r["kind"] == "train"])
    AutoModelForCausalLM.from_pretrained(str(run.final_dir))  # the card sits beside a loadable model


def test_a_page_reads_the_card_without_its_metadata_and_with_the_plot_beside_it(trained_run, tmp_path):
    _, run, _ = trained_run
    text, svg = read_model_card(run.final_dir)
    card = (run.final_dir / "README.md").read_text()
    assert text == re.match(r"^---\n.*?\n---\n(.*)$", card, re.S).group(1).replace(
        "![Training and evaluation loss](loss.svg)\n", "")
    assert "library_name" not in text and "loss.svg" not in text and "Final eval loss" in text
    assert svg == (run.final_dir / "loss.svg").read_text() and parse_svg(svg)
    assert read_model_card(tmp_path) is None  # no card yet


@pytest.mark.slow
def test_training_mirrors_every_metric_record_to_tensorboard_when_it_is_installed(trained_run):
    _, run, writers = trained_run
    assert len(writers) == 1 and writers[0].log_dir == str(run.path / "tensorboard")
    metrics = run.read_metrics()
    expected = [(SCALARS[key], r[key], r["step"]) for r in metrics for key in SCALARS if key in r]
    assert sorted(writers[0].scalars) == sorted(expected)
    assert writers[0].flushes == len(metrics)  # flushed as it goes: a live viewer sees the run


def test_without_tensorboard_nothing_is_written_and_nothing_fails(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails, as when not installed
    log = TensorBoardLog(tmp_path / "tensorboard")
    log.write({"kind": "train", "step": 1, "train_loss": 3.0})
    assert log.available is False
    assert not (tmp_path / "tensorboard").exists()


def test_the_card_counts_the_steps_the_run_made_not_its_last_logged_one(runs_root):
    # A regression (#26, item 11): the card said "Steps: 1,090" of a run that finished after 1095 steps.
    run = new_run_dir(runs_root, make_tiny_config())
    run.append_metrics({"kind": "train", "step": 1090, "tokens": 1090 * 512, "train_loss": 4.0})
    run.append_metrics({"kind": "eval", "step": 1095, "tokens": 1095 * 512, "eval_loss": 4.2, "perplexity": 66.7})
    run.write_status("finished", "Finished after 1095 steps.", step=1095)
    assert "- Steps: 1,095; final train loss: 4.0000" in model_card_text(run, run.load_config())
