"""Cancelling a long task (profiling, tokenizer training) from its browser session."""

from __future__ import annotations

from clm_gui.ui.progress import SessionCancels


def test_cancel_stops_only_the_running_task_of_its_own_session():
    cancels = SessionCancels()
    assert cancels.cancel("a") is False  # nothing running: the page says so
    with cancels.task("a") as a, cancels.task("b") as b:
        assert cancels.cancel("a") is True
        assert a.is_set() and not b.is_set()
    assert cancels.cancel("a") is False and cancels.cancel("b") is False  # finished tasks leave no flag
