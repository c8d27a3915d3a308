"""Which replica scans what, and which one speaks for a policy: pure, stable, no coordination.

Every policy's targets fall into a fixed number of *shards* (a hash of the pod uid, so a pod stays
in its shard for life). Each shard — `(policy uid, shard number)` — belongs to the live member with
the highest rendezvous score (highest random weight hashing). Every member computes the same owner
from the same member list without talking to the others, and when a member comes or goes only the
shards it held (or now wins) change hands: about 1/N of the work, never a reshuffle of the rest.

Why shards of a policy rather than single pods: a shard is the unit a checkpoint is written in (one
ConfigMap per shard, one writer at a time), so a take-over reads one object per shard it wins, and a
policy with thousands of targets is still split across every member. Why a fixed shard count: the
checkpoint names must not move when the membership does.

The *coordinator* of a policy (the owner of its key with no shard number) merges every shard's
report into the policy status and posts the Events about workloads: one writer per policy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

DEFAULT_SHARDS = 16


def _score(member: str, key: str) -> int:
    digest = hashlib.blake2b(f"{member}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def rendezvous(key: str, members: Iterable[str]) -> str | None:
    """The member with the highest score for `key`; None when there are none. Ties (a 64-bit
    collision) go to the lowest name, so every member still agrees."""
    best: tuple[int, str] | None = None
    for m in members:
        candidate = (_score(m, key), m)
        if best is None or candidate[0] > best[0] or (candidate[0] == best[0] and m < best[1]):
            best = candidate
    return None if best is None else best[1]


def shard_of(target_uid: str, shards: int) -> int:
    """The shard a pod belongs to, for its whole life (its uid never changes)."""
    digest = hashlib.blake2b(target_uid.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


@dataclass(frozen=True, slots=True)
class Assignment:
    """One member's view: who is live, who I am, how many shards a policy has."""

    me: str
    members: frozenset[str]
    shards: int = DEFAULT_SHARDS

    @property
    def active(self) -> bool:
        """Not a live member (yet, or any more): scan nothing, write nothing."""
        return self.me in self.members

    def owner(self, policy_uid: str, shard: int) -> str | None:
        return rendezvous(f"{policy_uid}/{shard}", self.members)

    def owned(self, policy_uid: str) -> frozenset[int]:
        if not self.active:
            return frozenset()
        return frozenset(s for s in range(self.shards) if self.owner(policy_uid, s) == self.me)

    def coordinator(self, policy_uid: str) -> str | None:
        return rendezvous(policy_uid, self.members)

    def is_coordinator(self, policy_uid: str) -> bool:
        return self.active and self.coordinator(policy_uid) == self.me


class Shards(Protocol):
    """The runtime's membership, as the scan loop sees it: the current view, read once per pass."""

    def assignment(self) -> Assignment: ...
