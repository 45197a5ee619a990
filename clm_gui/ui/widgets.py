"""Widgets by name: what a tab's actions return, and how it reaches Gradio.

A tab's actions (e.g. `ui/quickstart_actions.py`) know no Gradio: they return the widgets they change as
`{name: value}`, with `Shown(visible)` for a widget to show or hide, `Choices` for a dropdown's new choices,
`Interactive(on)` to turn a widget on or off, `Opened(open)` to open or fold an accordion, and `Displayed` for a
new value shown or hidden with it (and a new label), `Chart(plotly_json)` for a chart already encoded as
plotly.js draws it. `for_gradio` turns that into the `{component: value}` dict Gradio takes from a handler whose
outputs list every named widget; a widget left out of the dict keeps its value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Shown:
    """Show (True) or hide (False) a widget, keeping its value."""

    visible: bool


KEEP = object()  # `Choices(choices)`: the widget keeps its value


@dataclass(frozen=True)
class Choices:
    """New choices for a dropdown or a radio, and its value unless that is KEEP."""

    choices: list
    value: Any = KEEP


@dataclass(frozen=True)
class Interactive:
    """Turn a widget on (True) or off (False), keeping its value."""

    on: bool


@dataclass(frozen=True)
class Opened:
    """Open (True) or fold (False) an accordion."""

    open: bool


@dataclass(frozen=True)
class Displayed:
    """A new value, the widget shown (or hidden) with it, and a new label unless that is None."""

    value: Any
    visible: bool = True
    label: str | None = None


@dataclass(frozen=True)
class Chart:
    """A plot's new figure, as the JSON that plotly.js draws (encoded once, sent to every page as it is)."""

    plotly_json: str


def named(widgets: dict[str, Any], *names: str) -> list:
    """The widgets of `names`, in that order: an event's inputs or outputs."""
    return [widgets[name] for name in names]


def by_name(given: dict, widgets: dict[str, Any]) -> dict[str, Any]:
    """The values Gradio passed as `{component: value}` (its inputs a set, ui/form.py) by widget name."""
    return {name: given[component] for name, component in widgets.items() if component in given}


def for_gradio(changes: dict[str, Any], widgets: dict[str, Any]) -> dict:
    """`{name: value}` as Gradio's `{component: value}`, each kind above as its update. Nothing changed: one
    skip, since Gradio takes an empty dict for a value (one output) or too few values (several)."""
    if not changes:
        import gradio as gr

        return gr.skip()
    return {widgets[name]: _update(value) for name, value in changes.items()}


def _update(value: Any) -> Any:
    import gradio as gr  # only here: the actions and their tests import this module without Gradio

    if isinstance(value, Shown):
        return gr.update(visible=value.visible)
    if isinstance(value, Choices):
        return gr.update(choices=value.choices, **({} if value.value is KEEP else {"value": value.value}))
    if isinstance(value, Interactive):
        return gr.update(interactive=value.on)
    if isinstance(value, Opened):
        return gr.update(open=value.open)
    if isinstance(value, Chart):
        from gradio.components.plot import PlotData

        return PlotData(type="plotly", plot=value.plotly_json)
    if isinstance(value, Displayed):
        return gr.update(value=value.value, visible=value.visible,
                         **({} if value.label is None else {"label": value.label}))
    return value
