"""When a tab shows the shared draft: the one rule the Dataset, Tokenizer, Model and Train tabs follow. No Gradio.

Each of those tabs shows part of the shared draft (`ctx.config`), its view: the draft's `data` or
`tokenizer` section, the Model tab's fields and time budget (`model_actions.config_fields`), the Train tab's
run name and training fields. It keeps the view it last showed or wrote (a gr.State, `shown`). When the
draft changes, a view as it was shown means the change was elsewhere in the draft, or was this tab's own
edit coming back: the widgets are left alone, since writing them again would undo what the user is typing
or has not applied yet.
"""

from __future__ import annotations

from typing import Any


def draft_changes(view: dict[str, Any] | None, shown: dict[str, Any] | None) -> dict[str, Any] | None:
    """What of the draft a tab has to show: None when its `view` of the draft is missing (not a dict: the
    draft says nothing about it) or is as the tab last showed or wrote it (`shown`); else the view's entries
    that differ from `shown` (all of them when nothing was shown yet).

    The Dataset and Tokenizer tabs then show their whole view again (their widgets write the draft as they
    change, so none holds an edit the draft lacks); the Model tab, whose fields wait for Apply, shows only
    these entries (`model_actions.fields_to_show`), so an edit not yet applied in another field stays; the Train
    tab shows only these entries, and not one its field already holds (`train_actions.field_updates`)."""
    if not isinstance(view, dict) or view == shown:
        return None
    before = shown if isinstance(shown, dict) else {}
    return {name: value for name, value in view.items() if name not in before or before[name] != value}
