"""The LeakPolicy status a scan pass earns: conditions, counts and findings. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from leakpatrol.api import (
    MAX_FINDINGS,
    Condition,
    ConditionStatus,
    ConditionType,
    FieldIssue,
    Finding,
    LeakPolicyStatus,
    ShardFailure,
    Targets,
    get_condition,
    set_condition,
)
from leakpatrol.controller.ports import Unscannable
from leakpatrol.controller.report.words import workload_clauses, workload_name
from leakpatrol.controller.verdict.findings import carry_unscanned, leaking_workloads
from leakpatrol.core import LeakState
from leakpatrol.reasons import Reason

_SHOWN = 3  # names listed in a message before "and N more"


@dataclass(frozen=True, slots=True)
class Overrun:
    """Passes that keep taking longer than the policy's interval."""

    took: float  # seconds, the last pass
    interval: float
    passes: int  # in a row

    def sentence(self) -> str:
        return (
            f"passes take {self.took:.1f} s, over the {self.interval:g} s interval, for {self.passes}"
            " passes in a row: raise spec.schedule.interval, narrow spec.selector, or give the"
            " operator more fetch slots (--max-fetches, --per-policy) or replicas (--sharding)"
        )


@dataclass(slots=True)
class ScanPass:
    """What one pass over the targets saw."""

    namespace: str
    selected: int
    scanned: int
    evaluated: int  # targets with enough samples for a verdict
    findings: list[Finding]
    # fetch failures and unscannable pods; merged from shards, as the replicas stored them
    failures: Sequence[Unscannable | ShardFailure] = field(default_factory=list)
    failing: int | None = None  # when `failures` is a sample (merged shards): the true count
    selector: str = ""  # spec.selector as label-selector text, for "matches nothing" messages
    overrun: Overrun | None = None  # this replica's passes keep taking longer than the interval

    @property
    def failing_count(self) -> int:
        return len(self.failures) if self.failing is None else self.failing


def _some(names: Sequence[str]) -> str:
    more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more


def _cond(
    type_: ConditionType,
    status: ConditionStatus,
    reason: str,  # a Reason; a target failure's word as another replica stored it
    message: str,
    *,
    gen: int | None,
    now: datetime,
) -> Condition:
    return Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=now,
        observed_generation=gen,
    )


def _leak_condition(p: ScanPass, gen: int | None, now: datetime) -> Condition:
    def cond(status: ConditionStatus, reason: Reason, message: str) -> Condition:
        return _cond(ConditionType.LEAK_DETECTED, status, reason, message, gen=gen, now=now)

    confirmed = [f for f in p.findings if f.state is LeakState.CONFIRMED]
    suspected = [f for f in p.findings if f.state is LeakState.SUSPECTED]
    if confirmed:
        msg = workload_clauses(confirmed, _SHOWN)
        if suspected:
            msg += f". Suspected, awaiting confirmation: {_some(_names(suspected))}"
        msg += ". The culprit, cause and fix: status.findings and the workload's Events"
        return cond(ConditionStatus.TRUE, Reason.LEAK_DETECTED, msg)
    if p.selected == 0:
        return cond(ConditionStatus.UNKNOWN, Reason.NO_TARGETS, "no target selected: no verdict")
    if p.scanned == 0:
        msg = f"none of the {p.selected} selected target(s) could be scanned: no verdict (see Degraded)"
        return cond(ConditionStatus.UNKNOWN, Reason.NO_TARGETS_SCANNED, msg)
    if p.evaluated == 0:
        msg = (
            f"{p.scanned} target(s) scanned, none with enough samples for a verdict yet"
            " (detection.minSamples after detection.warmup)"
        )
        return cond(ConditionStatus.UNKNOWN, Reason.INSUFFICIENT_DATA, msg)
    if suspected:
        msg = f"growth flagged, awaiting confirmation: {workload_clauses(suspected, _SHOWN)}"
        return cond(ConditionStatus.FALSE, Reason.LEAK_SUSPECTED, msg)
    msg = f"no growing goroutine group or heap site in {p.evaluated} evaluated target(s)"
    return cond(ConditionStatus.FALSE, Reason.NO_LEAK, msg)


def _names(findings: Sequence[Finding]) -> list[str]:
    return list(dict.fromkeys(f"{workload_name(f)} {f.signal.value}" for f in findings))


def _degraded_condition(p: ScanPass, gen: int | None, now: datetime) -> Condition:
    if not p.failing_count and p.overrun is not None:
        msg = p.overrun.sentence()
        return _cond(
            ConditionType.DEGRADED, ConditionStatus.TRUE, Reason.PASSES_OVERRUN, msg, gen=gen, now=now
        )
    if not p.failing_count and p.selected == 0:
        msg = "no target selected: nothing is failing, nothing is scanned (see Ready)"
        return _cond(ConditionType.DEGRADED, ConditionStatus.FALSE, Reason.NO_TARGETS, msg, gen=gen, now=now)
    if not p.failing_count:
        return _cond(
            ConditionType.DEGRADED,
            ConditionStatus.FALSE,
            Reason.ALL_TARGETS_SCANNED,
            f"all {p.selected} selected target(s) answered",
            gen=gen,
            now=now,
        )
    reasons = sorted({u.reason for u in p.failures})
    reason = reasons[0] if len(reasons) == 1 else Reason.TARGETS_FAILING
    msg = f"{p.failing_count} target(s) failing: " + "; ".join(
        f"{u.pod}: {u.message}" for u in p.failures[:_SHOWN]
    )
    if p.overrun is not None:
        msg = f"{msg}; and {p.overrun.sentence()}"
    return _cond(ConditionType.DEGRADED, ConditionStatus.TRUE, reason, msg, gen=gen, now=now)


def scanned_status(
    previous: LeakPolicyStatus | None, p: ScanPass, generation: int | None, now: datetime
) -> LeakPolicyStatus:
    # Findings of pods that failed to scrape this pass stand until a real evaluation replaces them.
    carried = carry_unscanned(previous.findings if previous else [], p.findings, (u.pod for u in p.failures))
    p = replace(p, findings=carried)
    conditions = list(previous.conditions) if previous else []
    ready = _ready_condition(p, generation, now)
    for c in (ready, _leak_condition(p, generation, now), _degraded_condition(p, generation, now)):
        conditions = set_condition(conditions, c, now)
    return LeakPolicyStatus(
        observed_generation=generation,
        conditions=conditions,
        last_scan_time=now,
        targets=Targets(selected=p.selected, scanned=p.scanned, failing=p.failing_count),
        leaking=leaking_workloads(p.findings),
        findings=p.findings[:MAX_FINDINGS],
        worst_eta=worst_eta(p.findings),
        worst_eta_time=worst_eta_time(p.findings),
    )


def _ready_condition(p: ScanPass, gen: int | None, now: datetime) -> Condition:
    """Ready: the policy does its job, which is to scan what it selects. A policy that selects
    nothing, or none of whose targets answer, is not working, whatever else is well."""
    if p.selected == 0:
        where = f"namespace {p.namespace}" + (f" with labels {p.selector}" if p.selector else "")
        msg = f"no Running and Ready pod in {where} matches spec.selector: nothing is scanned"
        return _cond(ConditionType.READY, ConditionStatus.FALSE, Reason.NO_TARGETS, msg, gen=gen, now=now)
    if p.scanned == 0:
        counts = Counter(str(u.reason) for u in p.failures)
        why = ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items())) or "none answered"
        msg = (
            f"none of the {p.selected} selected target(s) could be scanned ({why}):"
            " nothing is watched; Degraded and the pods' Events say why"
        )
        return _cond(
            ConditionType.READY, ConditionStatus.FALSE, Reason.NO_TARGETS_SCANNED, msg, gen=gen, now=now
        )
    failing = f"; {p.failing_count} failing (see Degraded)" if p.failing_count else ""
    msg = f"scanned {p.scanned} of {p.selected} target(s){failing}"
    return _cond(ConditionType.READY, ConditionStatus.TRUE, Reason.SCANNED, msg, gen=gen, now=now)


def worst_eta(findings: Iterable[Finding]) -> str | None:
    """For the printer column: the earliest ETA, with its workload."""
    timed = [
        (f.forecast.reach_time, f.forecast.eta, f) for f in findings if f.forecast and f.forecast.reach_time
    ]
    if not timed:
        return None
    _, eta, f = min(timed, key=lambda x: x[0])
    return f"~{eta} {f.workload.kind}/{f.workload.name}"[:64]


def worst_eta_time(findings: Iterable[Finding]) -> datetime | None:
    """For the OOM At column: the earliest time a leaking container reaches its limit. Absolute,
    so it reads true between scans and while the policy is suspended."""
    times = [f.forecast.reach_time for f in findings if f.forecast and f.forecast.reach_time]
    return min(times, default=None)


def invalid_status(
    previous: LeakPolicyStatus | None, issues: Sequence[FieldIssue], generation: int | None, now: datetime
) -> LeakPolicyStatus:
    """Ready=False naming every bad field; scanning stops until the spec is fixed, findings are kept."""
    msg = "; ".join(str(i) for i in issues[:10])
    return not_ready_status(previous, Reason.INVALID_SPEC, msg, generation, now)


def not_ready_status(
    previous: LeakPolicyStatus | None, reason: Reason, message: str, generation: int | None, now: datetime
) -> LeakPolicyStatus:
    """Ready=False with a reason (say `Reason.FORBIDDEN`); counts and findings stay as last seen."""
    conditions = set_condition(
        list(previous.conditions) if previous else [],
        _cond(ConditionType.READY, ConditionStatus.FALSE, reason, message, gen=generation, now=now),
        now,
    )
    base = previous or LeakPolicyStatus()
    return base.model_copy(update={"observed_generation": generation, "conditions": conditions})


def suspended_status(
    previous: LeakPolicyStatus | None, generation: int | None, now: datetime
) -> LeakPolicyStatus:
    """Ready=False Suspended; what the last scan said is marked as such (LeakDetected and Degraded
    Unknown, naming the last verdict) and the ETA relative to that scan is cleared. Findings and
    counts stay for reference; `lastScanTime` dates them."""
    base = previous or LeakPolicyStatus()
    conditions = list(base.conditions)
    when = base.last_scan_time.strftime("%Y-%m-%dT%H:%M:%SZ") if base.last_scan_time else None
    as_of = f" (findings and counts are as of the last scan, {when})" if when else ""
    ready = _cond(
        ConditionType.READY,
        ConditionStatus.FALSE,
        Reason.SUSPENDED,
        f"spec.suspend is true: not scanning{as_of}",
        gen=generation,
        now=now,
    )
    conditions = set_condition(conditions, ready, now)
    for type_ in (ConditionType.LEAK_DETECTED, ConditionType.DEGRADED):
        old = get_condition(conditions, type_)
        if old is not None and old.reason == Reason.SUSPENDED:
            continue  # marked at an earlier pass: keep its words
        last = ""
        if old is not None and when:
            last = f": at the last scan ({when}) it was {old.status} {old.reason}: {old.message}"
        msg = f"not scanning (spec.suspend){last}"[:_MESSAGE_CAP]
        conditions = set_condition(
            conditions,
            _cond(type_, ConditionStatus.UNKNOWN, Reason.SUSPENDED, msg, gen=generation, now=now),
            now,
        )
    update = {"observed_generation": generation, "conditions": conditions, "worst_eta": None}
    return base.model_copy(update=update)


_MESSAGE_CAP = 1024  # a condition message a person reads in `kubectl describe`


def read_status(body: Mapping[str, Any]) -> LeakPolicyStatus | None:
    """The status the object carries now; None when absent or unreadable (then rebuilt afresh)."""
    raw = body.get("status") or {}
    known = {k: v for k, v in raw.items() if k in _STATUS_KEYS}
    try:
        return LeakPolicyStatus.model_validate(known) if known else None
    except ValueError:
        return None  # an older version's or a hand-edited status is rebuilt from scratch


_STATUS_KEYS = {f.alias or name for name, f in LeakPolicyStatus.model_fields.items()}  # camelCase, as stored


def status_body(status: LeakPolicyStatus) -> dict[str, Any]:
    """The JSON a status patch carries (camelCase, RFC 3339 times, no nulls but the worst ETA's: a
    merge patch keeps what it does not mention, so an ETA that went away is cleared with null)."""
    body = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    cleared = {
        key: None
        for key, value in (("worstEta", status.worst_eta), ("worstEtaTime", status.worst_eta_time))
        if value is None
    }
    return body | cleared
