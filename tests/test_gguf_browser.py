"""The Playground exports a run's final model as GGUF beside the zip: a progress line while it writes, then
the file and its Ollama Modelfile to download, with the size."""

from __future__ import annotations

import threading

import gguf
import pytest
from playwright.sync_api import expect

from clm_gui.runs import gguf_export
from clm_gui.runs.folder import new_run_dir
from clm_gui.train.trainer import train
from tests.fast_runs import fast_config, write_corpus
from tests.waiting import UI_WAIT, WAIT_S

pytestmark = pytest.mark.browser


def test_the_gguf_button_shows_progress_then_offers_the_file_and_its_modelfile(serve_app, page, tmp_path,
                                                                               monkeypatch):
    cfg = fast_config(write_corpus(tmp_path / "corpus.txt"), max_steps=4)
    run = new_run_dir(tmp_path / "runs", cfg)
    assert train(cfg, run)["state"] == "finished"
    # Hold the export after its first tensor, so the page is seen mid-write whatever the machine's speed.
    first_written, release = threading.Event(), threading.Event()
    write_tensor = gguf_export._tensor_bytes

    def held(*args):
        if first_written.is_set():
            release.wait(timeout=WAIT_S)
        first_written.set()
        return write_tensor(*args)

    monkeypatch.setattr(gguf_export, "_tensor_bytes", held)

    page.goto(serve_app())
    page.get_by_role("tab", name="Playground").click()
    expect(page.locator("#play-run input")).to_have_value(run.id, timeout=UI_WAIT)
    page.get_by_text("Model card and export").click()
    expect(page.locator("#play-zip")).to_be_visible(timeout=UI_WAIT)
    page.locator("#play-gguf-type input").click()
    page.get_by_role("option", name="q8_0", exact=False).click()
    page.locator("#play-gguf").click()
    expect(page.get_by_text("Writing the GGUF file:")).to_be_visible(timeout=UI_WAIT)
    page.locator("#play-gguf").scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "gguf-progress.png"))
    release.set()

    message = page.locator("#play-gguf-msg")
    expect(message).to_contain_text("(q8_0), written in", timeout=UI_WAIT)
    [made] = (run.path / "exports").glob("*.gguf")
    assert gguf.GGUFReader(made).fields["general.file_type"].contents() == gguf.LlamaFileType.MOSTLY_Q8_0
    files = page.locator("#play-gguf-files")
    expect(files).to_contain_text(made.stem)
    expect(files).to_contain_text(".Modelfile")
    expect(message).to_contain_text(f"{made.stat().st_size / 1000:,.1f} KB (q8_0)")  # the tiny model's size
    page.screenshot(path=str(tmp_path / "gguf-done.png"))
