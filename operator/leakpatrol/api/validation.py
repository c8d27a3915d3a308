"""Whole-spec validation with messages that name the field: what `Ready=False, InvalidSpec` shows.

The CRD's schema and CEL rules already reject most bad input at `kubectl apply`, but not all of it
(a regex that does not compile, label syntax, a window too short for minSamples), and an API server
without the CRD's validation (an old one, or the test sandbox) rejects nothing. So the operator runs
every rule here again, the schema's included, before it trusts a spec.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from leakpatrol.api.spec import LeakPolicySpec, SelectorOperator
from leakpatrol.api.units import format_duration
from leakpatrol.core import Permanent
from leakpatrol.diagnose.patterns import PatternError, compile_search
from leakpatrol.reasons import Reason

# apimachinery's label syntax: an optional DNS-subdomain prefix, then a name of at most 63 chars.
_LABEL_NAME = r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)"
_LABEL_VALUE = re.compile(rf"^({_LABEL_NAME})?$")
_DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME_RE = re.compile(rf"^{_LABEL_NAME}$")


@dataclass(frozen=True, slots=True)
class FieldIssue:
    path: str  # e.g. spec.detection.extraRules[2].match.frame
    message: str  # why, in words a person acts on

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class InvalidSpecError(Permanent, ValueError):
    """A LeakPolicy spec that must not be acted on. Permanent: retrying will not fix it."""

    reason = Reason.INVALID_SPEC

    def __init__(self, issues: list[FieldIssue]) -> None:
        self.issues = issues
        super().__init__("; ".join(map(str, issues)))


def parse_spec(raw: Mapping[str, Any]) -> LeakPolicySpec:
    """The spec, or InvalidSpecError carrying every issue validate_spec finds."""
    try:
        spec = LeakPolicySpec.model_validate(raw)
    except ValidationError as exc:
        raise InvalidSpecError([_from_pydantic(error) for error in exc.errors()]) from None
    issues = list(_semantic_issues(spec))
    if issues:
        raise InvalidSpecError(issues)
    return spec


def validate_spec(raw: Mapping[str, Any]) -> list[FieldIssue]:
    """Every problem with a raw `spec` dict, each naming its field path; [] when it is usable."""
    try:
        parse_spec(raw)
    except InvalidSpecError as exc:
        return exc.issues
    return []


def _from_pydantic(error: Any) -> FieldIssue:
    path = "spec" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"])
    kind, message = error["type"], error["msg"].removeprefix("Value error, ")
    if kind == "missing":
        message = "required"
    elif kind == "extra_forbidden":
        message = "unknown field (check the spelling: the API server would silently drop it)"
    return FieldIssue(path, message)


def _semantic_issues(spec: LeakPolicySpec) -> Iterator[FieldIssue]:
    yield from _selector_issues(spec)
    yield from _timing_issues(spec)
    yield from _detection_issues(spec)
    yield from _remediation_issues(spec)


def _selector_issues(spec: LeakPolicySpec) -> Iterator[FieldIssue]:
    selector = spec.selector
    if not selector.match_labels and not selector.match_expressions:
        yield FieldIssue("spec.selector", "must not be empty — it would select every pod in the namespace")
    for key, value in selector.match_labels.items():
        if problem := _label_key_problem(key):
            yield FieldIssue(f"spec.selector.matchLabels[{key}]", problem)
        if not _LABEL_VALUE.match(value):
            yield FieldIssue(f"spec.selector.matchLabels[{key}]", f"invalid label value {value!r}")
    for i, req in enumerate(selector.match_expressions):
        path = f"spec.selector.matchExpressions[{i}]"
        if problem := _label_key_problem(req.key):
            yield FieldIssue(f"{path}.key", problem)
        wants_values = req.operator in (SelectorOperator.IN, SelectorOperator.NOT_IN)
        if wants_values and not req.values:
            yield FieldIssue(f"{path}.values", f"must not be empty when operator is {req.operator}")
        if not wants_values and req.values:
            yield FieldIssue(f"{path}.values", f"must be empty when operator is {req.operator}")
        for j, value in enumerate(req.values):
            if not _LABEL_VALUE.match(value):
                yield FieldIssue(f"{path}.values[{j}]", f"invalid label value {value!r}")


def _label_key_problem(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if prefix and not _DNS_SUBDOMAIN.match(prefix):
        return f"invalid label key {key!r}: the prefix must be a lowercase DNS subdomain"
    if not _LABEL_NAME_RE.match(name):
        return f"invalid label key {key!r}: the name must be 1-63 letters, digits, '-', '_' or '.'"
    return None


def _timing_issues(spec: LeakPolicySpec) -> Iterator[FieldIssue]:
    timeouts, schedule, profiles = spec.target.timeouts, spec.schedule, spec.profiles
    for name, value in (("connect", timeouts.connect), ("read", timeouts.read)):
        if value > timeouts.total:
            yield FieldIssue(
                f"spec.target.timeouts.{name}",
                f"{_d(value)} exceeds timeouts.total {_d(timeouts.total)}: the total would cut it short",
            )
    if not schedule.jitter.endswith("%") and schedule.jitter_seconds >= schedule.interval:
        yield FieldIssue(
            "spec.schedule.jitter", f"must be shorter than schedule.interval ({_d(schedule.interval)})"
        )
    if profiles.goroutineleak_interval < schedule.interval:
        yield FieldIssue(
            "spec.profiles.goroutineleakInterval",
            f"{_d(profiles.goroutineleak_interval)} is shorter than schedule.interval"
            f" {_d(schedule.interval)}: the expensive goroutineleak profile is fetched at most once a scan",
        )
    if "Enabled" not in (profiles.goroutine, profiles.heap) and profiles.goroutineleak == "Disabled":
        yield FieldIssue("spec.profiles", "every profile is Disabled: nothing would be scanned")


def _detection_issues(spec: LeakPolicySpec) -> Iterator[FieldIssue]:
    detection, interval = spec.detection, spec.schedule.interval
    if detection.warmup >= detection.window:
        yield FieldIssue(
            "spec.detection.warmup",
            f"{_d(detection.warmup)} must be shorter than detection.window {_d(detection.window)}",
        )
    if detection.max_samples < detection.min_samples:
        yield FieldIssue(
            "spec.detection.maxSamples", f"must be at least minSamples ({detection.min_samples})"
        )
    fits = int(detection.window // interval) + 1
    if fits < detection.min_samples:
        yield FieldIssue(
            "spec.detection.window",
            f"{_d(detection.window)} holds only {fits} samples at schedule.interval {_d(interval)},"
            f" fewer than minSamples ({detection.min_samples}): no verdict could ever be reached",
        )
    for i, signature in enumerate(detection.allowlist):
        if not signature.strip():
            yield FieldIssue(f"spec.detection.allowlist[{i}]", "blank: it would allowlist every stack")
    seen: set[str] = set()
    for i, rule in enumerate(detection.extra_rules):
        path = f"spec.detection.extraRules[{i}]"
        if rule.id in seen:
            yield FieldIssue(f"{path}.id", f"duplicate rule id {rule.id!r}")
        seen.add(rule.id)
        if rule.match.frame is None and rule.match.wait_kind is None:
            yield FieldIssue(
                f"{path}.match", "needs frame or waitKind: an empty match would claim every stack"
            )
        if rule.match.frame is not None:
            try:
                compile_search(rule.match.frame)
            except PatternError as exc:
                yield FieldIssue(f"{path}.match.frame", str(exc))


def _d(seconds: float) -> str:
    return format_duration(seconds)


def _remediation_issues(spec: LeakPolicySpec) -> Iterator[FieldIssue]:
    for i, w in enumerate(spec.remediation.allowed_windows):
        path = f"spec.remediation.allowedWindows[{i}]"
        try:
            ZoneInfo(w.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            yield FieldIssue(
                f"{path}.timeZone", f"unknown time zone {w.time_zone!r} (an IANA name, e.g. Europe/Berlin)"
            )
        if w.start == "24:00":
            yield FieldIssue(f"{path}.start", "24:00 is the end of a day: a window starts at 00:00-23:59")
        elif w.start == w.end:
            yield FieldIssue(f"{path}.end", f"equals start ({w.start}): the window would never open")
        if len(set(w.days)) != len(w.days):
            yield FieldIssue(f"{path}.days", "lists a day twice")
