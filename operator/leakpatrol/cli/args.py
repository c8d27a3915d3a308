"""What the subcommands' arguments share: durations and quantities as argparse types, extra rules,
and the help formatter that shows every flag's default."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, NoReturn

from leakpatrol.api.units import parse_duration, parse_quantity
from leakpatrol.cli.exits import CliError, Exit
from leakpatrol.diagnose.rules import RuleSet


class Parser(argparse.ArgumentParser):
    """A usage error in one line, as every other failure: what is wrong, and where help is."""

    def error(self, message: str) -> NoReturn:
        self.exit(int(Exit.USAGE), f"{self.prog}: {message} (see {self.prog} --help)\n")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The epilog as written (the exit-code table), and `(default: X)` after every option that has
    a default worth saying and does not say it already."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or not action.option_strings:
            return text
        default = action.default
        if default is None or default is False or default is argparse.SUPPRESS or default == []:
            return text
        return f"{text} (default: %(default)s)"


def duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def quantity(text: str) -> str:
    try:
        parse_quantity(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def rules(path: Path | None) -> RuleSet:
    """The shipped rules, extended by a `--rules` file."""
    shipped = RuleSet.default()
    if path is None:
        return shipped
    try:
        text = path.read_text()
    except OSError as exc:
        raise CliError(Exit.INPUT, f"--rules {path}: {exc.strerror or exc}") from None
    return shipped.extended(RuleSet.from_toml(text, str(path)).rules)


def add_json(p: argparse.ArgumentParser, what: str, **kw: Any) -> None:
    p.add_argument("--json", action="store_true", help=f"print {what} as JSON instead of text", **kw)
