"""User text inside Markdown the app renders (samples, run names, card fields), as text and nothing else.

A sample, a prompt, a run name or an uploaded file's name is written by a user (or by a model trained on
a user's data) and shown to every visitor. Put into Markdown as it is, `![x](http://...)` loads a remote
image, `[log in](http://...)` becomes a link, `<img src=...>` an element, and four backticks close the
fence drawn around a sample. These helpers are the one place where such text enters Markdown.
"""

from __future__ import annotations

import re

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character (CommonMark escapes them all)
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_BACKTICKS = re.compile(r"`+")


def escape(text: str) -> str:
    """`text` as literal inline Markdown: every punctuation character escaped (no link, image, emphasis,
    heading or autolinked URL can form), <, > and & as entities (no HTML), line breaks as spaces."""
    escaped = _PUNCTUATION.sub(lambda m: _HTML.get(m.group(1)) or "\\" + m.group(1), str(text))
    return " ".join(escaped.splitlines())


def fenced(text: str, language: str = "text") -> str:
    """`text` as a fenced code block whose fence is longer than any run of backticks inside it, so nothing
    in it can close the block (inside one, Markdown and HTML are shown as written)."""
    longest = max((len(run) for run in _BACKTICKS.findall(str(text))), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


def code(text: str) -> str:
    """`text` as inline code, delimited by more backticks than it holds (spaced, so edge backticks show)."""
    longest = max((len(run) for run in _BACKTICKS.findall(str(text))), default=0)
    ticks = "`" * (longest + 1)
    return f"{ticks} {' '.join(str(text).splitlines())} {ticks}"
