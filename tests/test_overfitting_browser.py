"""Overfitting in plain sight, in a real browser: a finished run that memorised its data (held-out loss
bottoms at step 600, then climbs while train loss keeps falling) shows the best point on its loss chart,
bits per byte, the passes over the data, and says in words that it memorised; and the fields that fight
memorising (dropout, weight decay, keep, early-stop patience) reach the configuration a run starts with.

The run is written record by record into a run folder before the app starts, so nothing here depends on
how fast the machine trains."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from playwright.sync_api import expect

from clm_gui.config import config_from_yaml
from clm_gui.runs.folder import new_run_dir
from tests.conftest import make_tiny_config
from tests.waiting import UI_WAIT, wait_for

pytestmark = pytest.mark.browser
BEST_STEP, LAST_STEP = 600, 2000
SCREENSHOT = "/tmp/overfit.png"


def eval_loss_at(step: int) -> float:
    """Falls to 1.52 at BEST_STEP, then climbs by 0.02 every evaluation (every 100 steps)."""
    return 3.0 - 1.48 * step / BEST_STEP if step <= BEST_STEP else 1.52 + 0.02 * (step - BEST_STEP) / 100


def write_memorised_run(runs_root):
    run = new_run_dir(runs_root, make_tiny_config(max_steps=LAST_STEP, eval_interval=100))
    for step in range(20, LAST_STEP + 1, 20):
        epoch = step / 830  # about 2.4 passes by the end
        train_loss = 1.0 + 3.2 * math.exp(-step / 400) + 0.04 * math.sin(step / 7)  # falls, with batch noise
        lr = 1e-3 * (0.55 + 0.45 * math.cos(math.pi * step / LAST_STEP))  # cosine, down to 10%
        run.append_metrics({"kind": "train", "step": step, "tokens": step * 512, "train_loss": train_loss,
                            "lr": lr, "tokens_per_s": 9000.0, "elapsed_s": step / 20, "epoch": epoch,
                            "max_steps": LAST_STEP})
        if step % 100 == 0:
            loss = eval_loss_at(step)
            run.append_metrics({"kind": "eval", "step": step, "tokens": step * 512, "eval_loss": loss,
                                "eval_bpb": loss / math.log(2) / 3.1, "perplexity": math.exp(loss), "epoch": epoch,
                                "time": 1e9 + step})
    best = {"step": BEST_STEP, "eval_loss": eval_loss_at(BEST_STEP),
            "eval_bpb": eval_loss_at(BEST_STEP) / math.log(2) / 3.1}
    run.write_status("finished", f"Finished at step {LAST_STEP}; final/ holds the best model, from step {BEST_STEP}.",
                     step=LAST_STEP, pid=None, best=best, kept="best")
    return run


def plot_trace_names(page, plot_id: str) -> list[str]:
    return page.evaluate(f"""() => {{
        const plot = document.querySelector('#{plot_id} .js-plotly-plot');
        return plot && plot.data ? plot.data.map(t => t.name) : [];
    }}""")


def test_a_run_that_memorised_shows_its_best_point_and_says_so(serve_app, page, tmp_path):
    run = write_memorised_run(tmp_path / "runs")
    page.goto(serve_app())
    page.get_by_role("tab", name="Train").click()
    expect(page.locator("#train-status")).to_contain_text(run.id, timeout=UI_WAIT)
    expect(page.locator("#train-status")).to_contain_text("finished")

    note = page.locator("#train-memorising")
    expect(note).to_contain_text(f"Memorising: held-out loss has risen for 14 evaluations since step {BEST_STEP}",
                                 timeout=UI_WAIT)
    expect(note).to_contain_text(f"The best model, from step {BEST_STEP}, is the one kept.")
    expect(page.locator("#train-progress")).to_contain_text("2.4 passes over the data")

    page.locator("#train-loss-plot").scroll_into_view_if_needed()  # plots render once on screen
    page.wait_for_function("""() => {
        const plot = document.querySelector('#train-loss-plot .js-plotly-plot');
        return plot && plot.data && plot.data.some(t => t.name === 'best: step 600');
    }""", timeout=UI_WAIT)
    expect(page.locator("#train-loss-plot")).to_contain_text("best: step 600")  # in the drawn legend
    page.wait_for_function("() => document.querySelector('#train-bpb-plot .js-plotly-plot')?.data",
                           timeout=UI_WAIT)
    assert plot_trace_names(page, "train-bpb-plot") == ["eval bits/byte", "best: step 600"]
    expect(page.locator("#train-runs")).to_contain_text(f"{best_bpb(run):.3f}", timeout=UI_WAIT)

    page.locator("#train-status").scroll_into_view_if_needed()
    page.screenshot(path=SCREENSHOT, full_page=False)


def best_bpb(run) -> float:
    return run.read_status()["best"]["eval_bpb"]


def test_dropout_weight_decay_keep_and_patience_reach_the_configuration_a_run_starts_with(serve_app, page):
    page.goto(serve_app())
    page.get_by_role("tab", name="Model").click()
    page.locator("#model-dropout input").fill("0.2")
    page.locator("#model-apply").click()
    expect(page.locator("#model-applied")).to_contain_text("dropout 0.2", timeout=UI_WAIT)

    page.get_by_role("tab", name="Train").click()
    page.get_by_label("Weight decay", exact=True).fill("0.3")
    page.get_by_label("Early-stop patience", exact=True).fill("2")
    page.get_by_label("Keep", exact=True).click()
    page.get_by_role("option", name="last", exact=True).click()
    expect(page.get_by_label("Keep", exact=True)).to_have_value("last", timeout=UI_WAIT)  # the list has closed
    page.get_by_text("Command line and config.yaml").click()
    # The editor draws only the lines on screen, so the settings are read from the file it downloads,
    # until the draft has caught up with the last field typed.
    def downloaded():
        with page.expect_download() as download:
            page.get_by_role("button", name="Download config.yaml (these settings)").click()
        chosen = config_from_yaml(Path(download.value.path()).read_text())
        return chosen if chosen.train.early_stop_patience == 2 else None

    chosen = wait_for(downloaded, UI_WAIT / 1000, "the draft to hold the last field typed", every=0.25)
    assert chosen.model.dropout == 0.2
    assert (chosen.train.weight_decay, chosen.train.keep, chosen.train.early_stop_patience) == (0.3, "last", 2)
