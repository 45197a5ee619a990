"""The Tokenizer tab's actions, without Gradio or a page: each returns the widgets it changes by name (what
they write into the shared run configuration, and which widgets they leave alone)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from clm_gui.config import RunConfig, TokenizerConfig
from clm_gui.hosting.access import visitor_folders, visitor_policy
from clm_gui.hosting.ownership import machine_user, visitor_for
from clm_gui.hosting.settings import AppSettings
from clm_gui.security import enforcing
from clm_gui.ui import tokenizer_actions
from clm_gui.ui.tokenizer_actions import ALGORITHM_NOTES, TRAINING_FIELDS, TokenizerActions
from clm_gui.ui.widgets import Choices, Shown
from tests.fast_runs import write_corpus


def actions_for(runs_dir, warnings: list[str] | None = None, hosted: bool = False) -> TokenizerActions:
    return TokenizerActions(AppSettings(runs_dir=runs_dir, hosted=hosted),
                            warn=(warnings if warnings is not None else []).append)


def tokenizer_without_eos(folder):
    backend = Tokenizer(models.WordLevel({"<unk>": 0, "fox": 1}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>").save_pretrained(str(folder))
    return folder


def test_loading_a_tokenizer_without_end_of_text_asks_then_saves_a_copy_with_one_for_training(tmp_path):
    warnings = []
    actions, config = actions_for(tmp_path / "runs", warnings), RunConfig().to_dict()
    folder = tokenizer_without_eos(tmp_path / "words")
    refused = actions.load(machine_user(), str(folder), False, config, [], [])
    assert set(refused) == {"status", "added"} and refused["added"] is None  # no other widget touched
    assert "Add an end-of-text token" in refused["status"] and warnings == [refused["status"].removeprefix("⚠️ ")]
    loaded = actions.load(machine_user(), str(folder), True, config, [], ["gone"])
    assert loaded["added"] == "words-with-eos" and "Added the end-of-text token" in loaded["status"]
    saved = tmp_path / "runs" / ".tokenizers" / "words-with-eos"
    assert loaded["config"]["tokenizer"]["path"] == str(saved) and loaded["config"]["tokenizer"]["vocab_size"] == 3
    assert config["tokenizer"]["path"] == ""  # the shared state is replaced, never changed in place
    assert loaded["session"] == [{"name": "words-with-eos", "path": str(saved), "vocab_size": 3}]
    assert loaded["compared"] == Choices(["words-with-eos"], value=["words-with-eos"])
    assert loaded["in_use"] == Choices(["words-with-eos"], value="words-with-eos")
    assert actions.load(machine_user(), " ", True, config, [], [])["status"] == (
        "⚠️ Choose a tokenizer folder or type a Hub id first.")


def test_choosing_a_tokenizer_for_training_sets_its_path_and_the_model_vocabulary():
    session = [{"name": "a", "path": "/t/a", "vocab_size": 300}, {"name": "b", "path": "/t/b", "vocab_size": 1000}]
    chosen = TokenizerActions.choose("b", RunConfig().to_dict(), session)
    assert (chosen["config"]["tokenizer"]["path"], chosen["config"]["tokenizer"]["vocab_size"]) == ("/t/b", 1000)
    assert "1,024 rows" in chosen["status"]  # padded to a multiple of 64 for the model
    assert TokenizerActions.choose("gone", RunConfig().to_dict(), session) == {}


def test_hosted_mode_loads_no_server_folder_and_keeps_each_visitors_saved_tokenizers_apart(tmp_path):
    """Hosted, a folder outside the visitor's own is refused; two visitors who save a tokenizer under the
    same name each keep their own, and neither can load the other's."""
    runs = tmp_path / "runs"
    actions = actions_for(runs, hosted=True)
    folder = tokenizer_without_eos(tmp_path / "elsewhere")
    alice, bob = (visitor_for(True, (), name, None) for name in ("alice", "bob"))
    with enforcing(visitor_policy(runs, alice, hosted=True)):
        refused = actions.load(alice, str(folder), True, RunConfig().to_dict(), [], [])
    assert "hosted mode" in refused["status"] and refused["added"] is None
    saved = {}
    for visitor in (alice, bob):
        own = tokenizer_without_eos(visitor_folders(runs, visitor).uploads / "words")  # each loads their own
        with enforcing(visitor_policy(runs, visitor, hosted=True)):
            loaded = actions.load(visitor, str(own), True, RunConfig().to_dict(), [], [])
        saved[visitor.name] = Path(loaded["config"]["tokenizer"]["path"])
    assert saved["alice"].name == saved["bob"].name == "words-with-eos" and saved["alice"] != saved["bob"]
    assert saved["alice"].is_relative_to(visitor_folders(runs, alice).tokenizers)
    with enforcing(visitor_policy(runs, bob, hosted=True)):  # bob names alice's, by path or by its name
        assert "hosted mode" in actions.load(bob, str(saved["alice"]), True, RunConfig().to_dict(), [], [])["status"]
        loaded = actions.load(bob, "words-with-eos", True, RunConfig().to_dict(), [], [])
    assert Path(loaded["config"]["tokenizer"]["path"]) == saved["bob"]  # a name means his own
    offered = actions.visitor_known(bob)["choice"].choices  # his own saved ones by name, then the Hub's
    assert offered[0] == ("words-with-eos (saved here)", "words-with-eos") and offered[1][0].endswith("(Hub)")
    assert actions.load(None, "words-with-eos", True, RunConfig().to_dict(), [], [])["added"] is None


def test_training_saves_and_uses_the_tokenizer_then_the_comparison_shows_it(tmp_path):
    actions = actions_for(tmp_path / "runs")
    config = RunConfig()
    config.data.source, config.data.text_unit = str(write_corpus(tmp_path / "book.txt")), "paragraph"
    values = {**{name: getattr(TokenizerConfig(), name) for name in TRAINING_FIELDS}, "vocab_size": 300,
              "sample_documents": 50, "name": "small bpe", "config": config.to_dict(), "profile": None,
              "session": [], "compared": []}
    said = []
    trained = actions.train(machine_user(), values, "page", lambda done, desc, unit="": said.append((done, unit)))
    saved = tmp_path / "runs" / ".tokenizers" / "small-bpe"
    assert trained["added"] == "small-bpe" and (saved / "tokenizer.json").is_file()
    assert trained["status"].startswith("Trained and saved as **small-bpe** (under Reuse, saved here).")
    assert "In use for training: **small-bpe** (300 tokens; the model's embedding gets 320 rows" in trained["status"]
    assert trained["config"]["tokenizer"] == {**values["config"]["tokenizer"], "path": str(saved), "vocab_size": 300,
                                              "sample_documents": 50}
    assert trained["session"] == [{"name": "small-bpe", "path": str(saved), "vocab_size": 300}]
    assert (".tokenizers/small-bpe (saved here)", str(saved)) in trained["choice"].choices  # locally: its path
    assert said[-1] == ((50, 50), "documents")

    shown = actions.compare_added(trained["added"], ["small-bpe"], "small-bpe", trained["session"], trained["config"])
    assert isinstance(shown["table"], pd.DataFrame) and list(shown["table"]["Tokenizer"]) == ["small-bpe"]
    assert shown["caption"].startswith("Held-out text: ") and shown["caption"].endswith("**small-bpe**.")
    assert {category for _, category in shown["boundaries"]} <= {"a", "b", "unknown", None}
    assert "".join(piece for piece, _ in shown["boundaries"]) and shown["plot"] is not None
    assert actions.compare_added(None, ["small-bpe"], "", trained["session"], trained["config"]) == {}  # it failed


def test_a_failed_training_or_comparison_says_why_and_nothing_is_being_cancelled(tmp_path):
    actions = actions_for(tmp_path / "runs")
    config = {**RunConfig().to_dict(), "data": {"nonsense": 1}}  # a draft the Dataset tab would not write
    values = {**{name: getattr(TokenizerConfig(), name) for name in TRAINING_FIELDS}, "name": "", "config": config,
              "profile": None, "session": [], "compared": []}
    assert actions.train(machine_user(), values, "page", print) == {
        "status": "⚠️ The run configuration has problems; fix them in the Dataset tab first.", "added": None}
    unknown = actions.train(None, {**values, "config": RunConfig().to_dict()}, "page", print)
    assert unknown["status"].startswith("⚠️ This page does not know who you are yet") and unknown["added"] is None
    assert actions.compare([], "", [], RunConfig().to_dict()) == {
        "table": None, "plot": None, "boundaries": None,
        "caption": "⚠️ Tick at least one tokenizer to compare (train or load one first)."}
    assert actions.cancel("page") == {"status": "Nothing is training."}


@pytest.mark.parametrize(("online", "filled"), [
    (True, {"choice": "codeparrot/codeparrot", "status": "Filled in **codeparrot/codeparrot**: press **Load "
                                                         "tokenizer**."}),
    (False, {"choice": None}),
])
def test_the_recommendation_for_the_demo_corpus_fills_in_the_form(monkeypatch, online, filled):
    monkeypatch.setattr(tokenizer_actions, "hub_reachable", lambda: online)
    applied = TokenizerActions.apply_recommendation(None)
    assert {name: applied[name] for name in filled} == filled and {"algorithm", "vocab_size"} <= set(applied)
    said = TokenizerActions.recommendation(None, None)["recommendation"]
    assert said.startswith("**Recommended** from the demo corpus (no dataset profiled yet)")
    other = TokenizerActions.recommendation(None, {"data": {"source": "/data/book.txt"}})
    assert other == {"recommendation": "**Profile the dataset** (Dataset tab) for a recommendation made from it."}


def test_unigram_has_no_minimum_frequency():
    assert TokenizerActions.algorithm_changed("unigram") == {"min_frequency": Shown(False),
                                                            "algorithm_note": ALGORITHM_NOTES["unigram"]}
    assert TokenizerActions.algorithm_changed("bpe")["min_frequency"] == Shown(True)


def test_the_drafts_tokenizer_shows_in_the_tab_unless_this_tab_put_it_there():
    defaults = RunConfig().to_dict()["tokenizer"]
    assert TokenizerActions.show_config({"tokenizer": defaults}, defaults, [], []) == {}  # as shown
    trained_elsewhere = {**defaults, "algorithm": "unigram", "path": "/runs/q/tok", "vocab_size": 900}
    shown = TokenizerActions.show_config({"tokenizer": trained_elsewhere}, defaults, [], ["a"])
    assert shown["algorithm"] == "unigram" and "vocab_size" not in shown  # the tokenizer's size, not one to train
    assert shown["session"] == [{"name": "tok", "path": "/runs/q/tok", "vocab_size": 900}]
    assert shown["in_use"] == Choices(["tok"], value="tok") and shown["compared"] == Choices(["tok"], value=["tok"])
    assert "In use for training: **tok**" in shown["status"] and shown["shown"] == trained_elsewhere
    again = TokenizerActions.show_config({"tokenizer": {**trained_elsewhere, "lowercase": True}}, trained_elsewhere,
                                         shown["session"], ["tok"])
    assert set(again) == {*TRAINING_FIELDS, "shown"} - {"vocab_size"} and again["lowercase"] is True
    no_path = TokenizerActions.show_config({"tokenizer": {**defaults, "vocab_size": 4096}}, defaults, [], [])
    assert set(no_path) == {*TRAINING_FIELDS, "shown"} and no_path["vocab_size"] == 4096
