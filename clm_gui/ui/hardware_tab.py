"""The Hardware tab's layout: CPU, RAM, disk and GPUs, refreshed live; the peak-throughput table and a
measurement. What it shows and does is `ui/hardware_actions.py` (no Gradio there); this module lays the widgets
out, names them and wires each event to an action."""

from __future__ import annotations

import gradio as gr

from clm_gui.ui.context import UIContext
from clm_gui.ui.hardware_actions import PRECISIONS, HardwareActions, peak_markdown
from clm_gui.ui.widgets import for_gradio

REFRESH_SECONDS = 2.0


def build(ctx: UIContext) -> None:
    actions = HardwareActions(ctx.settings)
    gr.Markdown("## Hardware\nWhat this machine can train on, refreshed every few seconds.")
    machine = gr.Markdown(elem_id="hardware-machine")
    gr.Markdown("### GPUs")
    gpus = gr.Markdown(elem_id="hardware-gpus")
    timer = gr.Timer(REFRESH_SECONDS)
    gr.Markdown("### Throughput\nMeasure what a device really reaches on a matrix product; the peak figures "
                "below are the vendors' datasheet numbers that MFU is computed against.")
    with gr.Row():
        device = gr.Dropdown(actions.devices, value="cpu", label="Device", scale=2, elem_id="hardware-device")
        precision = gr.Dropdown(PRECISIONS, value="auto", label="Precision", scale=1)
        measure = gr.Button("Measure", variant="secondary", scale=1, elem_id="hardware-measure")
    measured = gr.Markdown(elem_id="hardware-measured")
    with gr.Accordion("Peak throughput table (TFLOP/s, dense)", open=False):
        gr.Markdown(peak_markdown())
    widgets = dict(machine=machine, gpus=gpus, measured=measured)

    def refresh():  # the endpoints keep their earlier names (refresh, measure_markdown)
        return for_gradio(actions.refresh(), widgets)

    def measure_markdown(device_now, precision_now):
        return for_gradio(actions.measure(device_now, precision_now), widgets)

    timer.tick(refresh, outputs=[machine, gpus], show_progress="hidden", queue=False)
    gr.on(triggers=None, fn=refresh, outputs=[machine, gpus], show_progress="hidden")
    measure.click(measure_markdown, inputs=[device, precision], outputs=measured)
