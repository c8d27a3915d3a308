"""The on-call's questions, answered on each finding: since which rollout, how long until OOM.

(How widespread is answered where findings are folded, controller.findings with controller.fleet.)
Pure, except `RevisionCache`, which reads a ReplicaSet's revision through the `Cluster` port once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from leakpatrol.api import Finding, IntroducedBy, MemoryForecast
from leakpatrol.api.units import parse_quantity
from leakpatrol.controller.ports import Cluster, ScanTarget
from leakpatrol.controller.verdict.findings import PodResult
from leakpatrol.controller.verdict.fleet import signatures
from leakpatrol.controller.verdict.rollout import PodRevision, Revision, RolloutMemory
from leakpatrol.core import LeakpatrolError, SignalKind
from leakpatrol.detect.evaluator import TargetEvaluator
from leakpatrol.detect.forecast import Forecast, forecast, forecast_words, human, memory_series


def memory_points(evaluator: TargetEvaluator) -> tuple[tuple[float, float], ...]:
    """The pod's (time, heap inuse) and (time, goroutines) series as kept for detection."""
    heap = list(zip(evaluator.heap.tracker.times, evaluator.heap.tracker.total, strict=True))
    goroutines = list(
        zip(evaluator.goroutines.tracker.times, evaluator.goroutines.tracker.total, strict=True)
    )
    return tuple(memory_series(heap, goroutines))


class RevisionCache:
    """A pod's Deployment revision: its ReplicaSet's `deployment.kubernetes.io/revision`, read once
    per ReplicaSet (by uid) through the port; images from the pod itself."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.numbers: dict[str, int | None] = {}

    async def of(self, t: ScanTarget) -> Revision | None:
        if t.owner is None or t.owner[0] != "ReplicaSet":
            return None
        if t.owner_uid not in self.numbers:
            try:
                number = await self.cluster.replica_set_revision(t.namespace, t.owner[1])
            except LeakpatrolError:  # attribution is an extra: no pass fails for it; ask next pass
                return None
            self.numbers[t.owner_uid] = number
        number = self.numbers[t.owner_uid]
        return None if number is None else Revision(number, t.owner[1], t.images)

    def forget(self, present: Iterable[str]) -> None:
        keep = set(present)
        self.numbers = {uid: n for uid, n in self.numbers.items() if uid in keep}


def _pods_of(f: Finding, results: Sequence[PodResult]) -> list[PodResult]:
    names = set(f.pods)
    return [r for r in results if r.workload == (f.workload.kind, f.workload.name) and r.pod in names]


def observe_revisions(memory: RolloutMemory, results: Sequence[PodResult], now: float) -> None:
    by_workload: dict[tuple[str, str], list[PodRevision]] = {}
    for r in results:
        if r.revision is None:
            continue
        flagged = frozenset(sig for s in r.evaluation.signals for sig in signatures(s))
        by_workload.setdefault(r.workload, []).append(
            PodRevision(r.revision, r.evaluation.evaluated, flagged)
        )
    for workload, pods in by_workload.items():
        memory.observe(workload, pods, now)
    memory.forget(now)


def _introduced(f: Finding, pods: Sequence[PodResult], memory: RolloutMemory) -> IntroducedBy | None:
    culprit: set[str] = set()
    for r in pods:
        for s in r.evaluation.signals:
            if s.kind.value == f.signal.value:
                culprit |= signatures(s)
    revisions = [r.revision.number for r in pods if r.revision is not None]
    if len(revisions) != len(pods) or not culprit:
        return None  # a leaking pod of unknown revision: the data cannot tell
    found = memory.introduced_by((f.workload.kind, f.workload.name), culprit, revisions)
    if found is None:
        return None
    return IntroducedBy(
        revision=found.revision.number,
        replica_set=found.revision.replica_set,
        images=list(found.revision.images[:8]),
        previous_revision=found.previous.number,
    )


def _limit_bytes(text: str | None) -> int | None:
    try:
        return None if text is None else parse_quantity(text)
    except ValueError:
        return None


def _forecast(f: Finding, pods: Sequence[PodResult], now: float) -> MemoryForecast | None:
    if f.signal is SignalKind.GOROUTINELEAK:
        return None  # a count of blocked goroutines, no rate
    candidates: list[tuple[float, PodResult, Forecast]] = []
    for r in pods:
        fc = forecast(r.memory, _limit_bytes(r.memory_limit), now)
        if fc is not None:
            candidates.append((fc.eta_seconds if fc.eta_seconds is not None else float("inf"), r, fc))
    if not candidates:
        return None
    _, r, fc = min(candidates, key=lambda c: c[0])
    return MemoryForecast(
        pod=r.pod,
        limit=r.memory_limit if fc.limit is not None else None,
        eta=None if fc.eta_seconds is None else human(fc.eta_seconds),
        eta_min=None if fc.eta_min_seconds is None else human(fc.eta_min_seconds),
        eta_max=None if fc.eta_max_seconds is None else human(fc.eta_max_seconds),
        reach_time=None
        if fc.eta_seconds is None
        else datetime.fromtimestamp(now, UTC) + timedelta(seconds=fc.eta_seconds),
        message=(forecast_words(fc, r.memory_limit) + _rough(fc, r.memory))[:256],
    )


ROUGH_RANGE = 3.0  # an ETA range wider than this factor is said to be rough


def _rough(fc: Forecast, points: Sequence[tuple[float, float]]) -> str:
    """Why the same leak can read `~2h` in one run and `~38m` in the next: the heap profile is a
    sample (one record per ~512 KiB allocated, runtime.MemProfileRate), so a small heap moves in
    ~0.5 MiB steps, and over the few samples a finding has at confirmation one step more or less
    changes the fitted rate severalfold (tests/corpus/transport-per-request: the rate of 8-sample
    windows of one process spans 3.7-17 MiB/h, p10-p90; it settles to ~2x over 40 samples). The
    forecast is deterministic for a given series; a wide range says the series is too short yet,
    and the message says so rather than passing a point estimate off as stable."""
    if fc.eta_seconds is None or fc.eta_min_seconds is None:
        return ""
    wide = fc.eta_max_seconds is None or fc.eta_max_seconds > ROUGH_RANGE * max(fc.eta_min_seconds, 1.0)
    if not wide:
        return ""
    span = points[-1][0] - points[0][0] if points else 0.0
    return f", a rough estimate from {len(points)} samples over {human(span)}"


def annotate(
    findings: Sequence[Finding], results: Sequence[PodResult], memory: RolloutMemory, now: float
) -> list[Finding]:
    """The findings with `introducedBy` and `forecast` where the data can tell."""
    out = []
    for f in findings:
        pods = _pods_of(f, results)
        update: Mapping[str, Any] = {
            "introduced_by": _introduced(f, pods, memory),
            "forecast": _forecast(f, pods, now),
        }
        out.append(f.model_copy(update=update))
    return out
