"""`status.remediation` as state: read back each pass, changed by pure functions, written by the pass.

The action times, cooldowns and suspensions live in the policy's status, not only in memory, so an
operator restart (or a second replica taking over) cannot forget a restart and do it again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from leakpatrol.api import (
    EvidenceRef,
    PendingAction,
    RemediationRecord,
    RemediationStatus,
    Workload,
    WorkloadRemediation,
)
from leakpatrol.api.status import MAX_ACTION_TIMES, MAX_EVIDENCE, MAX_REMEDIATION_WORKLOADS
from leakpatrol.controller.report.status import read_status

RESUME_ANNOTATION = "leakpatrol.dev/resume-remediation"
"""Set to a time (RFC 3339) after a suspension, on the Namespace (or, when the admin allows it, on
the policy), it lifts that suspension: see `admin.AdminPolicy.resume_at`."""

Key = tuple[str, str]  # (kind, name)


def key(w: Workload) -> Key:
    return (w.kind, w.name)


def from_body(body: Mapping[str, Any]) -> RemediationStatus | None:
    status = read_status(body)
    return status.remediation if status else None


def newest(a: RemediationStatus | None, b: RemediationStatus | None) -> RemediationStatus | None:
    """The later of two copies (the pass's memory, the object's status): the object may lag a pass
    behind our own write, and after a restart the memory is empty."""
    if a is None or b is None:
        return a or b
    return a if _stamp(a) >= _stamp(b) else b


def _stamp(s: RemediationStatus) -> float:
    return s.last_decision_time.timestamp() if s.last_decision_time else 0.0


def workload(state: RemediationStatus, k: Key) -> WorkloadRemediation | None:
    return next((w for w in state.workloads if key(w.workload) == k), None)


def put(state: RemediationStatus, w: WorkloadRemediation) -> RemediationStatus:
    others = [x for x in state.workloads if key(x.workload) != key(w.workload)]
    # Bounded: the oldest idle entries go first; suspended and recently acted-on ones stay.
    kept = sorted([*others, w], key=lambda x: (x.suspended, x.last_action_time is not None))
    return _with(state, workloads=kept[-MAX_REMEDIATION_WORKLOADS:])


def count_confirmations(state: RemediationStatus, confirmed: Iterable[Key]) -> RemediationStatus:
    """+1 for each workload Confirmed this pass; back to 0 (an entry with no history is dropped)
    for every other one, so `minConfirmations` counts consecutive passes."""
    now_confirmed = set(confirmed)
    out = []
    for w in state.workloads:
        if key(w.workload) in now_confirmed:
            continue
        reset = w.model_copy(update={"confirmed_passes": 0})
        if reset.suspended or reset.last_action_time is not None:
            out.append(reset)
    state = _with(state, workloads=out + [w for w in state.workloads if key(w.workload) in now_confirmed])
    for k in now_confirmed:
        w = workload(state, k) or WorkloadRemediation(workload=Workload(kind=k[0], name=k[1]))
        state = put(state, w.model_copy(update={"confirmed_passes": w.confirmed_passes + 1}))
    return state


def prune_actions(state: RemediationStatus, window: float, now: datetime) -> RemediationStatus:
    recent = [t for t in state.actions if now - t < timedelta(seconds=window)]
    return _with(state, actions=recent[-MAX_ACTION_TIMES:])


def resume(state: RemediationStatus, at: datetime | None) -> RemediationStatus:
    """Lift the suspensions that began before `at`, the resume time that counts now (who may set
    it, and which values count, is the admin's: `admin.AdminPolicy.resume_at`). The leak that caused
    one is forgotten too: a person decided, so its recurrence is not escalated again. A suspension
    that began after `at` stays: a resume is written for the suspensions it has seen."""
    if at is None:
        return state
    for w in state.workloads:
        began = w.suspended_time or w.last_action_time  # an older operator's: after its last action
        if w.suspended and (began is None or began < at):
            lifted = {"suspended": False, "resume_token": None, "signature": None, "suspended_time": None}
            state = put(state, w.model_copy(update=lifted))
    return _with(state, suspended=_suspended_names(state))


def record_action(
    state: RemediationStatus, rec: RemediationRecord, sig: str | None, cooldown: float
) -> RemediationStatus:
    k = key(rec.workload)
    w = workload(state, k) or WorkloadRemediation(workload=rec.workload)
    w = w.model_copy(
        update={
            "signature": sig,
            "last_action_time": rec.time,
            "next_allowed_time": rec.time + timedelta(seconds=cooldown),
        }
    )
    state = put(state, w)
    return _with(
        state, last_action=rec, actions=[*state.actions, rec.time][-MAX_ACTION_TIMES:], in_action=rec.workload
    )


def with_pending(state: RemediationStatus, pending: PendingAction | None) -> RemediationStatus:
    return _with(state, pending=pending)


def record_skip(state: RemediationStatus, rec: RemediationRecord) -> RemediationStatus:
    return _with(state, last_skip=rec)


def suspend(state: RemediationStatus, k: Key, now: datetime) -> RemediationStatus:
    w = workload(state, k)
    if w is None:
        return state
    state = put(state, w.model_copy(update={"suspended": True, "suspended_time": now}))
    return _with(state, suspended=_suspended_names(state))


def add_evidence(state: RemediationStatus, ref: EvidenceRef) -> RemediationStatus:
    return _with(state, evidence=[*state.evidence, ref][-MAX_EVIDENCE:])


def decided(
    state: RemediationStatus, now: datetime, message: str, next_allowed: datetime | None
) -> RemediationStatus:
    return _with(state, last_decision_time=now, message=message[:1024], next_allowed_time=next_allowed)


def settled(state: RemediationStatus) -> RemediationStatus:
    return _with(state, in_action=None)


def dump(state: RemediationStatus) -> dict[str, Any]:
    """As written to the status: camelCase, RFC 3339 times, no nulls."""
    return state.model_dump(mode="json", by_alias=True, exclude_none=True)


def nulls(state: RemediationStatus) -> dict[str, None]:
    """A null for each top-level field the state leaves empty (a merge patch removes only those)."""
    fields = RemediationStatus.model_fields.items()
    return {(f.alias or n): None for n, f in fields if getattr(state, n) is None}


def _suspended_names(state: RemediationStatus) -> list[str]:
    return sorted(f"{w.workload.kind}/{w.workload.name}" for w in state.workloads if w.suspended)


def _with(state: RemediationStatus, **changes: Any) -> RemediationStatus:
    # Re-validated, not model_copy'd: the bounds of the status model hold for what we write.
    return RemediationStatus.model_validate({**state.model_dump(by_alias=False), **changes})
