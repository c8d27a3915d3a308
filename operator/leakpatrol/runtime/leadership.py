"""Who scans: every replica runs kopf (so each watches and is ready), only the Lease holder scans.

Why the scan daemons wait for leadership instead of kopf's own peering: kopf's peering pauses a
whole operator when a peer of higher priority appears and needs a cluster-wide KopfPeering CRD; a
Lease is the built-in, namespaced mechanism every controller uses, needs only get/create/update on
one object in our own namespace, and the standby keeps its watches warm, so a take-over is one pass.

`Leadership.run()` decides with the pure rules of `leakpatrol.kube.leadership` every `retry`
seconds. A leader that has not renewed for `renew_deadline` steps down by itself (before the Lease
can expire for the others), so two replicas never both believe they lead for longer than a retry.
With leader election off (`Leadership.always()`) this process leads from the start.

A pass already running when the Lease is lost finishes; the daemons check leadership before each
pass and wake on its loss. What such a late pass writes is safe: Events are computed against the
policy's status (a transition the new leader also sees is not posted twice) and checkpoint writes
carry a resourceVersion precondition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from leakpatrol import metrics
from leakpatrol.kube import errors
from leakpatrol.kube.client import ApiClient
from leakpatrol.kube.leadership import LeaseMove, LeaseState, Observation, decide, released
from leakpatrol.kube.leases import create_lease, get_lease, replace_lease

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LeaseConfig:
    namespace: str
    name: str
    identity: str
    duration: float = 15.0  # seconds a standby waits for a silent leader (client-go's default)
    renew_deadline: float = 10.0  # a leader that cannot renew for this long steps down
    retry: float = 2.0  # seconds between tries, leading or not


class Leadership:
    def __init__(
        self, api: ApiClient | None, config: LeaseConfig | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.api, self.config, self.clock = api, config, clock
        self.leading = asyncio.Event()
        self.changed = asyncio.Event()  # set on every gain or loss: sleepers wake to re-check
        self.observation: Observation | None = None
        self.renewed_at: float | None = None
        self.resigned = False  # shutting down: never acquire again
        self.failing = False  # the last try failed on an API error

    @classmethod
    def always(cls) -> Leadership:
        """Leader election off: one replica by contract, leading from the start."""
        leadership = cls(None, None)
        leadership.leading.set()
        return leadership

    @property
    def is_leader(self) -> bool:
        return self.leading.is_set()

    async def run(self, stop: asyncio.Event) -> None:
        """Try, renew or stand by until `stop`; then give the Lease up if we hold it."""
        metrics.LEADER.set(int(self.is_leader))
        if self.config is None:
            await stop.wait()
            return
        try:
            while not stop.is_set():
                await self.step()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.config.retry)
        finally:
            await self.release()

    async def step(self) -> None:
        """One try; API errors never end the loop, but a leader that keeps failing steps down."""
        assert self.api is not None and self.config is not None
        if self.resigned:
            return
        try:
            won = await self._try()
            if self.failing:
                log.info("lease %s: the API server answers again", self.config.name)
            self.failing = False
        except errors.ApiError as exc:
            # Once per run of failures at warning (every retry would flood the log in an outage).
            (log.debug if self.failing else log.warning)("lease %s: %s", self.config.name, exc)
            self.failing = True
            won = None  # unknown: keep what we are until the renew deadline says otherwise
        if won:
            self.renewed_at = self.clock()
            self._set(True)
        elif won is False or self._renew_overdue():
            self._set(False)

    async def _try(self) -> bool:
        assert self.api is not None and self.config is not None
        c = self.config
        raw = await get_lease(self.api, c.namespace, c.name)
        lease = None if raw is None else LeaseState.of(raw)
        d = decide(lease, c.identity, datetime.now(UTC), c.duration, self.observation)
        self.observation = d.observation
        if d.spec is None:
            return False
        try:
            if lease is None:
                await create_lease(self.api, c.namespace, c.name, d.spec)
            else:
                await replace_lease(self.api, c.namespace, c.name, d.spec, lease.resource_version)
        except errors.Conflict:  # another replica wrote first: it leads, we read again next try
            return False
        if d.verdict is not LeaseMove.RENEW:
            log.info("lease %s/%s: %s as %s", c.namespace, c.name, d.verdict, c.identity)
        return True

    def _renew_overdue(self) -> bool:
        assert self.config is not None
        last = self.renewed_at
        return last is not None and self.clock() - last > self.config.renew_deadline

    def _set(self, leading: bool) -> None:
        if leading == self.is_leader:
            return
        metrics.LEADER.set(int(leading))
        if leading:
            self.leading.set()
        else:
            self.leading.clear()
            if not self.resigned:
                log.warning("lost the lease: scanning stops until it is won again")
        self.changed.set()
        self.changed = asyncio.Event()

    async def resign(self) -> None:
        """The operator is stopping: give the Lease up now and never take it again."""
        self.resigned = True
        await self.release()

    async def release(self) -> None:
        """On a clean shutdown: empty the holder so a standby takes over at its next try."""
        if self.api is None or self.config is None or not self.is_leader:
            return
        c = self.config
        self._set(False)
        try:
            raw = await get_lease(self.api, c.namespace, c.name)
            if raw is not None and LeaseState.of(raw).holder == c.identity:
                lease = LeaseState.of(raw)
                await replace_lease(
                    self.api, c.namespace, c.name, released(lease, datetime.now(UTC)), lease.resource_version
                )
                log.info("lease %s/%s released", c.namespace, c.name)
        except errors.ApiError as exc:  # it expires on its own; shutting down must not hang on it
            log.info("lease %s/%s not released: %s", c.namespace, c.name, exc)

    async def wait_leading(self) -> None:
        await self.leading.wait()

    def next_change(self) -> asyncio.Event:
        """The event the next gain or loss sets; take it before sleeping, so no change is missed."""
        return self.changed
