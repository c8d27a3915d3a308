"""`leakpatrol` command line: diagnose one profile, record a live endpoint, analyze a series."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from leakpatrol import __version__
from leakpatrol.cli import analyze, cluster, diagnose, record
from leakpatrol.cli.args import HelpFormatter, Parser
from leakpatrol.cli.exits import CliError, Exit, epilog
from leakpatrol.diagnose.rules import RuleError
from leakpatrol.profiles import ProfileError
from leakpatrol.seriesdir import SeriesError


def build_parser() -> argparse.ArgumentParser:
    """One subcommand a module: each adds its own arguments and the function that runs it."""
    p = Parser(prog="leakpatrol", description=__doc__, epilog=epilog(), formatter_class=HelpFormatter)
    p.add_argument("--version", action="version", version=f"leakpatrol {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name, help=help, description=help, epilog=epilog(), formatter_class=HelpFormatter
        )

    diagnose.configure(command("diagnose", "one saved profile -> top groups, wait kinds, matching rules"))
    record.configure(command("record", "record a live pprof endpoint into a series directory"))
    analyze.configure(command("analyze", "a series directory -> the verdict"))
    cluster.configure_operator(
        command("operator", "run the Kubernetes operator (flags default to LEAKPATROL_* env)")
    )
    cluster.configure_release(
        command(
            "release-finalizers",
            "before uninstall: stop the operator's Deployment, then remove its finalizer from LeakPolicies",
        )
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # a usage error exits 2 here, in argparse's words
    try:
        code: int = args.run(args)
        return code
    except CliError as exc:
        return _fail(exc.code, exc.message)
    except (ProfileError, SeriesError, RuleError) as exc:
        return _fail(Exit.INPUT, str(exc))
    except BrokenPipeError:  # `leakpatrol diagnose … | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return int(Exit.OK)
    except OSError as exc:  # a file we were told to read or write: its name and the system's words
        where = f"{exc.filename}: " if exc.filename is not None else ""
        return _fail(Exit.INPUT, f"{where}{exc.strerror or exc}")
    except KeyboardInterrupt:
        return _fail(Exit.INTERRUPTED, "interrupted")
    except Exception:  # a bug: the traceback is what a report needs
        traceback.print_exc()
        return _fail(Exit.BUG, "internal error (a bug): please report it with the traceback above")


def _fail(code: Exit, message: str) -> int:
    print(f"leakpatrol: {' '.join(message.split())}", file=sys.stderr)
    return int(code)
