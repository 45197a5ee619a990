"""Whether the Hugging Face Hub can be reached: asked before any download or upload (a dataset, a
tokenizer, a pushed model), so that an offline machine gets a clear message in seconds instead of a load
that hangs for minutes. A foundation module: the data, tokenizer and runs layers all ask it, and it
imports nothing heavier than `socket`."""

from __future__ import annotations

import os
import socket

HUB_HOST = ("huggingface.co", 443)


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face Hub answers, decided in seconds (not the minutes a load would hang)."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    try:
        with socket.create_connection(HUB_HOST, timeout=timeout):
            return True
    except OSError:
        return False
