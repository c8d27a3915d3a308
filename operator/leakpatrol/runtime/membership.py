"""`Membership` (`--sharding`): this replica's own Lease, renewed, and the live members it sees.

Every `retry` seconds: one LIST of the group's member Leases (by label), then a renew of our own
(the same pure decisions as the leader Lease: `leakpatrol.kube.leadership.decide`), then the live
members (`leakpatrol.kube.membership.live_members`). The scan daemons read `assignment()` once per
pass and scan the shards it gives them (`leakpatrol.controller.shards.assignment`).

It offers the daemons the same face as `Leadership` (`is_leader`, `wait_leading`, `next_change`,
`resign`), meaning "a member that scans": so `runtime.handlers` runs one loop either way. A change
of the members wakes the loops too, so shards taken over are scanned at once, not an interval later.

Joining: a new replica scans only after it has renewed for `settle` seconds (two retries). The
others see it within one retry and hand over its shards at their next pass; waiting means a shard
changing hands is briefly scanned by nobody rather than by two replicas at once. Leaving: a clean
shutdown releases the Lease (the others drop the member at their next LIST); a crash is noticed
when the Lease has not changed for its duration. A member that cannot renew for `renew_deadline`
stops scanning, before the others can consider its Lease expired and take its shards.
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
from leakpatrol.controller.shards.assignment import DEFAULT_SHARDS, Assignment
from leakpatrol.core import Obj
from leakpatrol.kube import errors
from leakpatrol.kube.client import ApiClient
from leakpatrol.kube.leadership import LeaseState, Observation, decide, released
from leakpatrol.kube.leases import create_lease, delete_lease, list_leases, replace_lease
from leakpatrol.kube.membership import GROUP_LABEL, live_members, long_gone, member_lease_name

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MemberConfig:
    namespace: str
    group: str  # the members' common name (the chart's fullname), also their label
    identity: str
    duration: float = 15.0  # the others drop a member whose Lease is unchanged this long
    renew_deadline: float = 10.0  # stop scanning when our own renewals fail this long
    retry: float = 2.0
    shards: int = DEFAULT_SHARDS

    @property
    def settle(self) -> float:
        return 2 * self.retry


class Membership:
    def __init__(self, api: ApiClient, config: MemberConfig, clock: Callable[[], float] = time.monotonic):
        self.api, self.config, self.clock = api, config, clock
        self.lease_name = member_lease_name(config.group, config.identity)
        self.labels = {GROUP_LABEL: config.group}
        self.leading = asyncio.Event()  # set while a member that scans (the name Leadership uses)
        self.changed = asyncio.Event()
        self.members: frozenset[str] = frozenset()
        self.seen: dict[str, Observation] = {}  # lease name -> when first seen at its version
        self.own: Observation | None = None
        self.joined_at: float | None = None  # clock of the first renewal of this membership
        self.renewed_at: float | None = None
        self.resigned = False
        self.failing = False

    @property
    def is_leader(self) -> bool:
        return self.leading.is_set()

    def assignment(self) -> Assignment:
        others = self.members - {self.config.identity}
        me = {self.config.identity} if self.is_leader else set()
        return Assignment(self.config.identity, frozenset(others | me), self.config.shards)

    async def run(self, stop: asyncio.Event) -> None:
        metrics.LEADER.set(0)
        try:
            while not stop.is_set():
                await self.step()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.config.retry)
        finally:
            await self.release()

    async def step(self) -> None:
        if self.resigned:
            return
        try:
            renewed = await self._try()
            if self.failing:
                log.info("member lease %s: the API server answers again", self.lease_name)
            self.failing = False
        except errors.ApiError as exc:
            (log.debug if self.failing else log.warning)("member lease %s: %s", self.lease_name, exc)
            self.failing = True
            renewed = None
        now = self.clock()
        if renewed:
            self.renewed_at = now
            self.joined_at = now if self.joined_at is None else self.joined_at
        elif renewed is False or (
            self.renewed_at is not None and now - self.renewed_at > self.config.renew_deadline
        ):
            self.joined_at = None
        settled = self.joined_at is not None and now - self.joined_at >= self.config.settle
        self._set(settled)
        metrics.MEMBERS.set(len(self.assignment().members) if self.is_leader else 0)

    async def _try(self) -> bool:
        c, now = self.config, datetime.now(UTC)
        leases = await list_leases(self.api, c.namespace, self.labels)
        members, self.seen = live_members(leases, self.seen, now)
        mine = next((raw for raw in leases if raw["metadata"]["name"] == self.lease_name), None)
        lease = None if mine is None else LeaseState.of(mine)
        d = decide(lease, c.identity, now, c.duration, self.own)
        self.own = d.observation
        if d.spec is None:  # another process holds a Lease under our identity: not us
            self.members = members - {c.identity}
            return False
        try:
            if lease is None:
                await create_lease(self.api, c.namespace, self.lease_name, d.spec, self.labels)
            else:
                await replace_lease(
                    self.api, c.namespace, self.lease_name, d.spec, lease.resource_version, labels=self.labels
                )
        except errors.Conflict:  # someone wrote it meanwhile: read again at the next try
            return False
        if self.members != members | {c.identity}:
            log.info("members of %s: %s", c.group, ", ".join(sorted(members | {c.identity})))
            self.members = members | {c.identity}
            self._wake()  # scan the shards just taken now, not at each policy's next pass
        await self._collect(leases, now)
        return True

    async def _collect(self, leases: list[Obj], now: datetime) -> None:
        """Delete the Leases of members gone for an hour (pods of past rollouts), so the LIST stays
        short. Any member may: a delete of one already deleted is fine."""
        for name in long_gone(leases, self.seen, now):
            if name != self.lease_name:
                with contextlib.suppress(errors.ApiError):
                    await delete_lease(self.api, self.config.namespace, name)
                    log.info("deleted member lease %s: unchanged for an hour", name)

    def _set(self, active: bool) -> None:
        if active == self.is_leader:
            return
        metrics.LEADER.set(int(active))
        if active:
            self.leading.set()
            log.info("member %s of %s: scanning my shards", self.config.identity, self.config.group)
        else:
            self.leading.clear()
            if not self.resigned:
                log.warning("member lease not renewed: scanning stops until it is again")
        self._wake()

    def _wake(self) -> None:
        """Wake every sleeping scan loop (they re-check membership and run a pass)."""
        self.changed.set()
        self.changed = asyncio.Event()

    async def resign(self) -> None:
        self.resigned = True
        await self.release()

    async def release(self) -> None:
        """On a clean shutdown: empty the holder, so the others take our shards at their next try."""
        self._set(False)
        c = self.config
        with contextlib.suppress(errors.ApiError):
            leases = await list_leases(self.api, c.namespace, self.labels)
            mine = next((raw for raw in leases if raw["metadata"]["name"] == self.lease_name), None)
            if mine is not None and LeaseState.of(mine).holder == c.identity:
                lease = LeaseState.of(mine)
                spec = released(lease, datetime.now(UTC))
                await replace_lease(
                    self.api, c.namespace, self.lease_name, spec, lease.resource_version, labels=self.labels
                )
                log.info("member lease %s/%s released", c.namespace, self.lease_name)

    async def wait_leading(self) -> None:
        await self.leading.wait()

    def next_change(self) -> asyncio.Event:
        return self.changed
