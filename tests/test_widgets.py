"""What a tab's actions return by name reaches Gradio as `{component: update}`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gradio as gr
import pytest

from clm_gui.ui.widgets import Choices, Shown, for_gradio


def test_each_kind_of_change_becomes_its_gradio_update():
    with gr.Blocks():
        widgets = {"note": gr.Markdown(), "box": gr.Group(), "pick": gr.Dropdown(), "ticks": gr.CheckboxGroup()}
    changed = for_gradio({"note": "hello", "box": Shown(False), "pick": Choices([("A", "a"), ("B", "b")]),
                          "ticks": Choices(["a", "b"], value=["b"])}, widgets)
    assert changed == {widgets["note"]: "hello", widgets["box"]: gr.update(visible=False),
                       widgets["pick"]: gr.update(choices=[("A", "a"), ("B", "b")]),  # keeps its value
                       widgets["ticks"]: gr.update(choices=["a", "b"], value=["b"])}
    cleared = for_gradio({"pick": Choices([], value=None)}, widgets)
    assert cleared == {widgets["pick"]: gr.update(choices=[], value=None)}


def test_no_change_leaves_every_output_as_it_was_however_many_there_are():
    with gr.Blocks() as demo:
        widgets = {"one": gr.Markdown("kept"), "two": gr.Markdown("kept too")}
        button = gr.Button()
        button.click(lambda: for_gradio({}, widgets), None, list(widgets.values()))
        button.click(lambda: for_gradio({}, widgets), None, widgets["one"])
    for block_fn in demo.fns.values():
        # In a thread of its own: a browser test earlier in the session may leave this thread's loop running.
        with ThreadPoolExecutor(1) as thread:
            shown = thread.submit(asyncio.run, demo.postprocess_data(block_fn, block_fn.fn(), None)).result()
        assert shown == [gr.skip()] * len(block_fn.outputs)


@pytest.mark.parametrize("module", ["hardware_actions", "dataset_actions", "tokenizer_actions", "quickstart_actions"])
def test_the_actions_import_no_gradio(module):
    code = f"import sys, clm_gui.ui.{module}; print('gradio' in sys.modules)"
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).resolve().parents[1])
    assert imported.stdout.strip() == "False"
