"""Which Events a scan pass warrants. Only transitions make Events (a new suspicion, a confirmation,
a resolution, a target that starts failing); the Event poster aggregates repeats on top of that."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from leakpatrol.api import Finding
from leakpatrol.api.units import amount_text, rate_text
from leakpatrol.controller.ports import EventIntent, Unscannable
from leakpatrol.controller.report.words import numbers, rule_words, workload_name
from leakpatrol.controller.verdict.fleet import FleetSpread, spread_words
from leakpatrol.controller.verdict.lives import lives_words
from leakpatrol.core import MAX_EVENT_MESSAGE, LeakState, ObjectRef, SignalKind
from leakpatrol.detect.signals import Signal
from leakpatrol.reasons import Reason


def _key(f: Finding) -> tuple[str, str, str]:
    return (f.workload.kind, f.workload.name, f.signal.value)


def _short(frame: str) -> str:
    """`pkg.F /long/path/file.go:12` -> `pkg.F file.go:12`: an Event line is read in a terminal;
    the status keeps the full paths."""
    function, _, place = frame.partition(" ")
    return f"{function} {place.rsplit('/', 1)[-1]}" if place else function


# What a `kubectl describe` reader takes in at a glance (an Event's message is one line there).
WORKLOAD_EVENT_CHARS = 540  # the story: numbers, culprit, rollout, forecast, rule and fix
POLICY_EVENT_CHARS = 240  # which workload, which signal, which rule; the story is on the workload
POD_EVENT_CHARS = 240  # this pod's own numbers, and where the story is


def _fit(parts: list[str], budget: int, tail: str = "") -> str:
    """`parts` in order while they fit in `budget` with `tail`; the first that does not is cut at a
    word, and the rest is left out (the status has all of it)."""
    tail = tail if len(tail) <= budget // 2 else ""  # a pointer longer than the story: left out
    text, room = "", budget - (len(tail) + 1 if tail else 0)
    for part in parts:
        piece = f" {part}" if text else part
        if len(text) + len(piece) <= room:
            text += piece
            continue
        cut = piece[: max(0, room - len(text) - 1)].rsplit(" ", 1)[0]
        if len(cut.strip()) > 20:  # a stub of a few words says nothing
            text += cut.rstrip(" ,;:") + "…"
        break
    out = f"{text} {tail}".strip() if tail else text
    return out if len(out) <= budget else out[: budget - 1] + "…"


def _culprit_words(f: Finding) -> str:
    # The leaf says where it waits, the outermost shown frame which code started it.
    frames = [_short(c) for c in f.culprit]
    return " <- ".join(frames if len(frames) <= 2 else [frames[0], "...", frames[-1]]) or "(no frames)"


def _leak_words(f: Finding) -> str:
    """`goroutines leak confirmed`, `heap leak suspected`, `goroutineleak proven by the runtime`."""
    if f.signal is SignalKind.GOROUTINELEAK:
        return "goroutineleak proven by the runtime"
    return f"{f.signal.value} leak {'confirmed' if f.state is LeakState.CONFIRMED else 'suspected'}"


def _headline(f: Finding) -> str:
    return f"{_leak_words(f)} {_where_words(f)}: {numbers(f, p_value=False)}."


def _first_sentence(text: str) -> str:
    head, dot, _ = text.partition(". ")
    return head + "." if dot else text


def finding_message(f: Finding, policy: ObjectRef | None = None) -> str:
    """The workload's Event: the story of its leak, under WORKLOAD_EVENT_CHARS. The on-call's
    answers come first (numbers, culprit, since which rollout, when it OOMs), the fix last; the
    rule's cause and the full fix stay in the status (`kubectl describe leakpolicy`)."""
    parts = [_headline(f), f"Culprit: {_culprit_words(f)}."]
    if f.introduced_by is not None:
        b = f.introduced_by
        images = f" ({', '.join(b.images[:2])})" if b.images else ""
        parts.append(
            f"Began with revision {b.revision}{images}; revision {b.previous_revision} did not leak."
        )
    if f.forecast is not None:
        parts.append(f"{f.forecast.message[:1].upper()}{f.forecast.message[1:]}.")
    if f.lives is not None:
        parts.append(lives_words(f).strip())
    if f.rule_id:
        parts.append(f"Rule {f.rule_id}.")
        if f.fix:
            parts.append(f"Fix: {_first_sentence(f.fix)}")
    return _fit(parts, WORKLOAD_EVENT_CHARS, _details(policy))


def _details(policy: ObjectRef | None) -> str:
    if policy is None:
        return ""
    return f"Cause and fix: kubectl describe leakpolicy {policy.name} -n {policy.namespace}"


def policy_message(f: Finding) -> str:
    """The policy's Event: which workload, which signal, which rule; the story is on the workload."""
    head = f"{workload_name(f)} {_leak_words(f)} {_where_words(f, names=False)}"
    parts = [f"{head}: {numbers(f, p_value=False)}, {rule_words(f)}."]
    return _fit(
        parts, POLICY_EVENT_CHARS, f"More: kubectl describe {f.workload.kind.lower()} {f.workload.name}"
    )


def pod_message(f: Finding, own: Signal | None) -> str:
    """A leaking pod's Event: its own numbers (when this replica scanned it this pass) and where
    the story is."""
    k = f.signal.value
    if own is not None and f.signal is not SignalKind.GOROUTINELEAK:
        mine = (
            f"this pod's {k}: {amount_text(k, own.baseline)} -> {amount_text(k, own.current)}"
            f" ({rate_text(k, own.total_growth_per_hour)})"
        )
    elif own is not None:
        mine = f"this pod: {own.current:.0f} goroutines proven blocked forever"
    else:
        mine = f"this pod: {_leak_words(f)}"
    of = f" {_where_words(f, names=False)}" if f.spread is not None else ""
    tail = f"the story: kubectl describe {f.workload.kind.lower()} {f.workload.name}"
    return _fit([f"{mine}; {workload_name(f)} leaks{of} ({rule_words(f)});"], POD_EVENT_CHARS, tail)


def _where_words(f: Finding, *, names: bool = True) -> str:
    """`in 3 of 3 pods (a, b, c)` / `in 1 of 12 pods only (pod-x): likely data- or peer-specific`."""
    if f.spread is None:
        return f"in pod(s) {', '.join(f.pods[:3])}"
    leaking = f.pods[: f.spread.leaking] if f.spread.leaking < len(f.pods) else f.pods
    s = FleetSpread(tuple(leaking), f.spread.of)
    words = spread_words(s)
    return words if s.pod_local or not names else f"{words} ({', '.join(f.pods[:3])})"


def leak_events(
    policy: ObjectRef,
    previous: Sequence[Finding],
    current: Sequence[Finding],
    workloads: Mapping[tuple[str, str], ObjectRef],
    pods: Mapping[str, ObjectRef],
    *,
    own: Mapping[tuple[str, str], Signal] | None = None,
) -> list[EventIntent]:
    """The Events of the pass's transitions. The workload's Event tells the story (so that
    `kubectl describe deployment X` shows it where people look first); the policy's names the
    workload, signal and rule; each leaking pod's (confirmations only) gives that pod's own numbers
    from `own` ((pod, signal) -> its signal this pass). Every one is short: see the *_CHARS."""
    own = own or {}
    out: list[EventIntent] = []
    for reason, f in transitions(previous, current):
        workload = _maybe(workloads.get((f.workload.kind, f.workload.name)))
        if reason is Reason.LEAK_RESOLVED:
            msg = f"{workload_name(f)} {f.signal.value}: no longer growing"
            out += [EventIntent.of(s, reason, msg) for s in [policy, *workload]]
            continue
        out.append(EventIntent.of(policy, reason, policy_message(f)))
        out += [EventIntent.of(w, reason, finding_message(f, policy)) for w in workload]
        if reason is Reason.LEAK_DETECTED:
            leaking = f.pods[: f.spread.leaking] if f.spread is not None else f.pods
            out += [
                EventIntent.of(pods[p], reason, pod_message(f, own.get((p, f.signal.value))))
                for p in leaking
                if p in pods
            ]
    return out


def transitions(previous: Sequence[Finding], current: Sequence[Finding]) -> list[tuple[Reason, Finding]]:
    """(LeakSuspected | LeakDetected | LeakResolved, finding) for each finding that changed state."""
    before = {_key(f): f for f in previous}
    now = {_key(f): f for f in current}
    out: list[tuple[Reason, Finding]] = []
    for key, f in now.items():
        old = before.get(key)
        if f.state is LeakState.CONFIRMED and (old is None or old.state is not LeakState.CONFIRMED):
            out.append((Reason.LEAK_DETECTED, f))
        elif f.state is LeakState.SUSPECTED and old is None:
            out.append((Reason.LEAK_SUSPECTED, f))
    out += [
        (Reason.LEAK_RESOLVED, old)
        for key, old in before.items()
        if old.state is LeakState.CONFIRMED and key not in now
    ]
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
