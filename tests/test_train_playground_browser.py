"""The whole journey in a real browser: the demo corpus, a tokenizer trained in the wizard and the tiny
preset; then start, watch live, re-attach from a second page, stop, resume, finish, generate, and read
the model card."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from clm_gui.config import config_from_yaml
from clm_gui.jobs.manager import manager_for
from clm_gui.runs.folder import list_runs
from clm_gui.runs.monitor import current_metrics
from tests.waiting import TRAIN_WAIT, UI_WAIT

pytestmark = pytest.mark.browser


def open_tab(page, name):
    page.get_by_role("tab", name=name).click()


def loss_chart_points(page) -> int:
    """How many points the loss chart's train line has (plotly draws it as an SVG path)."""
    return page.evaluate("""() => {
        const plot = document.querySelector('#train-loss-plot .js-plotly-plot');
        return plot && plot.data ? Math.max(0, ...plot.data.map(t => (t.x || []).length)) : 0;
    }""")


def test_a_new_user_trains_with_the_defaults_watches_stops_resumes_and_generates(serve_app, page, browser, tmp_path,
                                                                                step_gate):
    url = serve_app()
    page.goto(url)
    # Dataset: the built-in demo corpus, as it comes; only its first documents, to keep CI quick.
    open_tab(page, "Dataset")
    page.get_by_text("Preprocessing (applied lazily, in both modes)").click()
    page.get_by_label("Read at most N documents (0: all)").fill("300")
    page.get_by_label("Read at most N documents (0: all)").press("Enter")
    # Tokenizer: a small BPE trained in the wizard, used for training.
    open_tab(page, "Tokenizer")
    page.locator("#tokenizer-sample input").fill("40")
    page.locator("#tokenizer-vocab-size input").fill("384")
    page.locator("#tokenizer-name textarea, #tokenizer-name input").first.fill("bpe-384")
    page.locator("#tokenizer-train").click()
    expect(page.locator("#tokenizer-status")).to_contain_text("In use for training: bpe-384", timeout=TRAIN_WAIT)
    # Model: the tiny preset, applied to the run settings.
    open_tab(page, "Model")
    page.locator("#model-preset input").click()
    page.get_by_role("option", name="tiny (CPU demo)").click()
    expect(page.locator("#model-layers input")).to_have_value("2", timeout=UI_WAIT)
    page.locator("#model-apply").click()
    expect(page.locator("#model-applied")).to_contain_text("2 layers, width 128", timeout=UI_WAIT)

    # Train on the CPU (the suite's promise, on a machine with a GPU too). The step gate holds the run
    # at steps the test opens one after another (it logs at 1, 10, 20, ...), so it is still training
    # whenever the test looks or presses Stop, however fast the machine; after the stop it is resumed
    # "until" a few steps further, so it also finishes quickly.
    open_tab(page, "Train")
    expect(page.locator("#train-status")).to_contain_text("No runs yet", timeout=UI_WAIT)
    page.locator("#train-setting-device input").click()
    page.get_by_role("option", name="cpu", exact=True).click()
    for label, value in [("Max tokens", "0"), ("Evaluate every (steps)", "8"), ("Samples every (steps)", "12"),
                         ("Checkpoint every (steps)", "0"), ("Max steps", "2000")]:
        page.get_by_label(label, exact=True).fill(value)
    # The page takes the edits one at a time, in order: once the summary shows the last one (the step limit,
    # 0 until then), the download button holds the config.yaml of them all (on a busy machine it can still
    # be updating when clicked).
    expect(page.locator("#train-validation")).to_contain_text("stopping at 2,000 steps", timeout=UI_WAIT)
    page.get_by_text("Command line and config.yaml").click()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download config.yaml (these settings)").click()
    chosen = config_from_yaml(Path(download.value.path()).read_text())  # every tab's choice, in one config
    assert chosen.data.source == "demo" and chosen.data.max_documents == 300
    assert chosen.tokenizer.path.endswith("bpe-384") and chosen.tokenizer.vocab_size == 384
    assert (chosen.model.n_layer, chosen.model.n_embd) == (2, 128)
    assert (chosen.train.max_steps, chosen.train.max_tokens, chosen.train.eval_interval) == (2000, 0, 8)
    assert chosen.train.device == "cpu"

    step_gate.open_until(10)  # two train records: a chart line and a pace for the ETA
    page.get_by_role("button", name="Start", exact=True).click()
    expect(page.locator("#train-action")).to_contain_text("Started", timeout=UI_WAIT)
    expect(page.locator("#train-status")).to_contain_text("live", timeout=TRAIN_WAIT)
    page.wait_for_function("() => document.querySelector('#train-progress')?.innerText.includes('ETA')",
                           timeout=TRAIN_WAIT)
    page.wait_for_function("""() => {
        const p = document.querySelector('#train-loss-plot .js-plotly-plot');
        return p && p.data && p.data.some(t => (t.x || []).length >= 2);
    }""", timeout=TRAIN_WAIT)
    step_gate.wait_held_at(10)
    first = loss_chart_points(page)
    step_gate.open_until(20)
    page.wait_for_function(f"""() => {{
        const p = document.querySelector('#train-loss-plot .js-plotly-plot');
        return p.data.some(t => (t.x || []).length > {first});
    }}""", timeout=TRAIN_WAIT)  # the chart grows as the run trains, without any click
    page.screenshot(path=str(tmp_path / "train-live.png"), full_page=True)

    # A second browser re-attaches to the live run; closing the first page does not stop training.
    second = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    second.goto(url)
    open_tab(second, "Train")
    run = list_runs(tmp_path / "runs")[0]
    expect(second.locator("#train-status")).to_contain_text(run.id, timeout=UI_WAIT)
    expect(second.locator("#train-status")).to_contain_text("live", timeout=UI_WAIT)
    # One training at a time: this page offers no second Start.
    expect(second.get_by_role("button", name="Start", exact=True)).to_be_disabled(timeout=UI_WAIT)
    page.context.close()
    step_gate.wait_held_at(20)
    records_then = len(current_metrics(run))
    expect(second.locator("#train-log textarea")).to_have_value(re.compile(r"loss"), timeout=UI_WAIT)
    step_gate.open_until(30)
    step_gate.wait_held_at(30)
    assert len(current_metrics(run)) > records_then  # still training with the first page gone

    second.get_by_role("button", name="Stop").click()
    expect(second.locator("#train-action")).to_contain_text("Stopping", timeout=UI_WAIT)
    step_gate.open()  # the run takes the stop request before its next step
    expect(second.locator("#train-status")).to_contain_text("stopped", timeout=UI_WAIT)
    stopped_at = run.read_status()["step"]
    assert stopped_at == 30 and run.latest_checkpoint().name == "step-30"

    second.reload()  # a reload shows every run with its state and charts
    open_tab(second, "Train")
    expect(second.locator("#train-runs")).to_contain_text(run.id, timeout=UI_WAIT)
    expect(second.locator("#train-runs")).to_contain_text("stopped", timeout=UI_WAIT)
    expect(second.locator("#train-resume-until input")).to_have_value("2000", timeout=UI_WAIT)
    final_step = stopped_at + 6
    second.locator("#train-resume-until input").fill(str(final_step))
    second.get_by_role("button", name="Resume").click()
    expect(second.locator("#train-action")).to_contain_text("Resuming", timeout=UI_WAIT)
    expect(second.locator("#train-status")).to_contain_text("finished", timeout=TRAIN_WAIT)
    expect(second.locator("#train-samples")).to_contain_text(f"Samples at step {final_step}", timeout=UI_WAIT)
    assert run.read_status()["step"] == final_step
    # Start comes back once the training process has exited (until then it may still hold memory).
    expect(second.get_by_role("button", name="Start", exact=True)).to_be_enabled(timeout=UI_WAIT)
    assert manager_for(tmp_path / "runs").active_run() is None
    second.screenshot(path=str(tmp_path / "train-finished.png"), full_page=True)

    open_tab(second, "Playground")
    second.get_by_role("button", name="Refresh runs").click()
    expect(second.locator("#play-model input")).to_have_value("final", timeout=UI_WAIT)
    second.locator("#play-prompt textarea").fill("import ")
    second.get_by_role("button", name="Generate", exact=True).click()
    second.wait_for_function(
        "() => (document.querySelector('#play-output textarea')?.value || '').length > 'import '.length",
        timeout=UI_WAIT)
    assert second.locator("#play-output textarea").input_value().startswith("import ")
    second.get_by_text("Model card and export").click()
    expect(second.locator("#play-card")).to_contain_text("Final eval loss", timeout=UI_WAIT)
    second.screenshot(path=str(tmp_path / "playground.png"), full_page=True)

