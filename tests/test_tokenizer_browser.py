"""The Tokenizer tab: its handlers (what they write into the shared run configuration), and a real
browser training two small BPE tokenizers and comparing them."""

from __future__ import annotations

import re

from pathlib import Path

import gradio as gr
import pytest
from playwright.sync_api import expect
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from clm_gui.config import RunConfig
from clm_gui.hosting.access import visitor_folders, visitor_policy
from clm_gui.hosting.ownership import machine_user, visitor_for
from clm_gui.security import enforcing
from clm_gui.ui import tokenizer_tab

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


def tokenizer_without_eos(folder):
    backend = Tokenizer(models.WordLevel({"<unk>": 0, "fox": 1}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>").save_pretrained(str(folder))
    return folder


def test_loading_a_tokenizer_without_end_of_text_asks_then_saves_a_copy_with_one_for_training(tmp_path):
    folder = tokenizer_without_eos(tmp_path / "words")
    app, config = visitor_folders(tmp_path / "runs", machine_user()), RunConfig().to_dict()
    refused = tokenizer_tab._load(str(folder), False, config, [], [], app)
    assert "Add an end-of-text token" in refused[0] and refused[-1] is None  # nothing added, nothing compared
    assert all(out == gr.skip() for out in refused[1:-1])  # no output touched: no stale "Error" badge either
    status, new_config, session, _, _, added = tokenizer_tab._load(str(folder), True, config, [], [], app)
    assert added == "words-with-eos"
    saved = tmp_path / "runs" / ".tokenizers" / "words-with-eos"
    assert new_config["tokenizer"]["path"] == str(saved) and new_config["tokenizer"]["vocab_size"] == 3
    assert config["tokenizer"]["path"] == ""  # the shared state is replaced, never changed in place
    assert session == [{"name": "words-with-eos", "path": str(saved), "vocab_size": 3}]
    assert "Added the end-of-text token" in status


def test_choosing_a_tokenizer_for_training_sets_its_path_and_the_model_vocabulary(tmp_path):
    session = [{"name": "a", "path": "/t/a", "vocab_size": 300}, {"name": "b", "path": "/t/b", "vocab_size": 1000}]
    status, config = tokenizer_tab._choose("b", RunConfig().to_dict(), session)
    assert (config["tokenizer"]["path"], config["tokenizer"]["vocab_size"]) == ("/t/b", 1000)
    assert "1,024 rows" in status  # padded to a multiple of 64 for the model


def test_hosted_mode_loads_no_server_folder_and_keeps_each_visitors_saved_tokenizers_apart(tmp_path):
    """Hosted, a folder outside the visitor's own is refused; two visitors who save a tokenizer under the
    same name each keep their own, and neither can load the other's."""
    runs = tmp_path / "runs"
    folder = tokenizer_without_eos(tmp_path / "elsewhere")
    alice, bob = (visitor_for(True, (), name, None) for name in ("alice", "bob"))
    with enforcing(visitor_policy(runs, alice, hosted=True)):
        refused = tokenizer_tab._load(str(folder), True, RunConfig().to_dict(), [], [], visitor_folders(runs, alice))
    assert "hosted mode" in refused[0] and refused[-1] is None
    saved = {}
    for visitor in (alice, bob):
        own = tokenizer_without_eos(visitor_folders(runs, visitor).uploads / "words")  # each loads their own
        with enforcing(visitor_policy(runs, visitor, hosted=True)):
            _, config, *_ = tokenizer_tab._load(str(own), True, RunConfig().to_dict(), [], [],
                                                visitor_folders(runs, visitor))
        saved[visitor.name] = Path(config["tokenizer"]["path"])
    assert saved["alice"].name == saved["bob"].name == "words-with-eos" and saved["alice"] != saved["bob"]
    assert saved["alice"].is_relative_to(visitor_folders(runs, alice).tokenizers)
    with enforcing(visitor_policy(runs, bob, hosted=True)):  # bob names alice's, by path or by its name
        assert "hosted mode" in tokenizer_tab._load(str(saved["alice"]), True, RunConfig().to_dict(), [], [],
                                                    visitor_folders(runs, bob))[0]
        _, config, *_ = tokenizer_tab._load("words-with-eos", True, RunConfig().to_dict(), [], [],
                                            visitor_folders(runs, bob))
    assert Path(config["tokenizer"]["path"]) == saved["bob"]  # a name means his own