"""The README's command lines are ones the command line accepts: each parses, or, where it shows optional
parts (`[--json]`, `cpu|cuda`, `...`), each option it names is in its command's `--help`."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from clm_gui.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"
# How the README starts the command line: what follows is `python -m clm_gui`'s arguments.
LAUNCHERS = (("./run.sh", "cli"), ("./run.sh", "app"), ("clm-gui",), ("-m", "clm_gui"))


def readme_command_lines() -> list[str]:
    text = README.read_text(encoding="utf-8")
    lines = [line for block in re.findall(r"```bash\n(.*?)```", text, re.S) for line in block.splitlines()]
    lines += re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    return [line.split("  #")[0].strip() for line in lines]


def cli_arguments(line: str) -> list[str] | None:
    """The arguments of `python -m clm_gui` in a README line, or None when the line is no such command."""
    try:
        words = shlex.split(line)
    except ValueError:
        return None
    for launcher in LAUNCHERS:
        for i in range(len(words) - len(launcher) + 1):
            if tuple(words[i:i + len(launcher)]) == launcher:
                rest = words[i + len(launcher):]
                return ["app", *rest] if launcher == ("./run.sh", "app") else rest
    return None


def commands_of(arguments: list[str]) -> list[str]:
    """The command words (`tokenizer train`), before the first option or value."""
    parser, words = build_parser(), []
    for word in arguments:
        sub = next((a for a in parser._actions if a.choices and isinstance(a.choices, dict)), None)
        if sub is None or word not in sub.choices:
            break
        parser = sub.choices[word]
        words.append(word)
    return words


# Lines that show the command line itself (`./run.sh cli ARGS`) name no command.
COMMANDS = [args for args in map(cli_arguments, readme_command_lines()) if args and not args[0].isupper()]


def test_the_readme_shows_every_command():
    shown = {args[0] for args in COMMANDS}
    assert shown >= {"app", "train", "generate", "export", "tokenizer", "profile", "hardware", "recommend",
                     "evaluate", "quickstart"}


@pytest.mark.parametrize("arguments", COMMANDS, ids=[" ".join(a)[:60] for a in COMMANDS])
def test_a_readme_command_line_parses(arguments, capsys):
    commands = commands_of(arguments)
    assert commands, f"not a command: {arguments}"
    with pytest.raises(SystemExit) as helped:
        build_parser().parse_args([*commands, "--help"])
    assert helped.value.code == 0
    help_text = capsys.readouterr().out
    for option in (word.strip("[]").split("=")[0] for word in arguments if word.lstrip("[").startswith("--")):
        assert option in help_text, f"{option} is not an option of {' '.join(commands)}"
    if not any(mark in word for word in arguments for mark in ("[", "|", "...", "ARGS")):
        build_parser().parse_args(arguments)  # exits (code 2) on an argument it does not accept
