"""What a finished run looks like in the Train tab, in a real browser: small charts whose titles no toolbar
covers, an MFU chart that says why a CPU run has none, samples that wrap, a log that lists each thing once
and ends on the newest line, and one step count (#26, item 11)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from clm_gui.runs.folder import new_run_dir
from tests.conftest import make_tiny_config
from tests.waiting import UI_WAIT

pytestmark = pytest.mark.browser
LONG_LINE = "the river ran past the town and " * 20  # one line of 640 characters


def finished_cpu_run(runs_root):
    """A run folder as a CPU run leaves it: train records without MFU, evaluations, samples, a train.log
    with the command line's echo, and a status whose step is past the last train record."""
    run = new_run_dir(runs_root, make_tiny_config())
    for step in range(10, 100, 10):
        run.append_metrics({"kind": "train", "step": step, "tokens": step * 64, "train_loss": 5 - step / 50,
                            "lr": 1e-3, "tokens_per_s": 900.0, "elapsed_s": step / 10, "memory_gb": 0.4})
    for step in (50, 95):
        run.append_metrics({"kind": "eval", "step": step, "tokens": step * 64, "eval_loss": 4 - step / 100,
                            "eval_bpb": 3.0, "perplexity": 20.0})
    run.append_sample({"step": 95, "samples": [{"prompt": "the river", "text": LONG_LINE}]})
    run.log_path.write_text(f"Run: {run.id}\nstep 50: eval loss 3.5000\nstep 95: eval loss 3.0500\n"
                            "Writing model shards: 100%|##########| 1/1 [00:00<00:00]\n"
                            "finished: Finished after 95 steps.\n", encoding="utf-8")
    run.write_status("finished", "Finished after 95 steps.", step=95)
    return run


def test_a_finished_cpu_run_reads_cleanly(serve_app, page, tmp_path):
    finished_cpu_run(tmp_path / "runs")
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.goto(serve_app())
    page.get_by_role("tab", name="Train", exact=True).click()
    expect(page.locator("#train-progress")).to_contain_text("step 95", timeout=UI_WAIT)

    charts = page.locator(".clm-small-chart")
    expect(charts).to_have_count(4)
    for i in range(4):
        chart = charts.nth(i)
        chart.scroll_into_view_if_needed()
        expect(chart.locator(".js-plotly-plot")).to_be_visible(timeout=UI_WAIT)
        chart.hover()  # plotly shows its toolbar on hover
        expect(chart.locator(".modebar-container")).to_be_hidden()
        expect(chart.locator(".gtitle")).to_be_visible()
    expect(charts.nth(2)).to_contain_text("No MFU for this run")

    sample = page.locator("#train-samples pre").first
    expect(sample).to_contain_text("the river ran past the town", timeout=UI_WAIT)
    fits = sample.evaluate("e => e.scrollWidth <= e.clientWidth + 1")
    assert fits, "the sample's long line runs past its box instead of wrapping"
    box = sample.bounding_box()
    assert box["height"] > 60  # wrapped onto several lines

    log = page.locator("#train-log textarea")
    expect(log).to_have_value(re.compile(r"\[finished\] Finished after 95 steps\.$"), timeout=UI_WAIT)
    text = log.input_value()
    lines = text.splitlines()
    assert lines[-1] == "[finished] Finished after 95 steps."
    assert sum("eval loss 3.0500" in line for line in lines) == 1 and "Writing model shards" not in text
    at_bottom = log.evaluate("e => e.scrollTop + e.clientHeight >= e.scrollHeight - 2")
    assert at_bottom, "the log does not show its newest line"
    page.locator("#train-progress").scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "train-finished.png"), full_page=True)
