"""A function called before every training step, named in the environment.

Code outside the trainer can then act on a training process it did not start: the app's training thread,
`accelerate launch` and `torchrun` children all inherit the environment. The test suite holds runs at the
steps it chooses this way (`tests/step_gate.py`), so that no test races the machine's speed; a profiler or
a debugger can enter the same way. Unset, it costs nothing: the trainer reads it once.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable

from clm_gui.errors import UserError

BEFORE_STEP_ENV = "CLM_GUI_BEFORE_STEP"  # "package.module:function", called as function(step)


def before_step_from_environment() -> Callable[[int], None] | None:
    """The function CLM_GUI_BEFORE_STEP names (None when it is unset); a clear error when it names none."""
    named = os.environ.get(BEFORE_STEP_ENV, "")
    if not named:
        return None
    module_name, _, function_name = named.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), function_name) if function_name else None
    except (ImportError, AttributeError) as exc:
        raise UserError(f"{BEFORE_STEP_ENV}={named!r} names no importable function ({exc}): write it as "
                        "'package.module:function', or unset it.") from exc
    if not callable(function):
        raise UserError(f"{BEFORE_STEP_ENV}={named!r} names no function: write it as 'package.module:function', "
                        "or unset it.")
    return function
