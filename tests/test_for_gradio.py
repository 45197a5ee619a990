"""`ui/widgets.for_gradio`: an action's `{name: value}` as the update Gradio takes, with the app's real events."""

from __future__ import annotations

import asyncio

import gradio as gr
from gradio.components.plot import PlotData

from clm_gui.ui.widgets import Chart, Choices, Displayed, Interactive, Opened, Shown, by_name, for_gradio


def test_each_kind_becomes_its_gradio_update():
    names = ["shown", "choices", "kept", "on", "opened", "displayed", "chart", "plain"]
    widgets = {name: object() for name in names}
    updates = for_gradio({"shown": Shown(False), "choices": Choices([("a", "1")], value="1"),
                          "kept": Choices(["x"]), "on": Interactive(True), "opened": Opened(False),
                          "displayed": Displayed("v", label="L"), "chart": Chart("{}"), "plain": 3}, widgets)
    by_name = {name: updates[widgets[name]] for name in names}
    assert by_name["shown"] == gr.update(visible=False)
    assert by_name["choices"] == gr.update(choices=[("a", "1")], value="1")
    assert by_name["kept"] == gr.update(choices=["x"])  # the value stays
    assert by_name["on"] == gr.update(interactive=True) and by_name["opened"] == gr.update(open=False)
    assert by_name["displayed"] == gr.update(value="v", visible=True, label="L")
    assert by_name["chart"] == PlotData(type="plotly", plot="{}") and by_name["plain"] == 3


def test_an_action_that_changes_nothing_leaves_every_output_as_it_is():
    """Regression: Gradio took an empty dict for one output's value, and for too few values with several
    (the Model tab's dataset size, unchanged, failed the event)."""
    with gr.Blocks() as demo:
        first, second = gr.Number(1), gr.Textbox("kept")

        def nothing(value):
            return for_gradio({}, {"first": first, "second": second})

        first.change(nothing, first, [first, second])
        second.change(nothing, second, second)
    for fn in demo.fns.values():
        result = asyncio.run(demo.postprocess_data(fn, fn.fn(None), None))  # as Gradio answers an event
        assert all(output == {"__type__": "update"} for output in result)  # a skip each


def test_the_values_gradio_passes_by_component_are_read_by_name():
    first, second, other = object(), object(), object()
    assert by_name({first: 1, other: 3}, {"first": first, "second": second}) == {"first": 1}
