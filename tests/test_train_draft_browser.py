"""Train-tab edits typed while the previous one is still being stored are stored too, never dropped."""

from __future__ import annotations

import threading

import pytest
from playwright.sync_api import expect

from clm_gui.ui import train_actions
from tests.waiting import UI_WAIT, WAIT_S

pytestmark = pytest.mark.browser


def test_an_edit_made_while_the_last_one_is_stored_reaches_the_draft(serve_app, page, monkeypatch, tmp_path):
    storing, release = threading.Event(), threading.Event()
    merge = train_actions.merged_config

    def held_once(config, values):  # the first store waits, as a slow server would, until the test goes on
        if not storing.is_set():
            storing.set()
            assert release.wait(timeout=WAIT_S)
        return merge(config, values)

    monkeypatch.setattr(train_actions, "merged_config", held_once)
    page.goto(serve_app())
    page.get_by_role("tab", name="Train", exact=True).click()
    page.get_by_label("Max tokens", exact=True).fill("5000")
    assert storing.wait(timeout=WAIT_S)
    page.get_by_label("Max steps", exact=True).fill("2000")  # while the first edit is being stored
    # Let the page handle that input event (pending tasks and a frame): with Gradio's default trigger mode for
    # an input event it was dropped here, since the first store had not answered.
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => setTimeout(done, 0)))")
    release.set()
    expect(page.locator("#train-validation")).to_contain_text("stopping at 2,000 steps or 5,000 tokens",
                                                              timeout=UI_WAIT)
    expect(page.get_by_label("Max steps", exact=True)).to_have_value("2000")
    expect(page.get_by_label("Max tokens", exact=True)).to_have_value("5000")
    page.screenshot(path=str(tmp_path / "train-draft.png"))
