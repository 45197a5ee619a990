"""Quick start, as a person clicks it: a bad time budget refused in words, a file removed from the upload
widget no longer the data, a second press of Start while the first one's run trains said to be no error, a
reload mid-run that shows the run, "Watch it train" on the charts, and a page opened afterwards that does
not show the old run."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from clm_gui.runs.folder import list_runs
from clm_gui.units import format_bytes
from tests.fast_runs import write_corpus
from tests.waiting import TRAIN_WAIT, UI_WAIT

pytestmark = pytest.mark.browser


def test_a_removed_upload_is_not_the_data_and_a_second_start_keeps_the_first_ones_line(serve_app, page, tmp_path,
                                                                                        step_gate):
    removed = write_corpus(tmp_path / "upload" / "removed.txt", seed=1)
    kept = write_corpus(tmp_path / "upload" / "kept.txt", seed=2)
    page.goto(serve_app())
    status = page.locator("#quick-status")
    for budget in ("-2", "0.05"):  # refused by the app, in words, with the real limit: no "Error" marks
        page.locator("#quick-minutes input").fill(budget)
        page.locator("#quick-start").click()
        expect(status).to_contain_text(f"The time budget must be at least 0.1 minutes (it is {budget}).",
                                       timeout=UI_WAIT)
        expect(page.get_by_text("Error", exact=True)).to_have_count(0)
    page.screenshot(path=str(tmp_path / "quickstart-bad-budget.png"))
    page.locator("#quick-kind").get_by_text("Upload a file").click()
    files = page.locator("#quick-files")
    empty = tmp_path / "upload" / "empty.txt"
    empty.write_bytes(b"")
    files.locator("input[type=file]").set_input_files(str(empty))  # refused at upload, not at Start
    expect(status).to_contain_text("The file empty.txt is empty (0 bytes)", timeout=UI_WAIT)
    files.get_by_role("button", name="Clear").click()
    files.locator("input[type=file]").set_input_files(str(removed))
    expect(status).to_contain_text("ready: removed.txt", timeout=UI_WAIT)
    files.get_by_role("button", name="Clear").click()  # the widget's x
    expect(status).not_to_contain_text("removed.txt", timeout=UI_WAIT)
    page.locator("#quick-start").click()
    expect(status).to_contain_text("Upload a text file first", timeout=UI_WAIT)
    assert list_runs(tmp_path / "runs") == []

    files.locator("input[type=file]").set_input_files(str(kept))
    expect(status).to_contain_text("ready: kept.txt", timeout=UI_WAIT)
    page.locator("#quick-minutes input").fill("1")
    step_gate.open_until(1)  # the run trains one step, then waits: it is training at the second press
    page.locator("#quick-start").click()
    expect(status).to_contain_text("Started", timeout=TRAIN_WAIT)
    # the line alone: Gradio's progress timer ("0.2s") can sit in the same element for a moment
    started = re.search(r"Started .*Playground\.", status.inner_text()).group(0)
    step_gate.wait_held_at(1)
    page.locator("#quick-start").click()
    expect(page.get_by_text("is already training: your first Start started it.")).to_be_visible(timeout=UI_WAIT)
    expect(status).to_contain_text(started)  # the success line stays, not replaced by a warning
    expect(page.get_by_text("one run at a time")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "quickstart-second-start.png"))
    (run,) = list_runs(tmp_path / "runs")
    assert "kept.txt" in page.locator("#quick-choices").inner_text()
    plain = page.locator("#quick-choices td:nth-child(2)")  # the choices in words for a non-engineer too
    expect(page.locator("#quick-choices th").nth(1)).to_have_text("In plain words")
    expect(plain).to_have_count(4)
    expect(plain.nth(1)).to_contain_text("The model reads")
    page.locator("#quick-choices").screenshot(path=str(tmp_path / "quickstart-choices.png"))
    # The Model tab counts the dataset's tokens as Quick start planned with them (one text-per-token rule).
    planned = re.search(r"([\d,]+) training tokens", page.locator("#quick-choices").inner_text()).group(1)
    page.get_by_role("tab", name="Model", exact=True).click()
    expect(page.locator("#model-dataset-note")).to_contain_text("as the tokenizer cuts it", timeout=UI_WAIT)
    expect(page.get_by_label("Dataset tokens", exact=True)).to_have_value(planned.replace(",", ""))
    page.screenshot(path="/tmp/i27-model-tab-after-quickstart.png", full_page=True)
    page.get_by_role("tab", name="Quick start", exact=True).click()

    page.reload()  # mid-run: the form, the line and the choices as they were, and Start knows the run
    expect(page.locator("#quick-kind input[value=upload]")).to_be_checked(timeout=UI_WAIT)
    expect(page.locator("#quick-minutes input")).to_have_value("1")
    expect(status).to_contain_text(started, timeout=UI_WAIT)
    expect(page.locator("#quick-choices")).to_contain_text("kept.txt")
    page.locator("#quick-start").click()
    expect(page.get_by_text("is already training: your first Start started it.")).to_be_visible(timeout=UI_WAIT)

    page.locator("#quick-watch").click()  # the run's charts come first, its settings folded
    expect(page.locator("#train-status")).to_contain_text("live", timeout=UI_WAIT)
    expect(page.get_by_label("Max minutes", exact=True)).to_be_hidden(timeout=UI_WAIT)
    from_top = page.evaluate("() => document.querySelector('#train-loss-plot').getBoundingClientRect().top"
                             " + window.scrollY")
    assert from_top + 100 < page.viewport_size["height"]  # in the first screen, not 1,700 px down
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(tmp_path / "watch-it-train.png"))
    # Stop the held run, so that nothing trains on after the test.
    page.get_by_role("button", name="Stop", exact=True).click()
    step_gate.open()
    expect(page.locator("#train-status")).to_contain_text("stopped", timeout=TRAIN_WAIT)
    assert run.read_status()["state"] == "stopped"
    page.reload()  # a page opened once the run ended shows a fresh form, not an old run's choices
    expect(page.locator("#quick-start")).to_be_visible(timeout=UI_WAIT)
    expect(page.locator("#quick-watch")).to_be_hidden(timeout=UI_WAIT)
    expect(page.locator("#quick-choices")).not_to_contain_text("kept.txt")


def test_an_upload_s_size_is_stated_once_in_one_unit(serve_app, page, tmp_path):
    # A regression (#26, item 11): the upload widget said 1.2 MB (Gradio counts in 1024s) beside a status
    # that said 1.3 MB (powers of 1000, units.format_bytes).
    upload = tmp_path / "upload" / "essay.txt"
    upload.parent.mkdir(parents=True)
    upload.write_text("A line of an essay about rivers and towns.\n" * 30_233, encoding="utf-8")  # 1.3e6 bytes
    assert format_bytes(upload.stat().st_size) == "1.3 MB"
    page.goto(serve_app())
    page.locator("#quick-kind").get_by_text("Upload a file").click()
    files = page.locator("#quick-files")
    files.locator("input[type=file]").set_input_files(str(upload))
    expect(page.locator("#quick-status")).to_contain_text("ready: essay.txt, 1.3 MB", timeout=UI_WAIT)
    expect(files.locator(".file-preview")).to_contain_text("essay", use_inner_text=True)
    expect(files.locator(".file-preview")).not_to_contain_text("1.2 MB", use_inner_text=True)  # the widget's 1024s
    page.screenshot(path=str(tmp_path / "quickstart-upload-size.png"))
