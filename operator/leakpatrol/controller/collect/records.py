"""What a policy's scanner remembers of each pod between passes: one record per target uid.

A record holds the pod's series (its evaluator), its fetch backoff and its goroutineleak schedule,
so a pod that goes (deleted, or moved to another replica's shard) is forgotten in one step, and a
newcomer reading the scanner finds every piece of per-pod state here.

A pod that goes (deleted, replaced by a rollout, evicted) leaves its container's lives behind
for a while, as a *departed* record keyed by its uid (so it goes in the same checkpoint as before):
the next new pod of the same workload takes them on (`successor_of`), so lives confirm a leak
across pods as they do across restarts. At most `MAX_DEPARTED` per workload, none past the
lives' horizon.

Backoff, by the error's kind (`core`'s tree): a `Temporary` failure (timeout, unreachable, the
API server busy) is retried after 1, 2, 4, ... intervals, never sooner than the `retry_after` the
other side asked for; a `Permanent` one (no pprof endpoint, a profile over the caps) cannot heal by
itself, so it starts one step further out. Either way the wait is capped at 16 intervals: a
rollout that fixes the pod is noticed within that.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from leakpatrol.controller.ports import ScanTarget, Unscannable
from leakpatrol.core import LeakpatrolError, Permanent, Temporary
from leakpatrol.detect.evaluator import TargetEvaluator

MAX_BACKOFF_INTERVALS = 16
MAX_DEPARTED = 4  # departed pods' records kept per workload, for their successors


@dataclass(slots=True)
class Backoff:
    failures: int = 0
    until: float = 0.0  # not fetched again before this (the clock's seconds)
    last: Unscannable | None = None  # what the last failure said, repeated while backed off

    def failed(self, pod: str, error: LeakpatrolError, interval: float, now: float) -> Unscannable:
        self.failures += 1
        steps = self.failures if isinstance(error, Permanent) else self.failures - 1
        wait = interval * min(2**steps, MAX_BACKOFF_INTERVALS)
        if isinstance(error, Temporary) and error.retry_after is not None:
            wait = max(wait, error.retry_after)
        self.until = now + wait
        self.last = Unscannable(pod, error.reason, str(error))
        return self.last


@dataclass(slots=True)
class TargetRecord:
    evaluator: TargetEvaluator | None = None  # None until the first sample (or a checkpoint)
    backoff: Backoff | None = None  # None while the pod answers
    leak_next: float = 0.0  # when its (expensive, Go 1.26+) goroutineleak profile is next due
    leak_absent: bool = False  # its goroutineleak endpoint 404'd under `goroutineleak: Auto`
    goroutines: float | None = None  # totals of its last profiles, for the per-target gauges
    heap: float | None = None
    starved: bool = False  # not fetched before the last pass's deadline: first in line at the next

    def due(self, now: float) -> bool:
        return self.backoff is None or self.backoff.until <= now


@dataclass(slots=True)
class TargetRecords:
    """The records of the targets this scanner holds, by pod uid."""

    by_uid: dict[str, TargetRecord] = field(default_factory=dict)
    departed: set[str] = field(default_factory=set)  # uids of departed pods kept for their lives

    def of(self, uid: str) -> TargetRecord:
        return self.by_uid.setdefault(uid, TargetRecord())

    def keep_only(self, targets: Iterable[ScanTarget], listed: Iterable[str] = (), now: float = 0.0) -> None:
        """Forget every pod not in `targets` (gone, no longer selected, or in another shard), but
        for pods still `listed` (uids: not Ready for now), and departed pods whose lives a
        successor of their workload may take on."""
        present = {t.uid for t in targets} | set(listed)
        kept: dict[str, TargetRecord] = {}
        departed: dict[tuple[str, str], list[tuple[float, str]]] = {}
        for uid, r in self.by_uid.items():
            if uid in present:
                kept[uid] = r
            elif r.evaluator is not None and r.evaluator.depart(now) and r.evaluator.workload is not None:
                kept[uid] = TargetRecord(evaluator=r.evaluator)
                newest = max((life.ended or 0.0 for life in r.evaluator.lives.ended), default=0.0)
                departed.setdefault(r.evaluator.workload, []).append((newest, uid))
        for ghosts in departed.values():
            for _, uid in sorted(ghosts, reverse=True)[MAX_DEPARTED:]:
                del kept[uid]
        self.by_uid = kept
        self.departed = {uid for ghosts in departed.values() for _, uid in ghosts if uid in kept}

    def claim(self, uid: str, workload: tuple[str, str]) -> TargetEvaluator | None:
        """The pod's evaluator, told its workload; a new pod of a workload takes on the lives of
        the one it replaced (departed), so lives span pods as they span restarts."""
        evaluator = self.of(uid).evaluator
        if evaluator is not None and evaluator.workload is None:
            evaluator.workload = workload
            predecessor = self.successor_of(uid, workload)
            if predecessor is not None:
                evaluator.inherit(predecessor)
        return evaluator

    def successor_of(self, uid: str, workload: tuple[str, str]) -> TargetEvaluator | None:
        """The newest departed pod of `workload`, handed over (and forgotten) once, to `uid`."""
        ghosts = [
            (max((life.ended or 0.0 for life in e.lives.ended), default=0.0), g)
            for g in self.departed
            if g != uid and (e := self.by_uid[g].evaluator) is not None and e.workload == workload
        ]
        if not ghosts:
            return None
        _, ghost = max(ghosts)
        self.departed.discard(ghost)
        return self.by_uid.pop(ghost).evaluator

    def resume(self, evaluators: dict[str, TargetEvaluator]) -> None:
        """Series read from a checkpoint replace what is held for those pods."""
        for uid, evaluator in evaluators.items():
            self.of(uid).evaluator = evaluator

    def evaluators(self) -> dict[str, TargetEvaluator]:
        return {uid: r.evaluator for uid, r in self.by_uid.items() if r.evaluator is not None}

    def backed_off(self, now: float) -> Iterator[Unscannable]:
        """The last failure of each target still waiting out its backoff: still failing."""
        for uid, r in self.by_uid.items():
            if uid in self.departed:
                continue
            if r.backoff is not None and r.backoff.last is not None and not r.due(now):
                yield r.backoff.last
