"""The LeakPolicy status a scan pass earns: conditions, counts and findings. Pure."""

from __future__ import annotations

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
    set_condition,
)
from leakpatrol.controller.ports import Unscannable
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
    confirmed = [f for f in p.findings if f.state is LeakState.CONFIRMED]
    if confirmed:
        f = confirmed[0]
        rule = f" (rule {f.rule_id})" if f.rule_id else ""
        names = _some([f"{x.workload.kind}/{x.workload.name}" for x in confirmed])
        what = (
            f"{f.current} goroutines proven blocked forever by the runtime"
            if f.signal.value == "goroutineleak"
            else f"growing {f.growth_per_hour:+d}/h"
        )
        msg = (
            f"{names}: {f.signal.value} {what}{rule}; "
            "see status.findings or `kubectl describe` the workload for the culprit and the fix"
        )
        return _cond(
            ConditionType.LEAK_DETECTED, ConditionStatus.TRUE, Reason.LEAK_DETECTED, msg, gen=gen, now=now
        )
    if p.evaluated == 0:
        msg = "not enough samples yet for a verdict (detection.minSamples after detection.warmup)"
        return _cond(
            ConditionType.LEAK_DETECTED,
            ConditionStatus.UNKNOWN,
            Reason.INSUFFICIENT_DATA,
            msg,
            gen=gen,
            now=now,
        )
    suspected = [f for f in p.findings if f.state is LeakState.SUSPECTED]
    if suspected:
        names = _some([f"{x.workload.kind}/{x.workload.name}" for x in suspected])
        return _cond(
            ConditionType.LEAK_DETECTED,
            ConditionStatus.FALSE,
            Reason.LEAK_SUSPECTED,
            f"{names}: growth flagged, awaiting confirmation",
            gen=gen,
            now=now,
        )
    return _cond(
        ConditionType.LEAK_DETECTED,
        ConditionStatus.FALSE,
        Reason.NO_LEAK,
        f"no growing goroutine group or heap site in {p.evaluated} evaluated target(s)",
        gen=gen,
        now=now,
    )


def _degraded_condition(p: ScanPass, gen: int | None, now: datetime) -> Condition:
    if not p.failing_count and p.overrun is not None:
        msg = p.overrun.sentence()
        return _cond(
            ConditionType.DEGRADED, ConditionStatus.TRUE, Reason.PASSES_OVERRUN, msg, gen=gen, now=now
        )
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
    if p.selected == 0:
        ready = _cond(
            ConditionType.READY,
            ConditionStatus.TRUE,
            Reason.NO_TARGETS,
            f"no Running and Ready pod in namespace {p.namespace} matches spec.selector",
            gen=generation,
            now=now,
        )
    else:
        ready = _cond(
            ConditionType.READY,
            ConditionStatus.TRUE,
            Reason.SCANNED,
            f"scanned {p.scanned} of {p.selected} target(s)",
            gen=generation,
            now=now,
        )
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
    )


def worst_eta(findings: Iterable[Finding]) -> str | None:
    """For the printer column: the earliest ETA, with its workload."""
    timed = [
        (f.forecast.reach_time, f.forecast.eta, f) for f in findings if f.forecast and f.forecast.reach_time
    ]
    if not timed:
        return None
    _, eta, f = min(timed, key=lambda x: x[0])
    return f"~{eta} {f.workload.kind}/{f.workload.name}"[:64]


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
    cond = _cond(
        ConditionType.READY,
        ConditionStatus.FALSE,
        Reason.SUSPENDED,
        "spec.suspend is true: not scanning",
        gen=generation,
        now=now,
    )
    base = previous or LeakPolicyStatus()
    conditions = set_condition(list(base.conditions), cond, now)
    return base.model_copy(update={"observed_generation": generation, "conditions": conditions})


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
    """The JSON a status patch carries (camelCase, RFC 3339 times, no nulls but one: a merge
    patch keeps what it does not mention, so a worst ETA that went away is cleared with null)."""
    body = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    return body if status.worst_eta is not None else {**body, "worstEta": None}
