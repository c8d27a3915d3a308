"""Leader election on a Lease, as pure decisions: given the Lease as read, who I am and `now`, what to do.

The rules are client-go's `leaderelection`:

- no Lease yet: create it holding it (ACQUIRE);
- mine: renew it (RENEW);
- another's, released (empty holder) or not renewed for its `leaseDurationSeconds`: write myself
  in and count a transition (TAKE_OVER);
- another's and alive: wait (STAND_BY).

"Not renewed" is measured on this replica's own clock, from when it first saw the Lease at its
current resourceVersion (an `Observation`), never by comparing the holder's `renewTime` with our
clock: two nodes' clocks may disagree by more than a lease. The price is that a replica that starts
next to an abandoned Lease waits one full duration before taking it over.

The writes that carry out a decision (`leakpatrol.kube.leases`) are conditional, so two replicas that
decide TAKE_OVER at once cannot both win. Nothing here is specific to "the one leader": with
`--sharding` each member holds a Lease of its own, renewed with the same decisions by the same loop
(`leakpatrol.runtime.lease_loop`), and the live ones are read with `is_live()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from leakpatrol.core import Obj

MICROTIME = "%Y-%m-%dT%H:%M:%S.%fZ"  # the Lease's MicroTime fields, always UTC


class LeaseMove(StrEnum):
    ACQUIRE = "Acquire"
    RENEW = "Renew"
    TAKE_OVER = "TakeOver"
    STAND_BY = "StandBy"


@dataclass(frozen=True, slots=True)
class LeaseState:
    """The fields of a stored Lease that the decisions read."""

    holder: str  # "" when released
    duration: float  # seconds
    transitions: int
    resource_version: str
    acquired: str | None = None  # MicroTime text, kept as written

    @classmethod
    def of(cls, lease: Obj) -> LeaseState:
        spec = lease.get("spec") or {}
        return cls(
            holder=spec.get("holderIdentity") or "",
            duration=float(spec.get("leaseDurationSeconds") or 0),
            transitions=int(spec.get("leaseTransitions") or 0),
            resource_version=str(lease["metadata"]["resourceVersion"]),
            acquired=spec.get("acquireTime"),
        )


@dataclass(frozen=True, slots=True)
class Observation:
    """When this replica first saw the Lease at `resource_version`, on its own clock."""

    resource_version: str
    seen_at: datetime


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: LeaseMove
    spec: Obj | None  # the Lease spec to write; None when standing by
    observation: Observation | None  # to pass back into the next decision


def observe(lease: LeaseState | None, previous: Observation | None, now: datetime) -> Observation | None:
    """Keep the old observation while the Lease has not changed; a changed Lease is seen `now`."""
    if lease is None:
        return None
    if previous is not None and previous.resource_version == lease.resource_version:
        return previous
    return Observation(lease.resource_version, now)


def is_live(lease: LeaseState, observation: Observation, now: datetime) -> bool:
    """Held, and changed (renewed) within its duration, as this replica has seen it."""
    return bool(lease.holder) and now < observation.seen_at + timedelta(seconds=lease.duration)


def decide(
    lease: LeaseState | None, me: str, now: datetime, duration: float, previous: Observation | None
) -> Decision:
    """What `me` does with `lease` (None: there is none) at `now`, holding it for `duration` seconds."""
    seen = observe(lease, previous, now)
    if lease is None:
        return Decision(LeaseMove.ACQUIRE, holding(me, now, duration, transitions=0), seen)
    assert seen is not None  # observe() returns one for every Lease
    if lease.holder == me:
        spec = holding(me, now, duration, lease.transitions, acquired=lease.acquired)
        return Decision(LeaseMove.RENEW, spec, seen)
    if is_live(lease, seen, now):
        return Decision(LeaseMove.STAND_BY, None, seen)
    return Decision(LeaseMove.TAKE_OVER, holding(me, now, duration, lease.transitions + 1), seen)


def holding(me: str, now: datetime, duration: float, transitions: int, *, acquired: str | None = None) -> Obj:
    """The spec of a Lease that `me` holds from `now` (or since `acquired`, when renewing)."""
    stamp = now.strftime(MICROTIME)
    return {
        "holderIdentity": me,
        "leaseDurationSeconds": max(1, round(duration)),
        "acquireTime": acquired or stamp,
        "renewTime": stamp,
        "leaseTransitions": transitions,
    }


def released(lease: LeaseState, now: datetime) -> Obj:
    """The spec that gives the Lease up on a clean shutdown: a standby takes over at its next try,
    instead of waiting out the whole duration."""
    stamp = now.strftime(MICROTIME)
    return {
        "holderIdentity": "",
        "leaseDurationSeconds": 1,
        "acquireTime": lease.acquired or stamp,
        "renewTime": stamp,
        "leaseTransitions": lease.transitions,
    }
