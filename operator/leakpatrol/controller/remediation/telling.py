"""How a `Remediator` says what it decided: Events (on a change of reason), metrics, the skip and
suspension records in the status, and the nulls a merge patch needs to clear a field.

`Pass` is what one pass's decisions share: the spec (raised to the admin's floors), the time,
the workloads and targets of the pass, and what has been said so far.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from leakpatrol import metrics
from leakpatrol.api import LeakPolicySpec, RemediationStatus, Workload
from leakpatrol.controller.ports import Cluster, EventIntent, ScanTarget
from leakpatrol.controller.remediation import messages, state
from leakpatrol.controller.remediation.admin import AdminPolicy
from leakpatrol.controller.remediation.plan import Decision
from leakpatrol.controller.verdict.findings import PodResult
from leakpatrol.core import LeakpatrolError, ObjectRef
from leakpatrol.reasons import EventType, Reason

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Pass:
    spec: LeakPolicySpec  # its remediation raised to the admin's floors
    now: datetime
    workloads: Mapping[state.Key, ObjectRef]
    targets: Mapping[str, ScanTarget]
    results: Sequence[PodResult]
    closed: str | None  # why remediation may not act in the policy's namespace; None: it may
    raised: list[str]  # the policy's rails the admin's floors raised, for the status line
    untils: list[datetime] = field(default_factory=list)
    said: str = ""


class Telling:
    """The saying half of a `Remediator` (its attributes are set by its constructor)."""

    cluster: Cluster
    policy: ObjectRef
    admin: AdminPolicy
    namespace: str
    told: dict[state.Key, Reason]

    async def _suspend(self, st: RemediationStatus, d: Decision, ctx: Pass) -> RemediationStatus:
        k = state.key(d.workload)
        w = state.workload(st, k)
        resume = self.admin.resume_hint(self.policy.name, self.namespace)
        text = messages.suspension_message(d.finding, w.last_action_time if w else None, resume)
        st = state.suspend(st, k, ctx.now)
        ref = ctx.workloads.get(k)
        await self._tell(ref, d.reason.event_type, d.reason, text)
        metrics.REMEDIATION.labels(
            *self._labels(d.workload), ctx.spec.remediation.action.value, d.reason
        ).inc()
        ctx.said = text
        return st

    async def _skip(self, st: RemediationStatus, d: Decision, ctx: Pass) -> RemediationStatus:
        action = ctx.spec.remediation.action
        rec = messages.skip_record(d.workload, d.reason, d.message, ctx.spec.remediation, ctx.now)
        text = rec.message
        await self._tell(ctx.workloads.get(state.key(d.workload)), d.reason.skip_type, d.reason, text)
        metrics.REMEDIATION.labels(*self._labels(d.workload), action.value, d.reason).inc()
        if d.until is not None:
            ctx.untils.append(d.until)
        ctx.said = ctx.said or text
        return state.record_skip(st, rec)

    # --- saying it --------------------------------------------------------------------------------
    async def _tell(self, about: ObjectRef | None, kind: EventType, reason: Reason, text: str) -> None:
        """An Event on the policy and the workload, posted when the reason changes for that
        workload (repeats would only be aggregated into a count)."""
        k = (about.kind, about.name) if about else ("", "")
        if reason not in messages.ALWAYS_TOLD and self.told.get(k) == reason:
            return
        self.told[k] = reason
        for subject in [self.policy, *([about] if about else [])]:
            try:
                await self.cluster.post_event(EventIntent(subject, kind, reason, text))
            except LeakpatrolError as exc:  # an Event is not worth failing the decision over
                log.info("policy %s: event %s not posted: %s", self.policy.name, reason, exc)

    async def _clear(self, st: RemediationStatus, before: RemediationStatus | None) -> None:
        """The scan pass writes the status without nulls, and a merge patch only removes a field
        given as null: so null what this pass cleared (inAction, lastAction reverted, ...) first.
        Only top-level fields: a null inside a list item would be invalid."""
        cleared = {k: v for k, v in state.nulls(st).items() if before is not None and k in state.dump(before)}
        if not cleared:
            return
        try:
            await self.cluster.patch_status(self.policy, {"remediation": cleared})
        except LeakpatrolError as exc:  # a stale field errs on the safe side (a cooldown holds)
            log.info("policy %s/%s: remediation fields not cleared: %s", *self._where(), exc)

    def _where(self) -> tuple[str, str]:
        return self.policy.namespace or "", self.policy.name

    def _labels(self, w: Workload) -> tuple[str, str, str]:
        return (self.policy.namespace or "", self.policy.name, messages.name(w))
