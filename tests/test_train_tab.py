"""The Train tab's draft handling, without a browser."""

from __future__ import annotations

import gradio as gr

from clm_gui.config import RunConfig
from clm_gui.ui.train_tab import SETTINGS, field_updates


def test_the_draft_updates_only_fields_it_changed_so_typing_in_the_next_field_is_kept():
    shown = RunConfig().to_dict()
    keys = [s.key for s in SETTINGS]
    typed = [shown["name"]] + [shown["train"][k] for k in keys]
    typed[1 + keys.index("max_steps")] = 500  # the edit the draft has now
    typed[1 + keys.index("max_tokens")] = 123_000  # typed since: the draft does not have it yet
    draft = {**shown, "train": {**shown["train"], "max_steps": 500}}
    assert all(u == gr.skip() for u in field_updates(draft, shown, typed))

    applied = {**draft, "train": {**draft["train"], "micro_batch_size": 64}}  # another tab changed a value
    updates = field_updates(applied, draft, typed)
    assert updates[1 + keys.index("micro_batch_size")] == 64
    assert updates[1 + keys.index("max_tokens")] == gr.skip()
