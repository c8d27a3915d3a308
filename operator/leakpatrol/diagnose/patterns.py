"""Regular expressions for rules, compiled with RE2: matching is linear in the text whatever the
pattern, so a tenant's `extraRules[].match.frame` such as `(.*.*)*Q` cannot freeze the operator
(Python's `re` backtracks exponentially on it, on the event loop every tenant shares).

RE2 refuses what it cannot run in linear time (backreferences, lookaround); `compile_pattern`
says so in words, and the caller names the field. Its memory per pattern is capped too.
"""

from __future__ import annotations

from typing import Protocol, cast

import re2

from leakpatrol.core import Permanent
from leakpatrol.reasons import Reason

MAX_PATTERN_MEMORY = 1 << 20  # bytes of RE2 program per pattern; a huge pattern fails to compile
MAX_NAME = 1024  # characters of a function name a pattern looks at: bounded work per frame


class Pattern(Protocol):
    """The one method rule matching uses."""

    def fullmatch(self, text: str, /) -> object | None: ...


class PatternError(Permanent, ValueError):
    """The pattern does not compile under RE2; the message says why."""

    reason = Reason.INVALID_PATTERN


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # the error comes back as an exception; no stray stderr lines
    options.max_mem = MAX_PATTERN_MEMORY
    return options


_OPTIONS = _options()


def compile_pattern(pattern: str) -> Pattern:
    try:
        return cast(Pattern, re2.compile(pattern, options=_OPTIONS))
    except re2.error as exc:
        detail = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        raise PatternError(f"not a linear-time (RE2) regular expression: {detail}") from None


def compile_search(pattern: str) -> Pattern:
    """A pattern that matches when it is found anywhere in the text (fullmatch of `.*(?:p).*`)."""
    return compile_pattern(f".*(?:{pattern}).*")
