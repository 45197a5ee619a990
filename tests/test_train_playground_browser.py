"""The Train and Playground tabs in a real browser: start, watch live, re-attach from a second page,
stop, resume, finish, generate, and read the model card."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from clm_gui.config import config_from_yaml
from clm_gui.jobs import manager_for
from clm_gui.monitor import read_metrics
from clm_gui.runs import list_runs
from clm_gui.tokenizer import train_tokenizer
from tests.conftest import make_tiny_config

pytestmark = pytest.mark.browser
TRAIN_WAIT = 120_000  # ms: a tiny CPU run on a busy 2-core machine
UI_WAIT = 30_000  # ms: a page update on a busy 2-core machine


@pytest.fixture
def tiny_config_file(tmp_path):
    """A tiny run with a tokenizer trained beforehand, saved as the config.yaml a user would upload."""
    from clm_gui import data

    cfg = make_tiny_config(max_steps=24, log_interval=2, eval_interval=8, save_interval=0, sample_interval=12)
    tokenizer = tmp_path / "tokenizer"
    train_tokenizer(data.iter_documents(cfg.data, "train", 0, 1), cfg.tokenizer).save_pretrained(str(tokenizer))
    cfg.name = "browser"
    cfg.tokenizer.path = str(tokenizer)
    path = tmp_path / "config.yaml"
    cfg.save(path)
    return path


def open_tab(page, name):
    page.get_by_role("tab", name=name).click()


def loss_chart_points(page) -> int:
    """How many points the loss chart's train line has (plotly draws it as an SVG path)."""
    return page.evaluate("""() => {
        const plot = document.querySelector('#train-loss-plot .js-plotly-plot');
        return plot && plot.data ? Math.max(0, ...plot.data.map(t => (t.x || []).length)) : 0;
    }""")


def test_start_watch_reattach_stop_resume_finish_and_generate(serve_app, page, browser, tiny_config_file, tmp_path):
    url = serve_app()
    page.goto(url)
    open_tab(page, "Train")
    expect(page.locator("#train-status")).to_contain_text("No runs yet", timeout=UI_WAIT)
    with page.expect_file_chooser() as chooser:
        page.locator("#train-load-config").click()
    chooser.value.set_files(str(tiny_config_file))
    expect(page.locator("#train-action")).to_contain_text("Loaded config.yaml", timeout=UI_WAIT)
    expect(page.get_by_label("Max steps")).to_have_value("24", timeout=UI_WAIT)
    page.get_by_text("Command line and config.yaml").click()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download config.yaml (these settings)").click()
    assert config_from_yaml(Path(download.value.path()).read_text()) == config_from_yaml(tiny_config_file.read_text())

    page.get_by_role("button", name="Start", exact=True).click()
    expect(page.locator("#train-action")).to_contain_text("Started", timeout=UI_WAIT)
    expect(page.locator("#train-status")).to_contain_text("live", timeout=TRAIN_WAIT)
    page.wait_for_function("() => document.querySelector('#train-progress')?.innerText.includes('ETA')",
                           timeout=TRAIN_WAIT)
    page.wait_for_function("""() => {
        const p = document.querySelector('#train-loss-plot .js-plotly-plot');
        return p && p.data && p.data.some(t => (t.x || []).length >= 2);
    }""", timeout=TRAIN_WAIT)
    first = loss_chart_points(page)
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
    records_then = len(read_metrics(run))
    expect(second.locator("#train-log textarea")).to_have_value(re.compile(r"loss"), timeout=UI_WAIT)
    deadline = time.time() + 60
    while len(read_metrics(run)) == records_then and time.time() < deadline:
        second.wait_for_timeout(500)
    assert len(read_metrics(run)) > records_then  # still training with the first page gone

    second.get_by_role("button", name="Stop").click()
    expect(second.locator("#train-action")).to_contain_text("Stopping", timeout=UI_WAIT)
    expect(second.locator("#train-status")).to_contain_text("stopped", timeout=UI_WAIT)
    stopped_at = run.read_status()["step"]
    assert 0 < stopped_at < 24 and run.latest_checkpoint() is not None

    second.reload()  # a reload shows every run with its state and charts
    open_tab(second, "Train")
    expect(second.locator("#train-runs")).to_contain_text(run.id, timeout=UI_WAIT)
    expect(second.locator("#train-runs")).to_contain_text("stopped", timeout=UI_WAIT)
    second.get_by_role("button", name="Resume").click()
    expect(second.locator("#train-action")).to_contain_text("Resuming", timeout=UI_WAIT)
    expect(second.locator("#train-status")).to_contain_text("finished", timeout=TRAIN_WAIT)
    expect(second.locator("#train-samples")).to_contain_text("Samples at step 24", timeout=UI_WAIT)
    assert manager_for(tmp_path / "runs").active_run() is None
    second.screenshot(path=str(tmp_path / "train-finished.png"), full_page=True)

    open_tab(second, "Playground")
    second.get_by_role("button", name="Refresh runs").click()
    expect(second.locator("#play-model input")).to_have_value("final", timeout=UI_WAIT)
    second.locator("#play-prompt textarea").fill("import ")
    second.get_by_role("button", name="Generate", exact=True).click()
    second.wait_for_function(
        "() => (document.querySelector('#play-output textarea')?.value || '').length > 'import '.length",
        timeout=30_000)
    assert second.locator("#play-output textarea").input_value().startswith("import ")
    second.get_by_text("Model card and export").click()
    expect(second.locator("#play-card")).to_contain_text("Final eval loss", timeout=UI_WAIT)
    second.screenshot(path=str(tmp_path / "playground.png"), full_page=True)
