"""Widgets by name: what a tab's actions return, and how it reaches Gradio.

A tab's actions (e.g. `ui/quickstart_actions.py`) know no Gradio: they return the widgets they change as
`{name: value}`, with `Shown(visible)` for a widget to show or hide and `Choices(choices)` for a dropdown's
new options. `for_gradio` turns that into the `{component: value}` dict Gradio takes from a handler whose
outputs list every named widget; a widget left out of the dict keeps its value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

UNCHANGED = object()  # Choices' value when the widget keeps its own


@dataclass(frozen=True)
class Shown:
    """Show (True) or hide (False) a widget, keeping its value."""

    visible: bool


@dataclass(frozen=True)
class Choices:
    """New options for a dropdown, radio or checkbox group, as (label, value) pairs or values; with `value`,
    a new value too, else the widget keeps its own."""

    choices: list
    value: Any = UNCHANGED


def for_gradio(changes: dict[str, Any], widgets: dict[str, Any]) -> dict:
    """`{name: value}` as Gradio's `{component: value}`, `Shown` and `Choices` as updates; no change at all as
    `gr.skip()`, since Gradio takes an empty dict for one value (too few for several outputs, `{}` for one)."""
    import gradio as gr  # only here: the actions and their tests import this module without Gradio

    return {widgets[name]: _update(value) for name, value in changes.items()} if changes else gr.skip()


def _update(value: Any) -> Any:
    import gradio as gr

    if isinstance(value, Shown):
        return gr.update(visible=value.visible)
    if isinstance(value, Choices):
        return gr.update(choices=value.choices, **({} if value.value is UNCHANGED else {"value": value.value}))
    return value
