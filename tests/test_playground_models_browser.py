"""The Playground's model choice follows the runs folder: a page that saw a run while it trained offers its
final model once it ends, and a checkpoint deleted since is never what Generate uses."""

from __future__ import annotations

import shutil

import pytest
from playwright.sync_api import expect

from clm_gui.runs.folder import new_run_dir
from clm_gui.train.trainer import train
from tests.fast_runs import fast_config, write_corpus
from tests.waiting import GENERATE_WAIT, UI_WAIT

pytestmark = pytest.mark.browser


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def output_is_generated(page) -> None:
    page.wait_for_function(
        "() => (document.querySelector('#play-output textarea')?.value || '').length > 'def '.length",
        timeout=GENERATE_WAIT)


def test_a_run_that_ended_opens_on_its_final_model_never_a_deleted_checkpoint(serve_app, page, tmp_path):
    corpus = write_corpus(tmp_path / "corpus.txt")
    cfg = fast_config(corpus, max_steps=8, save_interval=2, keep_checkpoints=3)
    run = new_run_dir(tmp_path / "runs", cfg)
    assert train(cfg, run)["state"] == "finished"
    steps = [step for step, _ in run.checkpoints()]
    assert len(steps) >= 3
    later = run.path / "final-not-yet"
    run.final_dir.rename(later)  # the run as a page saw it while it trained: checkpoints, no final model

    page.goto(serve_app())
    open_tab(page, "Playground")
    model = page.locator("#play-model input")
    expect(model).to_have_value(f"checkpoint step {steps[-1]}", timeout=UI_WAIT)

    later.rename(run.final_dir)  # the run ends: final/ is written, the checkpoint the page offered is deleted
    shutil.rmtree(run.checkpoint_dir(steps[-1]))
    open_tab(page, "Train")
    open_tab(page, "Playground")
    expect(model).to_have_value("final", timeout=UI_WAIT)
    page.screenshot(path=str(tmp_path / "playground-final.png"))

    model.click()  # a checkpoint chosen on purpose stays chosen...
    page.get_by_role("option", name=f"checkpoint step {steps[-2]}", exact=True).click()
    open_tab(page, "Train")
    open_tab(page, "Playground")
    expect(model).to_have_value(f"checkpoint step {steps[-2]}", timeout=UI_WAIT)

    shutil.rmtree(run.checkpoint_dir(steps[-2]))  # ...until it is deleted under the open page
    page.locator("#play-prompt textarea").fill("def ")
    page.locator("#play-generate").click()
    expect(model).to_have_value("final", timeout=UI_WAIT)
    output_is_generated(page)
    assert page.locator("#play-prompt textarea").input_value() == "def "  # the typed prompt is kept
