"""`LeaseLoop`: hold a Lease by renewing it every `retry` seconds, and say whether this replica scans.

Leader election (`leakpatrol.runtime.leadership`: one Lease, one holder) and sharding membership
(`leakpatrol.runtime.membership`: a Lease per replica) are the same loop on different Leases, so
it is written once here. Each try reads the Lease, decides with the pure rules of
`leakpatrol.kube.leadership` and writes with a resourceVersion precondition. An API error never ends
the loop and is logged at warning once per run of failures (every retry would flood the log in an
outage). A holder that cannot renew for `renew_deadline` stops scanning by itself, before the others
can consider its Lease expired. A clean shutdown gives the Lease up, so the others act at their next
try instead of waiting out its duration. Every try's answer is what /healthz counts as "heard from
the API server" (`ApiClient.last_answer`, `leakpatrol.runtime.health`): no separate report.

A subclass supplies only what differs: which Lease is ours (`_read`), what a renewal means
(`_renew`, writing through `_hold`), how long to hold it before scanning (`settle`: none for a
leader; two retries for a member, so a shard changing hands is briefly scanned by nobody rather
than by two), and what to say on a gain or a loss (`_changed`).

The scan daemons (`leakpatrol.runtime.handlers`) ask one question, `scans`: may this replica scan?
They wait with `wait_scanning()` and wake on `next_change()`: every gain or loss, and whatever else
the subclass calls `wake()` for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from leakpatrol import metrics
from leakpatrol.core import Obj, Permanent
from leakpatrol.kube import errors
from leakpatrol.kube.client import ApiClient
from leakpatrol.kube.leadership import LeaseMove, LeaseState, Observation, decide, released
from leakpatrol.kube.leases import create_lease, replace_lease

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LeaseConfig:
    namespace: str
    name: str  # the Lease's; with --sharding the group's, which names and labels each member's Lease
    identity: str
    duration: float = 15.0  # seconds the others wait for a silent holder (client-go's default)
    renew_deadline: float = 10.0  # a holder that cannot renew for this long stops scanning
    retry: float = 2.0  # seconds between tries, holding or not

    @classmethod
    def scaled(cls, namespace: str, name: str, identity: str, duration: float) -> LeaseConfig:
        """client-go's proportions: renew deadline 2/3, retry 2/15 of the lease."""
        return cls(namespace, name, identity, duration, duration * 2 / 3, max(0.5, duration * 2 / 15))


class LeaseLoop(ABC):
    kind = "lease"  # what the log lines call the Lease

    def __init__(
        self,
        api: ApiClient | None,
        config: LeaseConfig | None,  # None: no Lease, scanning from the start (leader election off)
        clock: Callable[[], float] = time.monotonic,
        *,
        lease_name: str | None = None,  # default: config.name
        labels: dict[str, str] | None = None,
        settle: float = 0.0,
    ) -> None:
        self.api, self.config, self.clock = api, config, clock
        self.lease_name = lease_name or (config.name if config else "")
        self.labels, self.settle = labels, settle
        self.describe = f"{self.kind} {config.namespace}/{self.lease_name}" if config else "no lease"
        self.scanning = asyncio.Event()
        self.changed = asyncio.Event()  # set on every gain or loss: sleepers wake to re-check
        self.observation: Observation | None = None  # of our Lease, for the next decision
        self.held_since: float | None = None  # clock of the first renewal of this term
        self.renewed_at: float | None = None
        self.resigned = False  # shutting down: never renew again
        self.failing = False  # the last try failed on an API error
        self.blocked: str | None = None  # why the Lease cannot be written at all (fails /readyz)

    @property
    def scans(self) -> bool:
        """May this replica scan now?"""
        return self.scanning.is_set()

    async def run(self, stop: asyncio.Event) -> None:
        """Renew (or try to take) the Lease every retry until `stop`; then give it up if we hold it."""
        metrics.LEADER.set(int(self.scans))
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
        """One try; scan once held for `settle`, stop when lost or not renewed by the deadline."""
        if self.resigned:
            return
        renewed = await self._try()
        if self.resigned:  # resigned while the renewal was on the wire: it must not scan again
            return
        now = self.clock()
        if renewed:
            self.renewed_at = now
            self.held_since = now if self.held_since is None else self.held_since
        elif renewed is False or self._overdue(now):
            self.held_since = None
        self._set(self.held_since is not None and now - self.held_since >= self.settle)

    async def _try(self) -> bool | None:
        """True: renewed; False: not ours; None: unknown (an API error), so we stay what we are
        until the renew deadline says otherwise."""
        try:
            renewed = await self._renew()
        except errors.ApiError as exc:
            (log.debug if self.failing else log.warning)("%s: %s", self.describe, exc)
            self.failing = True
            self.blocked = self._blocked_by(exc)
            return None
        if self.failing:
            log.info("%s: the API server answers again", self.describe)
        self.failing, self.blocked = False, None
        return renewed

    def _blocked_by(self, exc: errors.ApiError) -> str | None:
        """An answer that no retry changes (the namespace is missing, RBAC refuses): this replica
        would stand by forever while looking healthy. Said by /readyz; an outage is not."""
        assert self.config is not None
        if isinstance(exc, errors.NotFound) and "namespaces" in exc.message:
            return (
                f"{self.describe} cannot be written: namespace {self.config.namespace} does not exist;"
                " this replica never scans until it does (create it, or start with --home-namespace"
                " set to the operator's own namespace)"
            )
        if isinstance(exc, Permanent):
            return f"{self.describe} cannot be written ({exc}): this replica never scans until it can"
        return None

    def _overdue(self, now: float) -> bool:
        assert self.config is not None
        return self.renewed_at is not None and now - self.renewed_at > self.config.renew_deadline

    @abstractmethod
    async def _read(self) -> Obj | None:
        """Our Lease as stored, or None when there is none yet."""

    @abstractmethod
    async def _renew(self) -> bool:
        """One try at holding our Lease (`_hold`); True when we hold it now."""

    async def _hold(self, raw: Obj | None) -> LeaseMove | None:
        """Decide on our Lease as read (None: there is none) and write the decision: the move made,
        or None when it is not ours (held alive by another, or another wrote first)."""
        api, c = self._lease()
        lease = None if raw is None else LeaseState.of(raw)
        d = decide(lease, c.identity, datetime.now(UTC), c.duration, self.observation)
        self.observation = d.observation
        if d.spec is None:
            return None
        try:
            if lease is None:
                await create_lease(api, c.namespace, self.lease_name, d.spec, self.labels)
            else:
                version = lease.resource_version
                await replace_lease(api, c.namespace, self.lease_name, d.spec, version, labels=self.labels)
        except errors.Conflict:  # another wrote first: we read again at the next try
            return None
        return d.verdict

    def _lease(self) -> tuple[ApiClient, LeaseConfig]:
        assert self.api is not None and self.config is not None, "no Lease: leader election is off"
        return self.api, self.config

    def _set(self, scans: bool) -> None:
        if scans == self.scans:
            return
        metrics.LEADER.set(int(scans))
        if scans:
            self.scanning.set()
        else:
            self.scanning.clear()
        if scans or not self.resigned:
            self._changed(scans)
        self.wake()

    @abstractmethod
    def _changed(self, scans: bool) -> None:
        """Say what the gain or the loss means (not a loss on resigning: that one is meant)."""

    def wake(self) -> None:
        """Wake every sleeping scan loop (they re-check `scans` and run a pass)."""
        self.changed.set()
        self.changed = asyncio.Event()

    async def resign(self) -> None:
        """The operator is stopping: give the Lease up now and never take it again."""
        self.resigned = True
        await self.release()

    async def release(self) -> None:
        """Stop scanning and, if our Lease still names us, empty its holder. Best effort: shutting
        down must not hang on it, and it expires on its own."""
        if self.config is None:  # no Lease: this replica scans until the process ends
            return
        held, self.renewed_at, self.held_since = self.renewed_at is not None, None, None
        self._set(False)
        if not held:  # never renewed, or released already
            return
        api, c = self._lease()
        try:
            raw = await self._read()
            if raw is None or (lease := LeaseState.of(raw)).holder != c.identity:
                return
            spec, version = released(lease, datetime.now(UTC)), lease.resource_version
            await replace_lease(api, c.namespace, self.lease_name, spec, version, labels=self.labels)
            log.info("%s released", self.describe)
        except errors.ApiError as exc:
            log.info("%s not released: %s", self.describe, exc)

    async def wait_scanning(self) -> None:
        await self.scanning.wait()

    def next_change(self) -> asyncio.Event:
        """The event the next change sets; take it before sleeping, so no change is missed."""
        return self.changed
