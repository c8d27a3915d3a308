"""Who is a live member, decided from the member Leases as listed and `now`: pure.

With `--sharding` each replica renews a Lease of its own (the same rules as the leader Lease, see
`leakpatrol.kube.leadership`), named after the group and its identity and labelled with the group,
so one LIST by label finds every member. A member is live while its Lease is held and has changed
within its duration, measured on this replica's clock from when it first saw each resourceVersion
(`is_live`): never by comparing another node's `renewTime` with our clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from leakpatrol.core import Obj
from leakpatrol.kube.leadership import LeaseState, Observation, is_live, observe

GROUP_LABEL = "leakpatrol.dev/member-of"
GONE_AFTER = timedelta(hours=1)  # a member Lease unchanged this long is a pod long gone: delete it


def member_lease_name(group: str, identity: str) -> str:
    """`<group>-member-<identity>`, or a digest of the identity when that is too long or not a
    valid name (host-pid identities are; pod names are)."""
    name = f"{group}-member-{identity}".lower()
    ok = len(name) <= 253 and all(c.isalnum() or c in "-." for c in name) and name[-1].isalnum()
    if ok:
        return name
    return f"{group}-member-{hashlib.sha256(identity.encode()).hexdigest()[:16]}"


def live_members(
    leases: Iterable[Obj], seen: Mapping[str, Observation], now: datetime
) -> tuple[frozenset[str], dict[str, Observation]]:
    """(the holders of the live member Leases, the observations to pass back next time), from
    the Leases as listed (a Lease not listed any more is forgotten)."""
    members: set[str] = set()
    observations: dict[str, Observation] = {}
    for raw in leases:
        name, lease = raw["metadata"]["name"], LeaseState.of(raw)
        observation = observe(lease, seen.get(name), now)
        assert observation is not None  # observe() returns one for every Lease
        observations[name] = observation
        if is_live(lease, observation, now):
            members.add(lease.holder)
    return frozenset(members), observations


def long_gone(leases: Iterable[Obj], seen: Mapping[str, Observation], now: datetime) -> list[str]:
    """Member Leases nobody renewed for GONE_AFTER (as seen here): replicas of past rollouts."""
    return sorted(
        raw["metadata"]["name"]
        for raw in leases
        if (o := seen.get(raw["metadata"]["name"])) is not None
        and o.resource_version == str(raw["metadata"]["resourceVersion"])
        and now - o.seen_at > GONE_AFTER
    )
