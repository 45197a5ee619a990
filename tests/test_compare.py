"""Several runs' held-out curves against steps, tokens or minutes, read from their folders."""

import json

import pytest

from clm_gui.config import RunConfig
from clm_gui.runs.compare import curve, curves, settings_markdown, settings_rows
from clm_gui.runs.folder import new_run_dir
from clm_gui.ui.plots import comparison_spec


def run_with(runs_root, name: str, records: list[dict]):
    run = new_run_dir(runs_root, RunConfig(name=name))
    run.metrics_path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return run


def evaluated(step_tokens: int, seconds_per_step: float, losses: list[float], timed_evals: bool = True):
    records = []
    for i, loss in enumerate(losses, start=1):
        step = 10 * i
        records.append({"kind": "train", "step": step, "tokens": step * step_tokens, "train_loss": loss + 0.1,
                        "elapsed_s": step * seconds_per_step})
        record = {"kind": "eval", "step": step, "tokens": step * step_tokens, "eval_loss": loss,
                  "eval_bpb": loss / 2}
        if timed_evals:
            record["elapsed_s"] = step * seconds_per_step + 1
        records.append(record)
    return records


def test_runs_align_on_steps_tokens_or_minutes(runs_root):
    small = run_with(runs_root, "small-batch", evaluated(1000, 0.6, [3.0, 2.5, 2.4]))
    large = run_with(runs_root, "large-batch", evaluated(4000, 1.8, [2.8, 2.2]))
    by_steps = curves([small, large], "eval_loss", "steps")
    assert [c.x for c in by_steps] == [[10, 20, 30], [10, 20]]
    by_tokens = curves([small, large], "eval_bpb", "tokens")
    assert by_tokens[1].x == [40_000, 80_000] and by_tokens[1].y == [1.4, 1.1]
    by_minutes = curves([small, large], "eval_loss", "minutes")
    assert by_minutes[0].x == pytest.approx([7 / 60, 13 / 60, 19 / 60])


def test_evaluations_without_their_own_time_take_the_train_record_s(runs_root):
    old = run_with(runs_root, "older-run", evaluated(1000, 0.5, [3.0, 2.0], timed_evals=False))
    assert curve(old, "eval_loss", "minutes").x == pytest.approx([5 / 60, 10 / 60])


def test_runs_without_evaluations_are_left_out_and_the_chart_says_what_to_do(runs_root):
    none = run_with(runs_root, "no-evals", [{"kind": "train", "step": 10, "train_loss": 3.0}])
    assert curves([none], "eval_loss", "steps") == []
    assert "Tick two or more runs" in json.dumps(comparison_spec([], "eval_loss", "steps"))


def test_the_comparison_chart_draws_each_run_and_stars_its_best_point(runs_root):
    a = run_with(runs_root, "a", evaluated(1000, 0.6, [3.0, 2.5, 2.6]))
    b = run_with(runs_root, "b", evaluated(1000, 0.6, [2.9, 2.7]))
    spec = comparison_spec(curves([a, b], "eval_loss", "steps"), "eval_loss", "steps")
    lines = [t for t in spec["data"] if t.get("showlegend") is not False]
    stars = [t for t in spec["data"] if t.get("marker", {}).get("symbol") == "star"]
    assert [t["name"] for t in lines] == [a.id, b.id]
    assert [(s["x"], s["y"]) for s in stars] == [([20], [2.5]), ([20], [2.7])]
    assert spec["layout"]["xaxis"]["title"]["text"] == "step"


def configured_run(runs_root, name: str, **train):
    cfg = RunConfig(name=name)
    for key, value in train.items():
        setattr(cfg.train, key, value)
    return new_run_dir(runs_root, cfg)


def test_the_settings_table_shows_key_facts_then_only_the_settings_that_differ(runs_root):
    a = run_with(runs_root, "slow-lr", evaluated(1000, 0.6, [3.0, 2.5]))
    b = configured_run(runs_root, "fast-lr", learning_rate=1e-3, seed=7)
    b.metrics_path.write_text("".join(json.dumps(r) + "\n" for r in evaluated(1000, 0.6, [2.8, 2.0, 2.1])))
    a.write_status("finished", "Finished.", step=20, parameters=1_234_567)
    key_rows, differing = settings_rows([a, b])
    assert [r.name for r in key_rows] == ["Parameters", "Tokenizer", "Steps", "Best held-out bits/byte", "Notes"]
    facts = {r.name: r.values for r in key_rows}
    assert facts["Parameters"] == ["1.23M", "(unknown until it trains)"]
    assert facts["Best held-out bits/byte"] == ["1.250", "1.000"]
    assert facts["Tokenizer"][0] == facts["Tokenizer"][1] == "bpe, 8,192 tokens (trained)"
    assert {r.name: r.values for r in differing} == {"train.learning_rate": [str(RunConfig().train.learning_rate),
                                                                             "0.001"], "train.seed": ["1337", "7"]}

    table = settings_markdown([a, b], ["slow *lr*", "fast-lr"])
    assert "| Setting | slow \\*lr\\* | fast\\-lr |" in table  # run names as text, never Markdown
    assert "| train\\.seed | <mark>1337</mark> | <mark>7</mark> |" in table  # what differs is highlighted
    assert "| Tokenizer | bpe, 8,192 tokens (trained) | bpe, 8,192 tokens (trained) |" in table.replace("\\", "")
    assert "Every other setting is the same" not in table


def test_the_settings_table_asks_for_two_runs_and_says_when_nothing_else_differs(runs_root):
    a, b = configured_run(runs_root, "one"), configured_run(runs_root, "two")
    assert "Tick two or more runs" in settings_markdown([a], ["one"])
    assert settings_markdown([a, b], ["one", "two"]).endswith("*Every other setting is the same.*")


def test_the_settings_table_names_data_and_tokenizer_as_the_model_card_does_never_by_server_path(runs_root):
    cfg = RunConfig(name="mine")
    cfg.data.source = str(runs_root / "texts" / "notes.txt")
    cfg.tokenizer.path = str(runs_root / "tokenizers" / "mine")
    a, b = new_run_dir(runs_root, cfg), configured_run(runs_root, "demo")
    key_rows, differing = settings_rows([a, b])
    assert {r.name: r.values for r in differing}["data.source"] == [
        "texts/notes.txt in the app's data folder", "the demo corpus"]
    assert {r.name: r.values for r in key_rows}["Tokenizer"][0] == "tokenizers/mine in the app's data folder"
    assert "tokenizer.path" not in {r.name for r in differing}  # the Tokenizer row says it once
    assert str(runs_root) not in settings_markdown([a, b], ["mine", "demo"]).replace("\\", "")
