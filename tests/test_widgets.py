"""What a tab's actions return by name reaches Gradio as `{component: update}` (`ui/widgets.for_gradio`)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gradio as gr
import pytest
from gradio.components.plot import PlotData

from clm_gui.ui.widgets import Chart, Choices, Displayed, Interactive, Opened, Shown, by_name, for_gradio


def test_each_kind_becomes_its_gradio_update():
    names = ["shown", "choices", "kept", "cleared", "on", "opened", "displayed", "chart", "plain"]
    widgets = {name: object() for name in names}
    updates = for_gradio({"shown": Shown(False), "choices": Choices([("a", "1")], value="1"),
                          "kept": Choices(["x"]), "cleared": Choices([], value=None), "on": Interactive(True),
                          "opened": Opened(False), "displayed": Displayed("v", label="L"), "chart": Chart("{}"),
                          "plain": 3}, widgets)
    named = {name: updates[widgets[name]] for name in names}
    assert named["shown"] == gr.update(visible=False)
    assert named["choices"] == gr.update(choices=[("a", "1")], value="1")
    assert named["kept"] == gr.update(choices=["x"])  # the value stays
    assert named["cleared"] == gr.update(choices=[], value=None)
    assert named["on"] == gr.update(interactive=True) and named["opened"] == gr.update(open=False)
    assert named["displayed"] == gr.update(value="v", visible=True, label="L")
    assert named["chart"] == PlotData(type="plotly", plot="{}") and named["plain"] == 3


def test_an_action_that_changes_nothing_leaves_every_output_as_it_is():
    """Regression: Gradio took an empty dict for one output's value, and for too few values with several
    (the Model tab's dataset size, unchanged, failed the event)."""
    with gr.Blocks() as demo:
        widgets = {"one": gr.Markdown("kept"), "two": gr.Markdown("kept too")}
        button = gr.Button()
        button.click(lambda: for_gradio({}, widgets), None, list(widgets.values()))
        button.click(lambda: for_gradio({}, widgets), None, widgets["one"])
    for block_fn in demo.fns.values():
        # As Gradio answers an event; in a thread of its own, since a browser test earlier in the session may
        # leave this thread's event loop running.
        with ThreadPoolExecutor(1) as thread:
            shown = thread.submit(asyncio.run, demo.postprocess_data(block_fn, block_fn.fn(), None)).result()
        assert shown == [gr.skip()] * len(block_fn.outputs)


def test_the_values_gradio_passes_by_component_are_read_by_name():
    first, second, other = object(), object(), object()
    assert by_name({first: 1, other: 3}, {"first": first, "second": second}) == {"first": 1}


@pytest.mark.parametrize("module", ["hardware_actions", "dataset_actions", "tokenizer_actions", "quickstart_actions",
                                    "model_actions", "train_actions", "playground_actions"])
def test_the_actions_import_no_gradio(module):
    code = f"import sys, clm_gui.ui.{module}; print('gradio' in sys.modules)"
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).resolve().parents[1])
    assert imported.stdout.strip() == "False"
