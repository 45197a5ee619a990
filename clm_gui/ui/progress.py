"""Events that update the page without a progress indicator (polling, refreshes)."""

from __future__ import annotations

import gradio as gr


def quiet_events() -> dict:
    """Keyword arguments for an event listener that must not flash a progress timer on its outputs.

    Gradio 6 ignores show_progress="hidden" (gradio-app/gradio#12406), so the indicator is sent to
    an invisible component instead; a page that polls every two seconds would otherwise blink.
    """
    sink = gr.HTML(visible=False)
    return {"show_progress": "hidden", "show_progress_on": sink}
