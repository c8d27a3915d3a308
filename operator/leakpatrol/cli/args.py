"""What the subcommands' arguments share: durations and quantities as argparse types, extra rules."""

from __future__ import annotations

import argparse
from pathlib import Path

from leakpatrol.api.units import parse_duration, parse_quantity
from leakpatrol.diagnose.rules import RuleSet


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


def rules(path: Path | None) -> RuleSet:
    """The shipped rules, extended by a `--rules` file."""
    shipped = RuleSet.default()
    if path is None:
        return shipped
    return shipped.extended(RuleSet.from_toml(path.read_text(), str(path)).rules)
