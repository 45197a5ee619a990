"""The Playground scores pasted text in bits per byte, the same figure `python -m clm_gui evaluate` gives."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from clm_gui.runs.folder import new_run_dir
from clm_gui.train.evaluation import evaluate_model
from clm_gui.train.trainer import train
from tests.fast_runs import fast_config, write_corpus
from tests.waiting import UI_WAIT

pytestmark = pytest.mark.browser


def test_pasted_text_is_scored_in_bits_per_byte(serve_app, page, tmp_path):
    corpus = write_corpus(tmp_path / "corpus.txt")
    cfg = fast_config(corpus, max_steps=4, eval_interval=2)
    run = new_run_dir(tmp_path / "runs", cfg)
    assert train(cfg, run)["state"] == "finished"
    text = corpus.read_text(encoding="utf-8")[-1500:]
    expected = evaluate_model(run.final_dir, [text]).bits_per_byte

    page.goto(serve_app())
    page.get_by_role("tab", name="Playground").click()
    expect(page.locator("#play-run input")).to_have_value(run.id, timeout=UI_WAIT)
    page.get_by_text("Score a text (bits per byte)").click()
    page.locator("#play-score-text textarea").fill(text)
    page.locator("#play-score").click()
    result = page.locator("#play-score-result")
    expect(result).to_contain_text("bits per byte", timeout=UI_WAIT)
    shown = float(re.search(r"([\d.]+) bits per byte", result.inner_text()).group(1))
    assert shown == pytest.approx(expected, abs=1e-3)

    page.locator("#play-score-text textarea").fill("")
    page.locator("#play-score").click()
    expect(result).to_contain_text("Not scored: There is no text to score.", timeout=UI_WAIT)
