"""Which rollout brought a leak in: per workload, what each revision's pods showed. Pure.

During a rollout the old ReplicaSet's pods are still scanned beside the new ones; once they are
gone their series go too. What attribution needs is far smaller and is kept here for RETAIN_SECONDS
after a revision was last seen: per revision its ReplicaSet, images, how many evaluated pod-passes
it had, and which culprit signatures its pods flagged.

A leak is attributed to revision R only when the data can tell:
- every pod that shows the culprit now runs R, and
- the revision before R was watched for at least MIN_CLEAN_PASSES evaluated pod-passes and never
  flagged that culprit.
Otherwise (no older revision seen, too little of it, or it leaked too) nothing is said: a wrong
blame sends the on-call to roll back a release that did not cause it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

RETAIN_SECONDS = 24 * 3600.0
MIN_CLEAN_PASSES = 3
MAX_REVISIONS = 8  # per workload: the newest kept


@dataclass(frozen=True, slots=True)
class Revision:
    number: int  # deployment.kubernetes.io/revision of the pod's ReplicaSet
    replica_set: str
    images: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Introduced:
    revision: Revision
    previous: Revision


@dataclass(slots=True)
class _Seen:
    revision: Revision
    evaluated: int = 0  # evaluated pod-passes
    flagged: set[str] = field(default_factory=set)  # culprit signatures its pods flagged
    last_seen: float = 0.0


@dataclass(frozen=True, slots=True)
class PodRevision:
    revision: Revision
    evaluated: bool
    flagged: frozenset[str]  # culprit signatures (and lockstep partners) this pod flags now


class RolloutMemory:
    """Per workload (kind, name): its revisions as seen by the scans."""

    def __init__(self) -> None:
        self.workloads: dict[tuple[str, str], dict[int, _Seen]] = {}

    def observe(self, workload: tuple[str, str], pods: Iterable[PodRevision], now: float) -> None:
        seen = self.workloads.setdefault(workload, {})
        for p in pods:
            entry = seen.setdefault(p.revision.number, _Seen(p.revision))
            entry.revision = p.revision  # the images of the newest pod seen
            entry.evaluated += 1 if p.evaluated else 0
            entry.flagged |= p.flagged
            entry.last_seen = now

    def forget(self, now: float) -> None:
        for key in list(self.workloads):
            kept = {n: s for n, s in self.workloads[key].items() if now - s.last_seen <= RETAIN_SECONDS}
            newest = sorted(kept, reverse=True)[:MAX_REVISIONS]
            self.workloads[key] = {n: kept[n] for n in newest}
            if not self.workloads[key]:
                del self.workloads[key]

    def introduced_by(
        self, workload: tuple[str, str], culprit: Iterable[str], leaking_revisions: Iterable[int]
    ) -> Introduced | None:
        names = set(culprit)
        revisions = set(leaking_revisions)
        seen = self.workloads.get(workload, {})
        if len(revisions) != 1:
            return None  # leaking pods on several revisions: older than the newest rollout
        (number,) = revisions
        older = [n for n in seen if n < number]
        if number not in seen or not older:
            return None
        previous = seen[max(older)]
        if previous.evaluated < MIN_CLEAN_PASSES or previous.flagged & names:
            return None
        return Introduced(seen[number].revision, previous.revision)
