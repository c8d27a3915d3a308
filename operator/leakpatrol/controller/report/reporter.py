"""`Reporter`: what one policy tells people — Events on transitions, `Ready=False` with a reason —
remembering just enough to say each thing once (a failure that lasts is not news every pass)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from leakpatrol.api import InvalidSpecError, LeakPolicyStatus
from leakpatrol.controller.ports import Cluster, EventIntent, ScanTarget, Unscannable
from leakpatrol.controller.report import events as ev
from leakpatrol.controller.report.status import invalid_status, not_ready_status, read_status, status_body
from leakpatrol.core import MAX_EVENT_MESSAGE, CheckpointCorrupt, ObjectRef
from leakpatrol.reasons import Reason


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
    ) -> None:
        """The Events a completed pass warrants; a completed pass also ends a reported failure."""
        pods = {t.name: ObjectRef("v1", "Pod", t.name, t.uid, t.namespace) for t in targets}
        by_name = {(r.kind, r.name): r for r in workloads}
        intents = ev.leak_events(
            self.policy, previous.findings if previous else [], status.findings, by_name, pods
        )
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
        await self._warn_once(generation, exc.reason, "; ".join(str(i) for i in exc.issues[:10]))

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
