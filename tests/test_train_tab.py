"""The Train tab without a browser: its draft handling, and the live view of a run built from its folder."""

from __future__ import annotations

import json

import pytest

from clm_gui.config import AUTO, CHECKPOINTS_PER_RUN, RunConfig, config_from_dict
from clm_gui.model import sizing
from clm_gui.runs.folder import new_run_dir
from clm_gui.train.cadence import EVALUATIONS_PER_RUN, describe
from clm_gui.ui import model_actions, plots
from clm_gui.ui.train_actions import (RUN_COLUMNS, SETTINGS, field_updates, labelled, memorising_html, merged_config,
                                      parse_prompts, progress_html, prompts_text, runs_table, shown_value,
                                      validation_markdown)
from tests.conftest import make_tiny_config

CPU = sizing.DeviceSpec("cpu", "a CPU", 1, 8e9, 50e9, "fp32", False)


def test_the_draft_updates_only_fields_it_changed_so_typing_in_the_next_field_is_kept():
    shown = RunConfig().to_dict()
    typed = {"name": shown["name"], **{s.key: shown_value(s, shown["train"][s.key]) for s in SETTINGS}}
    typed["max_steps"] = 500  # the edit the draft has now
    typed["max_tokens"] = 123_000  # typed since: the draft does not have it yet
    draft = {**shown, "train": {**shown["train"], "max_steps": 500}}
    assert field_updates(draft, shown, typed) == {}

    applied = {**draft, "train": {**draft["train"], "micro_batch_size": 64}}  # another tab changed a value
    assert field_updates(applied, draft, typed) == {"micro_batch_size": 64}


def test_new_training_fields_flow_into_the_run_configuration_by_their_keys():
    keys = [s.key for s in SETTINGS]
    assert {"weight_decay", "keep", "early_stop_patience"} <= set(keys)
    typed = {"weight_decay": 0.3, "keep": "last", "early_stop_patience": 2}
    values = {s.key: typed.get(s.key, shown_value(s, getattr(RunConfig().train, s.key))) for s in SETTINGS}
    cfg = config_from_dict(merged_config(RunConfig().to_dict(), {"name": "wd", **values}))
    assert (cfg.train.weight_decay, cfg.train.keep, cfg.train.early_stop_patience) == (0.3, "last", 2)
    assert cfg.validate(check_paths=False) == []


# ---------------------------------------------------------------------------------------------
# The live view of a run that memorised: best point, bits per byte, the note, passes, the run list.


def memorised_run(runs_root, keep="best"):
    """A finished run whose held-out loss bottoms at step 60 and then rises while train loss falls."""
    run = new_run_dir(runs_root, make_tiny_config(max_steps=100, keep=keep))
    for step in range(10, 101, 10):
        run.append_metrics({"kind": "train", "step": step, "tokens": step * 512, "train_loss": 5 - step / 50,
                            "lr": 1e-3, "tokens_per_s": 900.0, "elapsed_s": step / 10, "epoch": step / 40})
        eval_loss = 3.0 - step / 50 if step <= 60 else 1.8 + (step - 60) / 40
        run.append_metrics({"kind": "eval", "step": step, "tokens": step * 512, "eval_loss": eval_loss,
                            "eval_bpb": eval_loss / 0.6, "perplexity": 2.718 ** eval_loss, "epoch": step / 40})
    run.write_status("finished", "Finished at step 100.", step=100, kept=keep,
                     best={"step": 60, "eval_loss": 1.8, "eval_bpb": 3.0})
    return run


def test_the_loss_and_bits_per_byte_charts_mark_the_best_evaluation(runs_root):
    records = memorised_run(runs_root).read_metrics()
    specs = plots.training_specs(records)
    assert len(specs) == plots.TRAINING_CHARTS
    loss, bpb = specs[0], specs[1]
    best = [t for t in loss["data"] if t["name"] == "best: step 60"]
    assert len(best) == 1 and best[0]["x"] == [60] and best[0]["y"] == [pytest.approx(1.8)]
    assert "best: step 60" in best[0]["hovertemplate"]
    assert [t["name"] for t in bpb["data"]] == ["eval bits/byte", "best: step 60"]
    assert bpb["data"][1]["y"] == [pytest.approx(3.0)]
    assert not any(t["name"].startswith("best") for t in plots.loss_spec(records[:1])["data"])  # no eval yet
    assert "first evaluation" in json.dumps(plots.bpb_spec(records[:1]))


def test_the_live_view_says_it_memorised_shows_passes_and_lists_the_best_bits_per_byte(runs_root):
    run = memorised_run(runs_root)
    records, status = run.read_metrics(), run.read_status()
    note = memorising_html(run, status, records)
    assert "Memorising: held-out loss has risen for 4 evaluations since step 60" in note
    assert "is the one kept" in note
    assert "2.5 passes over the data" in progress_html(run, status, records)
    assert memorising_html(run, status, records[:6]) == ""  # still improving: nothing to say
    row = runs_table([run])[0]
    assert row[RUN_COLUMNS.index("Best bits/byte")] == 3.0
    last = memorised_run(runs_root, keep="last")
    assert "final/ holds the last step" in memorising_html(last, last.read_status(), last.read_metrics())


def test_the_model_tab_applies_its_dropout_and_shows_a_loaded_one():
    config = RunConfig().to_dict()
    shape = dict(family="gpt2", n_layer=2, n_embd=64, n_head=2, n_kv_head=0, intermediate_size=0, context_length=64,
                 gradient_checkpointing=False, micro_batch_size=8, grad_accum_steps=1, tokens=100_000)
    applied = model_actions.apply_to_config(config, model_actions.Fields(**shape, dropout=0.15), CPU)
    assert applied["model"]["dropout"] == 0.15
    assert model_actions.Fields(**shape, dropout=None).dropout == 0.0  # an emptied box
    assert any("dropout" in p for p in model_actions.Fields(**shape, dropout=1.0).problems())
    loaded = {**config, "model": {**config["model"], "dropout": 0.25}}
    assert model_actions.config_fields(loaded)["dropout"] == 0.25
    assert set(model_actions.config_fields(None).values()) == {None}  # a configuration that says nothing


def test_an_emptied_or_unreadable_number_blocks_start_with_a_message_naming_the_field():
    values = {s.key: shown_value(s, getattr(RunConfig().train, s.key)) for s in SETTINGS}
    values["learning_rate"] = None  # what the page sends for "abc" in a number box
    text = validation_markdown(merged_config(RunConfig().to_dict(), {"name": "", **values}))
    assert text.startswith("**Fix before starting:**")
    assert "Learning rate (train.learning_rate) is empty or not a number" in text
    assert labelled(["train.max_steps cannot be negative"]) == ["Max steps (train.max_steps) cannot be negative"]


def test_sample_prompts_travel_one_per_line_with_their_trailing_spaces_and_line_breaks():
    prompts = ["ROMEO: ", "Enter the", "\n"]
    assert parse_prompts(prompts_text(prompts)) == prompts
    assert prompts_text(prompts) == "ROMEO: \nEnter the\n\\n"
    assert parse_prompts("first \n\n  \nsecond") == ["first ", "second"]


def test_the_progress_bar_shows_the_step_the_run_ended_on(runs_root):
    # A regression (#26, item 11): the bar said step 1,090 of a run that finished after 1095 steps.
    run = new_run_dir(runs_root, make_tiny_config())
    run.append_metrics({"kind": "train", "step": 1090, "tokens": 1090, "train_loss": 3.0, "elapsed_s": 10.0})
    status = run.write_status("finished", "Finished after 1095 steps.", step=1095)
    assert "step 1,095" in progress_html(run, status, run.read_metrics())


def test_the_automatic_settings_hints_give_the_cadence_counts_the_trainer_uses():
    hints = {setting.key: setting.info for setting in SETTINGS}
    assert hints["eval_interval"].startswith(f"-1: {describe(AUTO, EVALUATIONS_PER_RUN)}; ")
    assert hints["save_interval"].startswith(f"-1: {CHECKPOINTS_PER_RUN} times over the run")
