"""What a failed scan pass means, decided once for every handler: retry when, and say what.

The error root in `leakpatrol.core` carries the facts: a `Temporary` error is retried with
exponential backoff, never sooner than the `retry_after` the server asked for; a `Permanent` one
makes the policy `Ready=False` with the error's reason and is retried only slowly (a person must
change something: RBAC, the spec); anything else is a bug in leakpatrol, said as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from leakpatrol.core import Permanent, Temporary
from leakpatrol.reasons import Reason

FIRST_BACKOFF = 5.0  # seconds after the first failed pass in a row
MAX_BACKOFF = 300.0
PERMANENT_RETRY = 300.0  # a permanent failure is re-checked this rarely: no retry storm


class FailureKind(StrEnum):
    TEMPORARY = "Temporary"
    PERMANENT = "Permanent"
    INTERNAL = "Internal"


@dataclass(frozen=True, slots=True)
class PassFailure:
    kind: FailureKind
    delay: float  # seconds until the next pass
    reason: Reason  # for the condition or Event
    message: str  # safe to show a user: never a traceback, never a bug's text


def backoff(failures: int) -> float:
    """5 s, 10 s, 20 s, ... up to 5 minutes for the n-th failure in a row (n >= 1)."""
    return float(min(FIRST_BACKOFF * 2 ** (max(failures, 1) - 1), MAX_BACKOFF))


def classify(exc: Exception, failures: int) -> PassFailure:
    """The meaning of `exc`, the `failures`-th failed pass in a row."""
    if isinstance(exc, Temporary):
        delay = max(backoff(failures), exc.retry_after or 0.0)
        return PassFailure(FailureKind.TEMPORARY, delay, Reason.SCAN_FAILED, f"scan pass failed: {exc}")
    if isinstance(exc, Permanent):
        return PassFailure(FailureKind.PERMANENT, PERMANENT_RETRY, exc.reason, str(exc))
    message = f"scan pass failed on an internal error ({type(exc).__name__}); see the operator log"
    return PassFailure(FailureKind.INTERNAL, backoff(failures), Reason.INTERNAL_ERROR, message)
