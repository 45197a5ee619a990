"""The Hardware and Model tabs: their handlers' effect on the shared run configuration, and a real
browser reading the machine, measuring the CPU, and applying a recommendation."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from clm_gui.config import AUTO, OPTIMIZER_LABELS, RunConfig, TokenizerConfig, config_from_dict
from clm_gui.machine import hardware
from clm_gui.model import planner, sizing
from clm_gui.ui import hardware_tab, model_actions, plots

SLOW = 60_000  # ms, on a busy 2-core machine


def fields(**changes) -> model_actions.Fields:
    values = dict(family="gpt2", n_layer=4, n_embd=256, n_head=4, n_kv_head=0, intermediate_size=0,
                  context_length=256, gradient_checkpointing=False, micro_batch_size=8, grad_accum_steps=2,
                  tokens=1_000_000)
    return model_actions.Fields(**{**values, **changes})


def device(count: int = 1) -> sizing.DeviceSpec:
    return sizing.DeviceSpec("cuda", "H100", count, 80e9, 989e12, "bf16", True)


def test_applying_writes_the_model_batch_and_token_budget_into_a_copy_of_the_config():
    config = RunConfig().to_dict()
    updated = model_actions.apply_to_config(config, fields(), device(2))
    per_step = 8 * 2 * 256 * 2
    assert updated["model"]["n_layer"] == 4 and updated["model"]["n_embd"] == 256
    assert updated["train"]["micro_batch_size"] == 8 and updated["train"]["grad_accum_steps"] == 2
    assert updated["train"]["max_steps"] == -(-1_000_000 // per_step)
    assert updated["train"]["max_tokens"] == updated["train"]["max_steps"] * per_step
    assert updated["train"]["max_minutes"] == 0
    assert config["model"]["n_layer"] == RunConfig().model.n_layer  # the shared state is replaced, not changed
    assert config_from_dict(updated).validate(check_paths=False) == []


def test_a_time_budget_applied_becomes_the_run_s_time_limit_and_the_clock_ends_the_run():
    updated = model_actions.apply_to_config(RunConfig().to_dict(), fields(), device(), minutes=6,
                                            dataset_tokens=300_000)
    train = updated["train"]
    assert (train["max_minutes"], train["max_steps"]) == (6, 0)
    assert train["max_tokens"] == 0  # no pass cap: the clock (or early stopping) ends the run
    assert train["eval_interval"] == train["sample_interval"] == AUTO  # spread over the run, whatever its length
    assert train["learning_rate"] == planner.learning_rate_for(sizing.count_params(fields().model(), 8192).total)
    assert "at most 6 minutes" in model_actions.applied_markdown(fields(), train)
    assert config_from_dict(updated).validate(check_paths=False) == []


def test_the_applied_line_names_the_optimizer_as_quick_start_does():
    train = model_actions.apply_to_config(RunConfig().to_dict(), fields(), device(), minutes=6)["train"]
    for optimizer, label in OPTIMIZER_LABELS.items():
        text = model_actions.applied_markdown(fields(), {**train, "optimizer": optimizer})
        assert f", {label}, learning rate" in text


def test_the_recommendation_names_the_plan_once_and_leaves_its_figures_to_the_estimate():
    plan = planner.recommend(planner.PlanRequest(device=device(), hours=0.1, dataset_tokens=300_000))
    text = model_actions.recommendation_markdown(plan)
    assert f"Recommended: {plan.shape}" in text and "tokens/s" not in text and "Peak memory" not in text


def test_zero_tokens_applies_the_compute_optimal_budget_for_the_tokenizer_s_vocabulary():
    config = RunConfig().to_dict()
    config["tokenizer"]["vocab_size"] = 1000
    updated = model_actions.apply_to_config(config, fields(tokens=0), device())
    n_params = sizing.count_params(fields().model(), 1000).total
    assert updated["train"]["max_tokens"] >= 20 * n_params


def test_fields_explain_what_is_wrong_and_survive_emptied_boxes():
    assert any("n_head" in p for p in fields(n_head=3).problems())
    assert any("micro_batch_size" in p for p in fields(micro_batch_size=None).problems())
    assert fields().problems() == []


def test_vocabulary_comes_from_the_tokenizer_settings_or_a_default():
    assert model_actions.vocab_size({"tokenizer": {"vocab_size": 32000}}) == 32000
    assert model_actions.vocab_size({"tokenizer": {}}) == TokenizerConfig().vocab_size
    assert model_actions.vocab_size(None) == TokenizerConfig().vocab_size


def test_the_memory_chart_stacks_what_is_needed_beside_what_is_free():
    plan = planner.estimate(fields().model(), 8192, device(), 8, 1, 0)
    figure = plots.memory_figure(plan)
    needed = sum(bar.x[0] for bar in figure.data if bar.y[0] == "needed")
    assert needed == pytest.approx(plan.memory.total / 1e9)
    assert [bar.x[0] for bar in figure.data if bar.y[0] == "free"] == [pytest.approx(80)]


def test_the_peak_table_is_shown_with_its_sources():
    text = hardware_tab.peak_markdown()
    assert "H100 SXM" in text and "datasheet" in text


@pytest.mark.browser
def test_hardware_tab_reads_the_machine_and_the_model_tab_applies_a_recommendation(serve_app, page, tmp_path):
    page.goto(serve_app())
    page.get_by_role("tab", name="Hardware").click()  # the Quick start tab comes first
    machine = page.locator("#hardware-machine")
    expect(machine).to_contain_text("RAM", timeout=SLOW)
    expect(machine).to_contain_text("GB free")
    expect(machine).to_contain_text("GPUs")
    expect(page.locator("#hardware-gpus")).not_to_be_empty()
    page.locator("#hardware-measure").click()
    expect(page.locator("#hardware-measured")).to_contain_text("measured on cpu", timeout=SLOW)
    page.screenshot(path=str(tmp_path / "hardware-tab.png"), full_page=True)

    page.get_by_role("tab", name="Model").click()
    page.locator("#model-device input").click()
    page.get_by_role("option", name="This machine's CPU").click()
    expect(page.locator("#model-device")).to_be_visible()
    if not any(not g.error for g in hardware.snapshot().gpus):  # GPU inputs only where they mean something
        expect(page.get_by_label("GPU memory (GB)")).to_be_hidden()
    page.locator("#model-minutes input").fill("3")
    page.locator("#model-minutes input").press("Enter")
    expect(page.locator("#model-estimate")).to_contain_text("Estimate for these settings", timeout=SLOW)
    page.locator("#model-recommend").click()
    recommendation = page.locator("#model-recommendation")
    expect(recommendation).to_contain_text("Recommended: tiny (CPU demo)", timeout=SLOW)
    expect(page.locator("#model-layers input")).to_have_value("2")
    page.locator("#model-apply").click()
    expect(page.locator("#model-applied")).to_contain_text("Applied to the run settings: 2 layers, width 128",
                                                           timeout=SLOW)
    expect(page.locator("#model-applied")).to_contain_text("at most 3 minutes")
    expect(page.locator("#model-memory-plot .js-plotly-plot")).to_be_visible()
    page.screenshot(path=str(tmp_path / "model-tab.png"), full_page=True)
    page.get_by_role("tab", name="Train").click()
    expect(page.get_by_label("Max minutes", exact=True)).to_have_value("3", timeout=SLOW)


def test_a_negative_input_is_refused_by_its_name_with_how_to_fix_it(serve_app, page, tmp_path):
    # A regression (#26, item 11): -1 in a Model-tab box gave Gradio's toast "Value -1 is less than minimum
    # value 0.", which names no field and says nothing of what to give instead.
    page.goto(serve_app())
    page.get_by_role("tab", name="Model", exact=True).click()
    minutes = page.locator("#model-minutes input")
    minutes.fill("-1")
    minutes.press("Tab")
    page.locator("#model-recommend").click()
    expect(page.locator("#model-recommendation")).to_contain_text(
        "Time budget (minutes) cannot be negative (it is -1); 0 means no time budget.", timeout=SLOW)
    expect(page.get_by_text("less than minimum value")).to_have_count(0)
    page.locator("#model-apply").click()
    expect(page.locator("#model-applied")).to_contain_text("Not applied: Time budget (minutes) cannot be negative",
                                                           timeout=SLOW)
    page.screenshot(path=str(tmp_path / "model-negative.png"), full_page=True)
    assert [p.problems() for p in (model_actions.Target("auto", -2, "", -1, 5, -3),)] == [[
        "GPU memory (GB) cannot be negative (it is -2); 0 plans for this machine's free memory.",
        "GPUs cannot be negative (it is -1); 0 plans for all visible GPUs.",
        "Dataset tokens cannot be negative (it is -3); 0 means unknown."]]
