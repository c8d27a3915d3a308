"""Which Events a scan pass warrants. Only transitions make Events (a new suspicion, a confirmation,
a resolution, a target that starts failing); the Event poster aggregates repeats on top of that."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from leakpatrol.api import Finding
from leakpatrol.controller.ports import EventIntent, Unscannable
from leakpatrol.controller.verdict.fleet import FleetSpread, spread_words
from leakpatrol.controller.verdict.lives import lives_words
from leakpatrol.core import MAX_EVENT_MESSAGE, LeakState, ObjectRef
from leakpatrol.reasons import Reason


def _key(f: Finding) -> tuple[str, str, str]:
    return (f.workload.kind, f.workload.name, f.signal.value)


def _short(frame: str) -> str:
    """`pkg.F /long/path/file.go:12` -> `pkg.F file.go:12`: an Event line is read in a terminal;
    the status keeps the full paths."""
    function, _, place = frame.partition(" ")
    return f"{function} {place.rsplit('/', 1)[-1]}" if place else function


def finding_message(f: Finding) -> str:
    # The leaf says where it waits, the outermost shown frame which code started it.
    frames = [_short(c) for c in f.culprit]
    where = " <- ".join(frames if len(frames) <= 2 else [frames[0], "...", frames[-1]]) or "(no frames)"
    unit = "bytes" if f.signal.value == "heap" else "goroutines"
    if f.signal.value == "goroutineleak":  # a direct observation by the runtime, not a trend
        what = f"{f.current} goroutines the runtime's GC proved unreachable and blocked forever"
    else:
        what = f"{f.baseline} -> {f.current} {unit}, {f.growth_per_hour:+d}/h (p={f.p_value})"
    text = (
        f"{f.workload.kind}/{f.workload.name} {f.signal.value}: {what} {_where_words(f)}. Culprit: {where}."
    )
    # The on-call's answers come before the rule's long cause and fix, so truncation cuts those.
    if f.introduced_by is not None:
        b = f.introduced_by
        images = f" ({', '.join(b.images[:2])})" if b.images else ""
        text += f" Began with revision {b.revision}{images}; revision {b.previous_revision} did not leak."
    if f.forecast is not None:
        text += f" {f.forecast.message[:1].upper()}{f.forecast.message[1:]}."
    text += lives_words(f)
    if f.rule_id:
        text += f" Rule {f.rule_id}: {f.cause} Fix: {f.fix}"
    return text[:MAX_EVENT_MESSAGE]


def _where_words(f: Finding) -> str:
    """`in 3 of 3 pods` / `in 1 of 12 pods only (pod-x): likely data- or peer-specific`."""
    if f.spread is None:
        return f"in pod(s) {', '.join(f.pods[:3])}"
    leaking = f.pods[: f.spread.leaking] if f.spread.leaking < len(f.pods) else f.pods
    s = FleetSpread(tuple(leaking), f.spread.of)
    words = spread_words(s)
    return words if s.pod_local else f"{words} ({', '.join(f.pods[:3])})"


def leak_events(
    policy: ObjectRef,
    previous: Sequence[Finding],
    current: Sequence[Finding],
    workloads: Mapping[tuple[str, str], ObjectRef],
    pods: Mapping[str, ObjectRef],
) -> list[EventIntent]:
    """Events on the policy, the workload and (for confirmations) each leaking pod, so that
    `kubectl describe deployment X` shows the finding where people look first."""
    before = {_key(f): f for f in previous}
    now = {_key(f): f for f in current}
    out: list[EventIntent] = []
    for key, f in now.items():
        old = before.get(key)
        subjects = [policy, *_maybe(workloads.get((f.workload.kind, f.workload.name)))]
        if f.state is LeakState.CONFIRMED and (old is None or old.state is not LeakState.CONFIRMED):
            subjects += [pods[p] for p in f.pods if p in pods]
            out += [EventIntent.of(s, Reason.LEAK_DETECTED, finding_message(f)) for s in _unique(subjects)]
        elif f.state is LeakState.SUSPECTED and old is None:
            out += [EventIntent.of(s, Reason.LEAK_SUSPECTED, finding_message(f)) for s in _unique(subjects)]
    for key, old in before.items():
        if old.state is LeakState.CONFIRMED and key not in now:
            msg = f"{old.workload.kind}/{old.workload.name} {old.signal.value}: no longer growing"
            subjects = [policy, *_maybe(workloads.get((old.workload.kind, old.workload.name)))]
            out += [EventIntent.of(s, Reason.LEAK_RESOLVED, msg) for s in _unique(subjects)]
    return out


def failure_events(
    policy: ObjectRef, previous: Iterable[str], failures: Sequence[Unscannable], pods: Mapping[str, ObjectRef]
) -> list[EventIntent]:
    """A Warning when a target starts failing (ScrapeFailed, PprofNotExposed, PortNotFound, ...):
    the failure's own reason, of the type the vocabulary gives it."""
    seen = set(previous)
    out = []
    for u in failures:
        if u.pod in seen:
            continue
        msg = f"pod {u.pod}: {u.message}"[:MAX_EVENT_MESSAGE]
        out += [EventIntent.of(s, u.reason, msg) for s in [policy, *_maybe(pods.get(u.pod))]]
    return out


def _maybe(ref: ObjectRef | None) -> list[ObjectRef]:
    return [] if ref is None else [ref]


def _unique(refs: Iterable[ObjectRef]) -> list[ObjectRef]:
    return list(dict.fromkeys(refs))
