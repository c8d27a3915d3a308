"""The decision for one workload's leak, a pure function of the finding, the state, the spec and `now`.

    candidates(findings, admin)  one Confirmed finding per workload, one an action may rest on first
    precheck(finding, state, spec, now, admin)  the rails that need no API call, in order: not
        already OOM-looping (the OOM killer restarts it: a skip, whatever the floors) →
        a trend the admin's floors accept (else a wait while it may build, or a skip) → confirmed
        long enough → not suspended → not a recurrence (else Suspend) →
        kind supports the action →
        cooldown → allowed window → maxActions per window → one workload at a time
    on_workload(spec, kind, workload, pdbs, pods)  the rails on what the API said: its selector
        selects the pods it is to act for → fully available and not mid-rollout → at most one pod
        down at a time, never the last available one → (RolloutRestart) every PDB selecting its
        pods allows a disruption

`spec` is the policy's, raised to the admin's floors (`admin.AdminPolicy.effective`). Where the
action may act at all (the namespace) and the cluster's budget are asked of the API by the
Remediator, after these. An Eviction is checked by the API server itself (a PDB answers 429): no
second guess here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from leakpatrol.api import Finding, RemediationAction, RemediationSpec, RemediationStatus, Workload
from leakpatrol.controller.remediation import messages, rails, state
from leakpatrol.controller.remediation.admin import AdminPolicy
from leakpatrol.core import FindingBasis, LeakState, Obj, SignalKind
from leakpatrol.reasons import Reason


class PlanStep(StrEnum):
    WAIT = "Wait"  # not yet a candidate (awaiting confirmations): no Event
    SKIP = "Skip"  # a rail blocks it: a reason in the status and an Event
    SUSPEND = "Suspend"  # the leak came back after an action: stop, warn, a person decides
    ACT = "Act"  # every rail that needs no API call passed: read the workload, then act


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: PlanStep
    finding: Finding
    reason: Reason  # an ACT's: what its Event will say (done, or dry run)
    message: str
    until: datetime | None = None

    @property
    def workload(self) -> Workload:
        return self.finding.workload


def candidates(
    findings: Iterable[Finding], admin: AdminPolicy, skew: timedelta = timedelta(0)
) -> dict[state.Key, Finding]:
    """One Confirmed finding per workload: one an action may rest on (`admin.trend_confirmed`)
    before one it may not, then a goroutine signal before a heap one (heap alone needs more
    passes), else the worst, as `findings` are ordered. Its `since`, stamped by our clock, moved
    onto the API server's (`skew`: its time less ours), as action times are."""
    best: dict[state.Key, Finding] = {}
    for f in findings:
        if f.state is not LeakState.CONFIRMED:
            continue
        k = state.key(f.workload)
        if k not in best or _rank(f, admin) < _rank(best[k], admin):
            best[k] = f
    return {k: f.model_copy(update={"since": f.since + skew}) if skew else f for k, f in best.items()}


def _rank(f: Finding, admin: AdminPolicy) -> tuple[bool, bool]:
    return (admin.trend_confirmed(f) is not None, f.signal is SignalKind.HEAP)


def actionable(found: dict[state.Key, Finding], admin: AdminPolicy) -> list[state.Key]:
    """The workloads whose finding an action may rest on: only their passes count as confirmations."""
    return [k for k, f in found.items() if admin.trend_confirmed(f) is None]


def precheck(
    f: Finding, st: RemediationStatus, spec: RemediationSpec, now: datetime, admin: AdminPolicy
) -> Decision:
    looping = rails.not_oom_looping(f)  # the OOM killer restarts it already: no floor changes that
    if looping is not None:
        return Decision(PlanStep.SKIP, f, looping.reason, looping.message)
    no_trend = admin.trend_confirmed(f)
    if no_trend is not None:  # a rise seen early, or too few samples yet, may still become a trend
        building = f.basis in (FindingBasis.EARLY, FindingBasis.TREND)
        return Decision(PlanStep.WAIT if building else PlanStep.SKIP, f, no_trend.reason, no_trend.message)
    w = state.workload(st, state.key(f.workload))
    waiting = rails.confirmed(f, w.confirmed_passes if w else 0, spec.min_confirmations)
    if waiting is not None:
        return Decision(PlanStep.WAIT, f, waiting.reason, waiting.message)
    suspended = rails.not_suspended(w)
    if suspended is not None:
        return Decision(PlanStep.SKIP, f, suspended.reason, suspended.message)
    if rails.is_recurrence(w, f, spec.escalate_after, now):
        return Decision(
            PlanStep.SUSPEND, f, Reason.REMEDIATION_SUSPENDED, "the same leak came back after an action"
        )
    blocks = (
        rails.kind_supports(spec.action, f.workload.kind),
        rails.cooldown_over(w, spec.cooldown, now),
        rails.inside_windows(spec.allowed_windows, now),
        rails.budget_left(st.actions, spec.max_actions, spec.window, now),
        rails.one_at_a_time(st.in_action, f.workload),
    )
    return _first(f, blocks) or Decision(PlanStep.ACT, f, messages.done_reason(spec), "")


def on_workload(
    spec: RemediationSpec,
    kind: str,
    workload: Obj,
    pdbs: Sequence[Obj],
    pods: Mapping[str, Mapping[str, str]],
) -> rails.Block | None:
    """`pods`: the labels of the finding's pods, those this pass listed (its own targets)."""
    stray = rails.selects(kind, workload, pods)
    if stray is not None:
        return stray
    whole = rails.fully_available(kind, workload) or rails.one_pod_at_most(spec.action, kind, workload)
    if whole is not None or spec.action is not RemediationAction.ROLLOUT_RESTART:
        return whole
    labels = ((workload.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
    return rails.budgets_allow(pdbs, labels)


def _first(f: Finding, blocks: Iterable[rails.Block | None]) -> Decision | None:
    for b in blocks:
        if b is not None:
            return blocked(f, b)
    return None


def blocked(f: Finding, b: rails.Block) -> Decision:
    return Decision(PlanStep.SKIP, f, b.reason, b.message, b.until)


def doubt(d: Decision, why: str) -> Decision:
    """An API error or anything unsure while deciding: a skip that says why, never an action."""
    return Decision(PlanStep.SKIP, d.finding, Reason.DECISION_FAILED, f"{why}; nothing done")
