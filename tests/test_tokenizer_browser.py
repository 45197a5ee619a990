"""The Tokenizer tab in a real browser training two small BPE tokenizers and comparing them (what its actions
write into the shared run configuration: tests/test_tokenizer_actions.py)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect


SLOW = 90_000  # ms: training and evaluating on a busy 2-core machine


def train_in_tab(page, vocab_size: int, name: str) -> None:
    """Train a BPE on the demo corpus's first documents and wait until it shows in the comparison."""
    page.locator("#tokenizer-vocab-size input").fill(str(vocab_size))
    page.locator("#tokenizer-name textarea, #tokenizer-name input").first.fill(name)
    page.locator("#tokenizer-train").click()
    expect(page.locator("#tokenizer-status")).to_contain_text(f"In use for training: {name}", timeout=SLOW)
    expect(page.locator("#tokenizer-table")).to_contain_text(name, timeout=SLOW)


@pytest.mark.browser
def test_training_a_small_bpe_in_the_tab_shows_it_beside_another_in_the_comparison(serve_app, page, tmp_path):
    page.goto(serve_app())
    page.get_by_role("tab", name="Tokenizer").click()
    expect(page.locator("#tokenizer-recommendation")).to_contain_text("codeparrot/codeparrot")  # demo: Python
    page.locator("#tokenizer-sample input").fill("20")

    train_in_tab(page, 300, "bpe-small")
    train_in_tab(page, 600, "bpe-larger")

    table = page.locator("#tokenizer-table")
    expect(table).to_contain_text("bpe-small")  # both, side by side
    expect(page.locator("#tokenizer-plot .js-plotly-plot")).to_be_visible()
    tokens = page.locator("#tokenizer-boundaries .token").count()
    assert 600 / 12 < tokens < 600  # 600 characters cut into tokens of a few characters each (vocabulary 600)
    expect(page.locator("#tokenizer-status")).to_contain_text(re.compile(r"600 tokens.*640 rows"))
    page.screenshot(path=str(tmp_path / "tokenizer-tab.png"), full_page=True)
    assert (tmp_path / "runs" / ".tokenizers" / "bpe-larger" / "tokenizer.json").is_file()
