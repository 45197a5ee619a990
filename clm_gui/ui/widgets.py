"""Widgets by name: what a tab's actions return, and how it reaches Gradio.

A tab's actions (e.g. `ui/quickstart_actions.py`) know no Gradio: they return the widgets they change as
`{name: value}`, with `Shown(visible)` for a widget to show or hide. `for_gradio` turns that into the
`{component: value}` dict Gradio takes from a handler whose outputs list every named widget; a widget left
out of the dict keeps its value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Shown:
    """Show (True) or hide (False) a widget, keeping its value."""

    visible: bool


def for_gradio(changes: dict[str, Any], widgets: dict[str, Any]) -> dict:
    """`{name: value}` as Gradio's `{component: value}`, `Shown` as a visibility update."""
    import gradio as gr  # only here: the actions and their tests import this module without Gradio

    return {widgets[name]: gr.update(visible=value.visible) if isinstance(value, Shown) else value
            for name, value in changes.items()}
