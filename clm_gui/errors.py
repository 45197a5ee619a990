"""Errors a user can read.

Every failure the user can fix (bad input, missing file, offline Hub) is raised as a `UserError`
whose message says what was wrong and how to fix it. The UI and the CLI show the message as it is,
never a traceback.
"""


class UserError(Exception):
    """A problem the user can fix; the message is shown to them verbatim."""


class ConfigError(UserError):
    """A run configuration with one or more problems, each a sentence the user can act on."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(f"- {p}" for p in self.problems))
