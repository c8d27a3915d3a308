"""`leakpatrol` command line: diagnose one profile, record a live endpoint, analyze a series."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from leakpatrol.cli import analyze, cluster, diagnose, record
from leakpatrol.diagnose.rules import RuleError
from leakpatrol.profiles import ProfileError
from leakpatrol.seriesdir import SeriesError


def build_parser() -> argparse.ArgumentParser:
    """One subcommand a module: each adds its own arguments and the function that runs it."""
    p = argparse.ArgumentParser(prog="leakpatrol", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    diagnose.configure(
        sub.add_parser("diagnose", help="one saved profile -> top groups, wait kinds, matching rules")
    )
    record.configure(sub.add_parser("record", help="record a live pprof endpoint into a series directory"))
    analyze.configure(sub.add_parser("analyze", help="a series directory -> the verdict"))
    cluster.configure_operator(
        sub.add_parser("operator", help="run the Kubernetes operator (flags default to LEAKPATROL_* env)")
    )
    cluster.configure_release(
        sub.add_parser(
            "release-finalizers",
            help="before uninstall: stop the operator's Deployment, "
            "then remove its finalizer from LeakPolicies",
        )
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except (ProfileError, SeriesError, RuleError, OSError, ValueError) as exc:
        print(f"leakpatrol: {exc}", file=sys.stderr)
        return 2
