"""The one rule by which a tab shows the shared draft (`ui/draft_view.draft_changes`), without a browser."""

from __future__ import annotations

from clm_gui.config import RunConfig
from clm_gui.ui import model_actions
from clm_gui.ui.draft_view import draft_changes


def test_a_view_as_the_tab_last_showed_it_shows_nothing():
    # The tab's own edit coming back through the draft, or a change elsewhere in the draft: nothing to show.
    shown = {"vocab_size": 8000, "algorithm": "bpe"}
    assert draft_changes(dict(shown), shown) is None
    assert draft_changes(None, shown) is None  # the draft says nothing about this tab's part
    assert draft_changes(["not", "a", "section"], None) is None


def test_a_changed_view_gives_the_values_that_changed():
    shown = {"vocab_size": 8000, "algorithm": "bpe", "lowercase": False}
    assert draft_changes({**shown, "vocab_size": 4096}, shown) == {"vocab_size": 4096}
    assert draft_changes({**shown, "nfkc": True}, shown) == {"nfkc": True}  # a value the tab did not show yet
    assert draft_changes(shown, None) == shown  # nothing shown yet: all of it


def test_the_model_tab_view_changes_with_the_draft_s_model_and_budget_only():
    draft = RunConfig().to_dict()
    view = model_actions.config_fields(draft)
    renamed = {**draft, "name": "another run", "data": {**draft["data"], "eval_fraction": 0.1}}
    assert draft_changes(model_actions.config_fields(renamed), view) is None  # other tabs' settings: fields kept
    deeper = {**draft, "model": {**draft["model"], "n_layer": 9}}
    assert draft_changes(model_actions.config_fields(deeper), view) == {"n_layer": 9}



def test_a_draft_change_elsewhere_keeps_an_edit_not_yet_applied_in_another_model_field():
    """Regression: a batch size edited in the Train tab reset every Model-tab field, losing a width typed there
    but not applied yet."""
    draft = RunConfig().to_dict()
    shown = model_actions.config_fields(draft)
    rebatched = {**draft, "train": {**draft["train"], "micro_batch_size": 3}}
    assert model_actions.fields_to_show(model_actions.config_fields(rebatched), shown) == {"micro_batch_size": 3}
    assert model_actions.fields_to_show(shown, shown) is None
    budgeted = {**draft, "train": {**draft["train"], "max_minutes": 5.0}}  # tokens: None under a time budget
    assert model_actions.fields_to_show(model_actions.config_fields(budgeted), shown) == {"minutes": 5.0}
