"""The UI's one convention for a handler's many inputs: by name, never by position.

Gradio calls a function whose `inputs` is a set of components with one {component: value} dict (as
LLaMA-Factory's web UI reads its inputs, by element id). A Form names the components of one tab, so a
handler reads `values["hub_id"]` instead of counting places in a list that a new widget would shift.
"""

from __future__ import annotations

from typing import Any

import gradio as gr


class Form:
    """Named components: `inputs` to wire an event with, `values()` to read what Gradio passes back."""

    def __init__(self, **components: gr.components.Component):
        self.components = components

    def __getitem__(self, name: str) -> gr.components.Component:
        return self.components[name]

    def inputs(self, *others: gr.components.Component) -> set:
        """The set of inputs that makes Gradio pass one {component: value} dict: this form's and `others`."""
        return {*self.components.values(), *others}

    def values(self, given: dict) -> dict[str, Any]:
        """This form's values by name, out of the {component: value} dict Gradio passed."""
        return {name: given[component] for name, component in self.components.items()}
