"""The CLI's exit codes, the one place they are defined (README "The CLI, offline" and `--help` show
this table), and `CliError`: an expected failure, said in one line with its code.

A traceback is printed only for a bug (exit 70): every failure a user can cause or meet (a missing
file, a target that does not answer, a kubeconfig that is not there) is a `CliError` or one of the
error types `main` maps here.
"""

from __future__ import annotations

import os
import sys
from enum import IntEnum

from leakpatrol.core import Permanent


class Exit(IntEnum):
    OK = 0
    FINDING = 1  # analyze --fail-on: the series has a finding at that level
    USAGE = 2  # a bad flag or argument (argparse's own code)
    INPUT = 3  # a file, directory or stdin that does not read as a profile, series or rule file
    TARGET = 4  # record: the endpoint gave no sample (unreachable, 404, 401/403, timeout)
    CLUSTER = 5  # operator, release-finalizers: the kubeconfig or the API server
    INSUFFICIENT = 6  # analyze --fail-on: too few samples for a verdict, which is not a pass
    BUG = 70  # an internal error: the traceback is printed (please report it)
    INTERRUPTED = 130  # Ctrl-C (record instead ends the recording and keeps what it got)


MEANING: dict[Exit, str] = {
    Exit.OK: "success; analyze: no finding at the --fail-on level",
    Exit.FINDING: "analyze --fail-on: a finding at that level (LEAK, or SUSPECTED with suspected)",
    Exit.USAGE: "a bad flag or argument",
    Exit.INPUT: "a file, directory or stdin that is missing or not a profile, series or rule file",
    Exit.TARGET: "record: no sample from the endpoint (unreachable, 404, 401/403, timeout)",
    Exit.CLUSTER: "operator, release-finalizers: the kubeconfig or the API server",
    Exit.INSUFFICIENT: "analyze --fail-on: too few samples for a verdict (not a pass)",
    Exit.BUG: "internal error, a bug: the traceback is printed",
    Exit.INTERRUPTED: "interrupted (Ctrl-C); record keeps what it got and exits 0",
}


def epilog() -> str:
    """The exit-code table for `--help`."""
    return "exit codes:\n" + "\n".join(f"  {int(code):>3}  {MEANING[code]}" for code in Exit)


class CliError(Permanent):
    """An expected failure: `main` prints `leakpatrol: <message>` (one line) and exits `code`."""

    def __init__(self, code: Exit, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = " ".join(message.split())  # one line, whatever the cause's text held


def emit(text: str) -> None:
    """Print to stdout. A reader that went away (`leakpatrol analyze … | head`) does not change
    the exit code: the rest of the output goes nowhere, the verdict still decides the code."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
