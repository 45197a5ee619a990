"""The Train tab."""

import gradio as gr

from clm_gui.ui.context import UIContext


def build(ctx: UIContext) -> None:
    gr.Markdown("## Train")
