"""The write-ahead of an action, and how a later pass finds out whether it happened.

Before acting, a pass writes `status.remediation.pending` (the workload, the action, the exact
restartedAt the restart will write, or the pods it will evict) and nothing more: no cooldown, no
`lastAction`. Once the action succeeded it is recorded done (lastAction, cooldown, budget, inAction)
with pending cleared in the same status write, and only then its Event posted and counted. So the
status never claims an action that did not happen, and one that did is said once.

A pending record found at the start of a pass was left by an operator stopped in between, or by a
call that failed without saying whether it went through. Before anything else is decided, the
workload itself answers:

    RolloutRestart  the pod template's restartedAt is the pending time          -> done
    EvictPod        a named pod is gone, terminating, or another pod by now       -> done
    not seen        dropped, no cooldown from it; but for `IN_FLIGHT` after its time a request the
                    API server may still be applying is waited for (nothing acts)
    dryRun          dropped: a dry run changed nothing
    a read fails    kept, and nothing acts this pass (fail closed); a later pass asks again

Done is recorded at the pending time (when it happened), then said with its Event and metric.
The pure decisions come first; `WriteAhead`, at the bottom, makes the port calls.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from leakpatrol import metrics
from leakpatrol.api import (
    Finding,
    PendingAction,
    PendingPod,
    RemediationAction,
    RemediationRecord,
    RemediationSpec,
    RemediationStatus,
)
from leakpatrol.controller.ports import Cluster
from leakpatrol.controller.remediation import messages, rails, state
from leakpatrol.controller.remediation.actions import workload_ref
from leakpatrol.core import MAX_EVENT_MESSAGE, RESTARTED_AT, LeakpatrolError, Obj, ObjectNotFound, ObjectRef
from leakpatrol.reasons import EventType, Reason

log = logging.getLogger(__name__)

# Longer than the API server's own request timeout (1m by default): a call that failed on our side
# may still be applied on the server's until then.
IN_FLIGHT = timedelta(minutes=2)
LATE = " (Recorded at a later pass: the operator stopped, or the call failed, before it could be.)"


class Outcome(StrEnum):
    DONE = "Done"  # it happened: record it, say it
    NOT_DONE = "NotDone"  # it did not: drop it
    UNKNOWN = "Unknown"  # not known yet: keep it, nothing acts


def intent(
    f: Finding,
    spec: RemediationSpec,
    *,
    pods: Sequence[str],
    uids: Mapping[str, str],
    evidence: str,
    now: datetime,
) -> PendingAction:
    """The action about to be taken; its time in whole seconds, as the restartedAt annotation holds it."""
    evicting = spec.action is RemediationAction.EVICT_POD
    return PendingAction(
        workload=f.workload,
        action=spec.action.value,
        time=now.replace(microsecond=0),
        reason=messages.done_reason(spec),
        message=messages.action_message(spec.action, f, list(pods), spec.dry_run, evidence),
        dry_run=spec.dry_run,
        signature=rails.signature(f),
        pods=[PendingPod(name=p, uid=uids.get(p) or None) for p in pods] if evicting else [],
    )


def partly(p: PendingAction, evicted: Sequence[str]) -> PendingAction:
    """Some pods evicted, then a 429 for the next: the record says which were."""
    text = f"{p.message} Evicted {', '.join(evicted)}; the rest were refused (429), retried later."
    return p.model_copy(update={"message": text[:MAX_EVENT_MESSAGE]})


def late(p: PendingAction) -> PendingAction:
    return p.model_copy(update={"message": (p.message + LATE)[:MAX_EVENT_MESSAGE]})


def ahead(st: RemediationStatus, p: PendingAction) -> RemediationStatus:
    return state.with_pending(st, p)


def dropped(st: RemediationStatus) -> RemediationStatus:
    return state.with_pending(st, None)


def done(st: RemediationStatus, p: PendingAction, cooldown: float) -> RemediationStatus:
    """Recorded as taken at its time (lastAction, cooldown, budget, inAction); no longer pending."""
    rec = RemediationRecord.model_validate(p.model_dump(include=set(RemediationRecord.model_fields)))
    return dropped(state.record_action(st, rec, p.signature, cooldown))


def said(p: PendingAction) -> Reason:
    """The reason its Event says once it is done."""
    return Reason.REMEDIATION_DRY_RUN if p.dry_run else messages.DONE[RemediationAction(p.action)]


def restarted(p: PendingAction, workload: Obj) -> bool:
    """Its pod template's restartedAt is this restart's time (any other value: not ours)."""
    template = (workload.get("spec") or {}).get("template") or {}
    value = ((template.get("metadata") or {}).get("annotations") or {}).get(RESTARTED_AT)
    try:
        return isinstance(value, str) and datetime.fromisoformat(value) == p.time
    except ValueError:
        return False


def evicted(p: PendingAction, pods: Mapping[str, Obj | None]) -> bool:
    """A named pod gone (None), terminating, or another pod by that name now."""
    for want in p.pods:
        meta = (pods.get(want.name) or {}).get("metadata") or {}
        if not meta or meta.get("deletionTimestamp") or (want.uid and meta.get("uid") != want.uid):
            return True
    return False


def judge(p: PendingAction, seen: bool, now: datetime) -> tuple[Outcome, str]:
    """What a read of the workload (or its pods) that did or did not `see` the action means `now`."""
    what = f"the {p.action} of {messages.name(p.workload)} written ahead at {messages.t(p.time)}"
    if seen:
        return Outcome.DONE, f"{what} happened"
    if now < p.time + IN_FLIGHT:
        until = messages.t(p.time + IN_FLIGHT)
        return (
            Outcome.UNKNOWN,
            f"{what} is not seen yet; a request still in flight is waited for until {until}",
        )
    return Outcome.NOT_DONE, f"{what} did not happen: dropped"


def unknown(p: PendingAction, why: str) -> tuple[Outcome, str]:
    return (
        Outcome.UNKNOWN,
        f"whether the {p.action} written ahead at {messages.t(p.time)} happened is unknown: {why}",
    )


# --- the port calls -------------------------------------------------------------------------------
Tell = Callable[[ObjectRef | None, EventType, Reason, str], Awaitable[None]]


class WriteAhead:
    """The status written whole before an action, the record and its Event after it, and the check
    of an action found pending."""

    def __init__(self, cluster: Cluster, policy: ObjectRef, tell: Tell) -> None:
        self.cluster, self.policy, self.tell = cluster, policy, tell
        self.written: RemediationStatus | None = None  # what our last status write said

    async def write(self, st: RemediationStatus) -> None:
        """The whole state, now (nulls for the fields it leaves empty)."""
        await self.cluster.patch_status(self.policy, {"remediation": state.nulls(st) | state.dump(st)})
        self.written = st

    async def done(
        self, st: RemediationStatus, p: PendingAction, cooldown: float, now: datetime, about: ObjectRef | None
    ) -> RemediationStatus:
        """Record `p` done, then post its Events and count it. If the record cannot be written, `p`
        stays pending and unsaid: the next pass finds it done and says it then (once either way)."""
        after = state.decided(done(st, p, cooldown), now, p.message, None)
        try:
            await self.write(after)
        except LeakpatrolError as exc:
            log.warning("policy %s: %s not recorded yet: %s", self.policy.name, p.message, exc)
            return st
        reason, where = said(p), (self.policy.namespace or "", self.policy.name)
        await self.tell(
            about or workload_ref(p.workload, self.policy.namespace), reason.event_type, reason, p.message
        )
        metrics.REMEDIATION.labels(*where, messages.name(p.workload), p.action, reason).inc()
        return after

    async def check(self, p: PendingAction, now: datetime) -> tuple[Outcome, str]:
        """Whether `p` happened, read from its workload (RolloutRestart) or its pods (EvictPod)."""
        namespace = self.policy.namespace or "default"
        if p.dry_run:
            return (
                Outcome.NOT_DONE,
                f"the dry run written ahead at {messages.t(p.time)} changed nothing: dropped",
            )
        try:
            if p.action == RemediationAction.ROLLOUT_RESTART:
                seen = restarted(p, await self.cluster.read_workload(workload_ref(p.workload, namespace)))
            elif p.action == RemediationAction.EVICT_POD:
                seen = evicted(p, {x.name: await self._pod(namespace, x.name) for x in p.pods})
            else:
                return Outcome.NOT_DONE, f"{p.action} is not an action leakpatrol takes: dropped"
        except ObjectNotFound:  # the workload is gone: nothing of it to hold a cooldown for
            return Outcome.NOT_DONE, f"{messages.name(p.workload)} is gone: its pending {p.action} dropped"
        except LeakpatrolError as exc:
            return unknown(p, f"could not read it: {exc.reason}: {exc}")
        return judge(p, seen, now)

    async def _pod(self, namespace: str, name: str) -> Obj | None:
        try:
            return await self.cluster.read_pod(namespace, name)
        except ObjectNotFound:
            return None
