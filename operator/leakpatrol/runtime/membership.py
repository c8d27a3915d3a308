"""`Membership` (`--sharding`): this replica's own Lease, renewed, and the live members it sees.

It is the shared `LeaseLoop` (`leakpatrol.runtime.lease_loop`: renewing, the renew deadline,
backing off, giving up on shutdown) on this replica's member Lease, named after the group and our
identity and labelled with the group (`leakpatrol.kube.membership`). Every `retry` seconds: one LIST
of the group's member Leases (by label), then the renewal of our own, then the live members
(`leakpatrol.kube.membership.live_members`). Here `scans` means "a member that scans its shards":
the scan daemons read `assignment()` once per pass and scan the shards it gives them
(`leakpatrol.controller.shards.assignment`). A change of the members wakes the daemons too, so
shards taken over are scanned at once, not an interval later.

Joining: a new replica scans only after it has renewed for `settle` seconds (two retries). The
others see it within one retry and hand over its shards at their next pass; waiting means a shard
changing hands is briefly scanned by nobody rather than by two replicas at once. Leaving: a clean
shutdown releases the Lease (the others drop the member at their next LIST); a crash is noticed
when the Lease has not changed for its duration. A member that cannot renew for `renew_deadline`
stops scanning, before the others can consider its Lease expired and take its shards.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from leakpatrol import metrics
from leakpatrol.controller.shards.assignment import DEFAULT_SHARDS, Assignment
from leakpatrol.core import Obj
from leakpatrol.kube import errors
from leakpatrol.kube.client import ApiClient
from leakpatrol.kube.leadership import Observation
from leakpatrol.kube.leases import delete_lease, list_leases
from leakpatrol.kube.membership import GROUP_LABEL, live_members, long_gone, member_lease_name
from leakpatrol.runtime.lease_loop import LeaseConfig, LeaseLoop

log = logging.getLogger(__name__)


class Membership(LeaseLoop):
    kind = "member lease"

    def __init__(
        self,
        api: ApiClient,
        config: LeaseConfig,  # config.name: the group (the chart's fullname)
        shards: int = DEFAULT_SHARDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.group, self.identity, self.shards = config.name, config.identity, shards
        self.group_labels = {GROUP_LABEL: config.name}
        name, settle = member_lease_name(config.name, config.identity), 2 * config.retry
        super().__init__(api, config, clock, lease_name=name, labels=self.group_labels, settle=settle)
        self.members: frozenset[str] = frozenset()
        self.seen: dict[str, Observation] = {}  # lease name -> when first seen at its version

    def assignment(self) -> Assignment:
        others = self.members - {self.identity}
        me = {self.identity} if self.scans else set()
        return Assignment(self.identity, frozenset(others | me), self.shards)

    async def step(self) -> None:
        await super().step()
        metrics.MEMBERS.set(len(self.assignment().members) if self.scans else 0)

    async def _list(self) -> list[Obj]:
        api, c = self._lease()
        return await list_leases(api, c.namespace, self.group_labels)

    async def _read(self) -> Obj | None:
        return self._mine(await self._list())

    def _mine(self, leases: list[Obj]) -> Obj | None:
        return next((raw for raw in leases if raw["metadata"]["name"] == self.lease_name), None)

    async def _renew(self) -> bool:
        """Renewed: we are a member, among those whose Leases are alive. Not renewed (another holds
        our Lease alive, or wrote it first): the others, without us, until we renew again."""
        now, leases = datetime.now(UTC), await self._list()
        members, self.seen = live_members(leases, self.seen, now)
        if await self._hold(self._mine(leases)) is None:
            self.members = members - {self.identity}
            return False
        if self.members != members | {self.identity}:
            self.members = members | {self.identity}
            log.info("members of %s: %s", self.group, ", ".join(sorted(self.members)))
            self.wake()  # scan the shards just taken now, not at each policy's next pass
        await self._collect(leases, now)
        return True

    async def _collect(self, leases: list[Obj], now: datetime) -> None:
        """Delete the Leases of members gone for an hour (pods of past rollouts), so the LIST stays
        short. Any member may: a delete of one already deleted is fine."""
        api, c = self._lease()
        for name in long_gone(leases, self.seen, now):
            if name != self.lease_name:
                with contextlib.suppress(errors.ApiError):
                    await delete_lease(api, c.namespace, name)
                    log.info("deleted member lease %s: unchanged for an hour", name)

    def _changed(self, scans: bool) -> None:
        if scans:
            log.info("member %s of %s: scanning my shards", self.identity, self.group)
        else:
            log.warning("member lease not renewed: scanning stops until it is again")
