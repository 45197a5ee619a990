"""Errors a user can read.

Every failure the user can fix (bad input, missing file, offline Hub) is raised as a `UserError`
whose message says what was wrong and how to fix it. The UI and the CLI show the message as it is,
never a traceback.
"""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (a library's long report), or its type when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class UserError(Exception):
    """A problem the user can fix; the message is shown to them verbatim."""


class Cancelled(UserError):
    """The user stopped a long task (profiling, tokenizer training); the message says what was kept."""


class ConfigError(UserError):
    """A run configuration with one or more problems, each a sentence the user can act on."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(f"- {p}" for p in self.problems))
