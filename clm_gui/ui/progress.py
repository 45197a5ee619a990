"""Progress on the page: events that update it without a progress indicator (polling, refreshes), and
long tasks a Cancel button can stop."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


def quiet_events() -> dict:
    """Keyword arguments for an event listener that must not flash a progress timer on its outputs.

    Gradio 6 ignores show_progress="hidden" (gradio-app/gradio#12406), so the indicator is sent to
    an invisible component instead; a page that polls every two seconds would otherwise blink.
    """
    import gradio as gr  # only here: the tabs' actions use SessionCancels without Gradio

    sink = gr.HTML(visible=False)
    return {"show_progress": "hidden", "show_progress_on": sink}


class SessionCancels:
    """One cancel flag per browser session for a long task (profiling, tokenizer training): the task's
    loop reads it, the Cancel button sets it."""

    def __init__(self):
        self._flags: dict[str, threading.Event] = {}

    @contextmanager
    def task(self, session: str) -> Iterator[threading.Event]:
        flag = self._flags[session] = threading.Event()
        try:
            yield flag
        finally:
            self._flags.pop(session, None)

    def cancel(self, session: str) -> bool:
        """Ask this session's task to stop; False when it has none running."""
        flag = self._flags.get(session)
        if flag is not None:
            flag.set()
        return flag is not None
