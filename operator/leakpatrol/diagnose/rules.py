"""A data-driven rule set: stack facts -> (rule id, cause, fix).

Rules come from `rules.toml` shipped in this package, plus any a user adds. Matching only looks at
function names and the wait kind, never file:line, so it survives recompiles.

One stack, one rule: the goroutine profile and the goroutineleak profile carry the same stacks, so
a rule written for either goroutine signal applies on both. A rule may also look at the group's
lockstep partners (groups growing with it, e.g. a connection's readLoop, writeLoop and the caller
waiting on it): `partner_frames` / `not_partner_frames` judge the whole set, not one member.

`min_goroutines` is for a single snapshot (`leakpatrol diagnose`): a rule about goroutines piling
up (a pool per request) does not describe a group of one, as every group of a deadlock dump is.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from leakpatrol.core import Permanent
from leakpatrol.diagnose.patterns import MAX_NAME, Pattern, PatternError, compile_pattern
from leakpatrol.reasons import Reason

_KNOWN_KEYS = {
    "id",
    "priority",
    "signals",
    "wait_kinds",
    "frames",
    "leaf",
    "not_leaf",
    "not_frames",
    "partner_frames",
    "not_partner_frames",
    "min_goroutines",
}
_REQUIRED = {"id", "cause", "fix"}
_SIGNALS = {"goroutines", "heap", "goroutineleak"}
_GOROUTINE_SIGNALS = frozenset({"goroutines", "goroutineleak"})  # the same stacks, two views
MAX_FRAMES = 64  # user frames a rule looks at (leaf first): Go's own tracebacks stop at 100
MAX_PARTNERS = 16  # lockstep partners a rule looks at


class RuleError(Permanent, ValueError):
    """A rule file or a user rule is invalid; the message names the rule and the field."""

    reason = Reason.INVALID_RULE


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    cause: str
    fix: str
    priority: int = 50
    signals: frozenset[str] = frozenset({"goroutines", "goroutineleak"})
    wait_kinds: frozenset[str] = frozenset()
    frames: tuple[Pattern, ...] = ()
    not_frames: tuple[Pattern, ...] = ()
    leaf: Pattern | None = None
    not_leaf: Pattern | None = None
    partner_frames: tuple[Pattern, ...] = ()
    not_partner_frames: tuple[Pattern, ...] = ()
    min_goroutines: int = 1  # in one snapshot, the group must hold this many for the rule to say so

    def applies_to(self, signal: str) -> bool:
        if signal in self.signals:
            return True
        return signal in _GOROUTINE_SIGNALS and bool(self.signals & _GOROUTINE_SIGNALS)

    def matches(
        self,
        signal: str,
        wait_kind: str,
        functions: Sequence[str],
        partners: Sequence[Sequence[str]] = (),
        count: int | None = None,
    ) -> bool:
        """`functions`: the user frames' function names, leaf first; `partners`: the same for each
        group growing in lockstep with this one (empty when unknown); `count`: the goroutines of a
        group seen in one snapshot (None: a growing group, where counts are not the point)."""
        if not self.applies_to(signal):
            return False
        if count is not None and count < self.min_goroutines:
            return False
        if not self._partners_match(partners):
            return False
        if self.wait_kinds and wait_kind not in self.wait_kinds:
            return False
        functions = [f[:MAX_NAME] for f in functions[:MAX_FRAMES]]  # bounded work per stack
        leaf = functions[0] if functions else ""
        if self.leaf is not None and not self.leaf.fullmatch(leaf):
            return False
        if self.not_leaf is not None and self.not_leaf.fullmatch(leaf):
            return False
        if any(not any(p.fullmatch(f) for f in functions) for p in self.frames):
            return False
        return not any(p.fullmatch(f) for p in self.not_frames for f in functions)

    def _partners_match(self, partners: Sequence[Sequence[str]]) -> bool:
        def seen(p: Pattern) -> bool:  # bounded like `matches`: a few partners, their top frames
            return any(p.fullmatch(f[:MAX_NAME]) for fs in partners[:MAX_PARTNERS] for f in fs[:MAX_FRAMES])

        if any(not seen(p) for p in self.partner_frames):
            return False
        return not any(seen(p) for p in self.not_partner_frames)


def _compile(where: str, pattern: Any) -> Pattern:
    if not isinstance(pattern, str):
        raise RuleError(f"{where}: must be a regular expression string, got {type(pattern).__name__}")
    try:
        return compile_pattern(pattern)
    except PatternError as exc:
        raise RuleError(f"{where}: invalid regular expression {pattern!r}: {exc}") from exc


def _str_list(where: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RuleError(f"{where}: must be a list of strings")
    return value


def rule_from_mapping(raw: Mapping[str, Any], where: str) -> Rule:
    """Build one rule, validating every field; `where` prefixes error messages (e.g. 'rules[3]')."""
    unknown = set(raw) - _KNOWN_KEYS - {"cause", "fix"}
    if unknown:
        raise RuleError(
            f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(_KNOWN_KEYS | _REQUIRED)}"
        )
    missing = _REQUIRED - set(raw)
    if missing:
        raise RuleError(f"{where}: missing required field(s) {sorted(missing)}")
    for key in _REQUIRED:
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise RuleError(f"{where}.{key}: must be a non-empty string")
    signals = set(_str_list(f"{where}.signals", raw.get("signals", ["goroutines", "goroutineleak"])))
    if not signals <= _SIGNALS:
        raise RuleError(
            f"{where}.signals: unknown signal(s) {sorted(signals - _SIGNALS)}; use {sorted(_SIGNALS)}"
        )
    priority = raw.get("priority", 50)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise RuleError(f"{where}.priority: must be an integer")
    least = raw.get("min_goroutines", 1)
    if not isinstance(least, int) or isinstance(least, bool) or least < 1:
        raise RuleError(f"{where}.min_goroutines: must be a whole number, at least 1")
    leaf, not_leaf = raw.get("leaf"), raw.get("not_leaf")

    def patterns(key: str) -> tuple[Pattern, ...]:
        return tuple(
            _compile(f"{where}.{key}[{i}]", p)
            for i, p in enumerate(_str_list(f"{where}.{key}", raw.get(key, [])))
        )

    return Rule(
        id=raw["id"],
        cause=raw["cause"].strip(),
        fix=raw["fix"].strip(),
        priority=priority,
        signals=frozenset(signals),
        wait_kinds=frozenset(_str_list(f"{where}.wait_kinds", raw.get("wait_kinds", []))),
        frames=patterns("frames"),
        not_frames=patterns("not_frames"),
        leaf=None if leaf is None else _compile(f"{where}.leaf", leaf),
        not_leaf=None if not_leaf is None else _compile(f"{where}.not_leaf", not_leaf),
        partner_frames=patterns("partner_frames"),
        not_partner_frames=patterns("not_partner_frames"),
        min_goroutines=least,
    )


class RuleSet:
    """An ordered rule list; `match` returns the highest-priority matching rule (first on ties)."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = sorted(rules, key=lambda r: -r.priority)

    @classmethod
    def from_toml(cls, text: str, source: str = "rules") -> RuleSet:
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise RuleError(f"{source}: not valid TOML: {exc}") from exc
        raw_rules = doc.get("rule", [])
        if not isinstance(raw_rules, list):
            raise RuleError(f"{source}: 'rule' must be an array of tables ([[rule]])")
        return cls(rule_from_mapping(r, f"{source}: rule[{i}]") for i, r in enumerate(raw_rules))

    @classmethod
    def default(cls) -> RuleSet:
        text = resources.files("leakpatrol.diagnose").joinpath("rules.toml").read_text("utf-8")
        return cls.from_toml(text, "leakpatrol/diagnose/rules.toml")

    def extended(self, extra: Iterable[Rule]) -> RuleSet:
        """User rules win ties against shipped ones of the same priority: they are listed first."""
        return RuleSet([*extra, *self.rules])

    def match(
        self,
        signal: str,
        wait_kind: str,
        functions: Sequence[str],
        partners: Sequence[Sequence[str]] = (),
        count: int | None = None,
    ) -> Rule | None:
        return next((r for r in self.rules if r.matches(signal, wait_kind, functions, partners, count)), None)

    @property
    def ids(self) -> set[str]:
        return {r.id for r in self.rules}
