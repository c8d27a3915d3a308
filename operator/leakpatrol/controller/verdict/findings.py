"""Per-pod evaluations -> per-workload findings for the status (bounded, worst first)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from leakpatrol.api import Finding, GrowthOf, Spread, Workload, worst_first
from leakpatrol.controller.verdict.fleet import PodSignal, fleet_confirms, spread
from leakpatrol.controller.verdict.rollout import Revision
from leakpatrol.core import LeakState, SignalKind
from leakpatrol.detect.lives import Life
from leakpatrol.detect.signals import GROWTH_OF_TOTAL, Evaluation, Signal


@dataclass(frozen=True, slots=True)
class PodResult:
    pod: str
    workload: tuple[str, str]  # (kind, name)
    evaluation: Evaluation
    revision: Revision | None = None  # its Deployment revision, when a ReplicaSet owns it
    memory: tuple[tuple[float, float], ...] = ()  # (time, live bytes): see controller.forecast
    memory_limit: str | None = None  # of the profiled container, as in the pod spec
    goroutines: int | None = None  # the pod's goroutine total at this pass, if its profile was read
    lives: tuple[Life, ...] = ()  # its container's ended lives (detect.lives), oldest first
    life_started: float | None = None  # when its container's current life began


def _severity(s: Signal) -> tuple[bool, float]:
    return (s.state is LeakState.CONFIRMED, s.growth_per_hour)


def _finding(workload: tuple[str, str], pods: list[str], s: Signal, fleet: list[PodSignal]) -> Finding:
    # A pod-local leak is confirmed by its own pod's flags; one flagged in several replicas at
    # once is confirmed by them together (controller.fleet), without waiting for a second pass.
    confirmed = s.state is LeakState.CONFIRMED or fleet_confirms(s.culprit.signature, fleet)
    reach = spread(s.culprit.signature, fleet)
    return Finding(
        workload=Workload(kind=workload[0], name=workload[1]),
        pods=[*reach.leaking, *sorted(set(pods) - set(reach.leaking))][:20],  # the culprit's first
        signal=SignalKind(s.kind.value),
        state=LeakState.CONFIRMED if confirmed else LeakState.SUSPECTED,
        since=datetime.fromtimestamp(s.since, UTC),
        baseline=max(0, round(s.baseline)),
        current=max(0, round(s.current)),
        total_growth_per_hour=round(s.total_growth_per_hour),
        growth_per_hour=round(s.growth_per_hour),
        growth_of=GrowthOf.TOTAL if s.growth_of == GROWTH_OF_TOTAL else GrowthOf.CULPRIT,
        p_value=f"{s.p_value:.2g}",
        culprit=list(s.culprit.frames[:5]),
        rule_id=s.rule.id if s.rule else None,
        cause=s.rule.cause if s.rule else None,
        fix=s.rule.fix if s.rule else None,
        spread=Spread(leaking=len(reach.leaking), of=reach.of),
        basis=s.basis,
        samples=s.samples,
    )


def workload_findings(results: Iterable[PodResult]) -> list[Finding]:
    """One finding per (workload, signal): the worst pod's signal, naming every pod that shows it.
    A signal in every replica points at code; in one pod, at data — the pod list tells which."""
    by_key: dict[tuple[tuple[str, str], str], list[tuple[str, Signal]]] = defaultdict(list)
    by_workload: dict[tuple[str, str], list[PodResult]] = defaultdict(list)
    for r in results:
        by_workload[r.workload].append(r)
        for s in r.evaluation.signals:
            by_key[(r.workload, s.kind.value)].append((r.pod, s))
    findings = []
    for (workload, kind), hits in by_key.items():
        worst = max((s for _, s in hits), key=_severity)
        fleet = [_pod_signal(r, kind) for r in by_workload[workload]]
        findings.append(_finding(workload, [p for p, _ in hits], worst, fleet))
    return worst_first(findings, limit=len(findings))


def _pod_signal(r: PodResult, kind: str) -> PodSignal:
    signal = next((s for s in r.evaluation.signals if s.kind.value == kind), None)
    return PodSignal(r.pod, r.evaluation.evaluated, signal)


def carry_unscanned(
    previous: Iterable[Finding], current: Sequence[Finding], failing_pods: Iterable[str]
) -> list[Finding]:
    """Keep a workload's finding while the pods that showed it could not be scanned this pass.

    A missed scrape (a paused pod, a timeout, a back-off) brings no evaluation, so the finding
    would vanish and read as "resolved" — false, and it flaps back on the next scrape. Only a real
    evaluation may say a leak stopped: a finding is carried while any of its pods failed and no
    fresh finding for the same workload and signal is at least as severe."""
    failing = set(failing_pods)
    out = {(f.workload.kind, f.workload.name, f.signal): f for f in current}
    for old in previous:
        if not failing.intersection(old.pods):
            continue
        key = (old.workload.kind, old.workload.name, old.signal)
        fresh = out.get(key)
        if fresh is None or _rank(fresh) < _rank(old):
            out[key] = old
    return worst_first(list(out.values()), limit=len(out))


def _rank(f: Finding) -> int:
    return 1 if f.state is LeakState.CONFIRMED else 0


def leaking_workloads(findings: Iterable[Finding]) -> int:
    return len({(f.workload.kind, f.workload.name) for f in findings if f.state is LeakState.CONFIRMED})
