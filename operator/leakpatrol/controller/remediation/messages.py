"""What remediation says: Event texts, the status line, the RemediationSuspended condition. Pure."""

from __future__ import annotations

from datetime import datetime

from leakpatrol.api import (
    Condition,
    ConditionStatus,
    ConditionType,
    Finding,
    LeakPolicyStatus,
    RemediationAction,
    RemediationRecord,
    RemediationSpec,
    RemediationStatus,
    Workload,
    set_condition,
)
from leakpatrol.controller.report.events import finding_message
from leakpatrol.controller.report.words import numbers
from leakpatrol.core import MAX_EVENT_MESSAGE
from leakpatrol.reasons import Reason

VERBS = {RemediationAction.ROLLOUT_RESTART: "restart", RemediationAction.EVICT_POD: "evict"}
DONE = {
    RemediationAction.ROLLOUT_RESTART: Reason.ROLLOUT_RESTARTED,
    RemediationAction.EVICT_POD: Reason.POD_EVICTED,
}


def done_reason(spec: RemediationSpec) -> Reason:
    """What the action's Event and record say: done, or (dryRun) what would have been done."""
    return Reason.REMEDIATION_DRY_RUN if spec.dry_run else DONE[spec.action]


# Posted every time; skips only when their reason changes for the workload.
ALWAYS_TOLD = frozenset(
    {*DONE.values(), Reason.REMEDIATION_DRY_RUN, Reason.EVIDENCE_SAVED, Reason.REMEDIATION_SUSPENDED}
)


def name(w: Workload) -> str:
    return f"{w.kind}/{w.name}"


def t(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else "?"


def action_message(
    action: RemediationAction, f: Finding, pods: list[str], dry_run: bool, evidence: str
) -> str:
    what = (
        name(f.workload)
        if action is RemediationAction.ROLLOUT_RESTART
        else f"pod(s) {', '.join(pods)} of {name(f.workload)}"
    )
    verb = VERBS[action]
    head = f"would {verb} {what}" if dry_run else f"{verb}ed {what}"
    why = f"confirmed {f.signal.value} leak ({numbers(f, p_value=False)}"
    why += f", rule {f.rule_id})" if f.rule_id else ")"
    text = f"{head}: {why}."
    if evidence:
        text += f" Evidence: {evidence}."
    return text[:MAX_EVENT_MESSAGE]


def skip_message(action: RemediationAction, w: Workload, message: str) -> str:
    return f"not {VERBS.get(action, 'acting on')}ing {name(w)}: {message}"[:MAX_EVENT_MESSAGE]


def skip_record(
    w: Workload, reason: Reason, why: str, spec: RemediationSpec, now: datetime
) -> RemediationRecord:
    return RemediationRecord(
        workload=w,
        action=spec.action.value,
        time=now,
        reason=reason,
        message=skip_message(spec.action, w, why),
        dry_run=spec.dry_run,
    )


def suspension_message(f: Finding, last_action: datetime | None, resume: str) -> str:
    """`resume`: how to resume, as the admin allows it (`admin.AdminPolicy.resume_hint`)."""
    text = (
        f"remediation of {name(f.workload)} suspended: the same leak was confirmed again after the action at "
        f"{t(last_action)}, so restarts are masking a code bug. To resume after the fix, {resume}. "
        + finding_message(f)
    )
    return text[:MAX_EVENT_MESSAGE]


def not_enabled_message(
    action: RemediationAction, f: Finding, pods: list[str], namespace: str, why: str
) -> str:
    """What a policy would have done where the admin has not enabled remediation, and why not."""
    would = action_message(action, f, pods, True, "")
    return f"remediation is not enabled for namespace {namespace}: {why}. It {would}"[:MAX_EVENT_MESSAGE]


def with_remediation(
    status: LeakPolicyStatus, st: RemediationStatus, now: datetime, resume: str
) -> LeakPolicyStatus:
    """The pass's status with `remediation` and the RemediationSuspended condition."""
    if st.suspended:
        text = _suspended_text(st, resume)
        cond = _condition(ConditionStatus.TRUE, Reason.RESTARTS_MASK_A_BUG, text, status, now)
    else:
        cond = _condition(
            ConditionStatus.FALSE, Reason.NOT_SUSPENDED, "no workload is suspended", status, now
        )
    conditions = set_condition(status.conditions, cond, now)
    return status.model_copy(update={"remediation": st, "conditions": conditions})


def _suspended_text(st: RemediationStatus, resume: str) -> str:
    return (
        f"remediation suspended for {', '.join(st.suspended)}: the leak came back after an action; "
        f"fix the code, then to resume, {resume}"
    )


def _condition(
    status: ConditionStatus, reason: Reason, message: str, pass_status: LeakPolicyStatus, now: datetime
) -> Condition:
    return Condition(
        type=ConditionType.REMEDIATION_SUSPENDED,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=now,
        observed_generation=pass_status.observed_generation,
    )
