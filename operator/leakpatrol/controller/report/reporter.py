"""`Reporter`: what one policy tells people — Events on transitions, `Ready=False` with a reason —
remembering just enough to say each thing once (a failure that lasts is not news every pass)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from leakpatrol.api import Finding, InvalidSpecError, LeakPolicyStatus
from leakpatrol.controller.ports import Cluster, EventIntent, ScanTarget, Unscannable
from leakpatrol.controller.report import events as ev
from leakpatrol.controller.report.status import invalid_status, not_ready_status, read_status, status_body
from leakpatrol.controller.report.words import numbers, workload_name
from leakpatrol.controller.verdict.findings import PodResult
from leakpatrol.core import MAX_EVENT_MESSAGE, CheckpointCorrupt, ObjectRef
from leakpatrol.reasons import Reason

log = logging.getLogger(__name__)


class Reporter:
    def __init__(self, cluster: Cluster, policy: ObjectRef) -> None:
        self.cluster, self.policy = cluster, policy
        self.failing: set[str] = set()  # pods whose failure was already announced
        self.reported: tuple[int | None, Reason] | None = None  # (generation, reason) made Ready=False

    async def pass_events(
        self,
        previous: LeakPolicyStatus | None,
        status: LeakPolicyStatus,
        failures: list[Unscannable],
        targets: list[ScanTarget],
        workloads: Iterable[ObjectRef],
        *,
        results: Sequence[PodResult] = (),
    ) -> None:
        """The Events a completed pass warrants; a completed pass also ends a reported failure."""
        pods = {t.name: ObjectRef("v1", "Pod", t.name, t.uid, t.namespace) for t in targets}
        by_name = {(r.kind, r.name): r for r in workloads}
        own = {(r.pod, s.kind.value): s for r in results for s in r.evaluation.signals}
        before = previous.findings if previous else []
        for reason, f in ev.transitions(before, status.findings):
            self._log_transition(reason, f)
        intents = ev.leak_events(self.policy, before, status.findings, by_name, pods, own=own)
        intents += ev.failure_events(self.policy, self.failing, failures, pods)
        for intent in intents:
            await self.cluster.post_event(intent)
        self.failing = {u.pod for u in failures}
        self.reported = None

    async def invalid(
        self, previous: LeakPolicyStatus | None, exc: InvalidSpecError, generation: int | None, now: datetime
    ) -> None:
        await self.cluster.patch_status(
            self.policy, status_body(invalid_status(previous, exc.issues, generation, now))
        )
        message = "; ".join(str(i) for i in exc.issues[:10])
        if self.reported != (generation, exc.reason):
            log.info("policy %s: %s (generation %s): %s", self._name, exc.reason, generation, message)
        await self._warn_once(generation, exc.reason, message)

    @property
    def _name(self) -> str:
        return f"{self.policy.namespace}/{self.policy.name}"

    def _log_transition(self, reason: Reason, f: Finding) -> None:
        """Once per transition, at INFO: the policy, the workload, the signal, the culprit, the rule."""
        state = {Reason.LEAK_DETECTED: "Confirmed", Reason.LEAK_SUSPECTED: "Suspected"}.get(
            reason, "Resolved"
        )
        log.info(
            "policy %s: %s %s leak %s (%s): culprit %s; rule %s",
            self._name,
            workload_name(f),
            f.signal.value,
            state,
            numbers(f),
            f.culprit[0] if f.culprit else "(no frames)",
            f.rule_id or "none",
        )

    async def not_ready(self, body: Mapping[str, Any], reason: Reason, message: str, now: datetime) -> None:
        """Ready=False with `reason` (a permanent failure of the pass, say RBAC), one Warning Event
        per generation and reason."""
        generation = (body.get("metadata") or {}).get("generation")
        status = not_ready_status(read_status(body), reason, message, generation, now)
        await self.cluster.patch_status(self.policy, status_body(status))
        await self._warn_once(generation, reason, message)

    async def checkpoint_dropped(self, message: str) -> None:
        """One Warning per checkpoint refused on restore (the series then start afresh)."""
        await self.cluster.post_event(
            EventIntent.of(self.policy, CheckpointCorrupt.reason, message[:MAX_EVENT_MESSAGE])
        )

    async def _warn_once(self, generation: int | None, reason: Reason, message: str) -> None:
        if self.reported != (generation, reason):
            self.reported = (generation, reason)
            await self.cluster.post_event(EventIntent.of(self.policy, reason, message[:MAX_EVENT_MESSAGE]))
