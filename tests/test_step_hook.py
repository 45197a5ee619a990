"""The function named in the environment that the trainer calls before every step (clm_gui.train.step_hook)."""

from __future__ import annotations

import pytest

from clm_gui.errors import UserError
from clm_gui.train.step_hook import BEFORE_STEP_ENV, before_step_from_environment


def test_unset_there_is_no_hook(monkeypatch):
    monkeypatch.delenv(BEFORE_STEP_ENV, raising=False)
    assert before_step_from_environment() is None


def test_the_named_function_is_the_hook(monkeypatch):
    monkeypatch.setenv(BEFORE_STEP_ENV, "tests.step_gate:wait_at_step_gate")
    from tests.step_gate import wait_at_step_gate

    assert before_step_from_environment() is wait_at_step_gate


@pytest.mark.parametrize("named", ["no_such_module:f", "tests.step_gate:no_such_function", "tests.step_gate",
                                   "tests.step_gate:STEP_GATE_ENV"])
def test_a_name_that_is_no_function_is_refused_saying_how_to_write_it(monkeypatch, named):
    monkeypatch.setenv(BEFORE_STEP_ENV, named)
    with pytest.raises(UserError, match="package.module:function"):
        before_step_from_environment()
