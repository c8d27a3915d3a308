"""Per-pod evaluations -> per-workload findings for the status (bounded, worst first)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from leakpatrol.api import Finding, Workload, worst_first
from leakpatrol.core import LeakState, SignalKind
from leakpatrol.detect.findings import Evaluation, Signal


@dataclass(frozen=True, slots=True)
class PodResult:
    pod: str
    workload: tuple[str, str]  # (kind, name)
    evaluation: Evaluation


def _severity(s: Signal) -> tuple[bool, float]:
    return (s.state is LeakState.CONFIRMED, s.growth_per_hour)


def _finding(workload: tuple[str, str], pods: list[str], s: Signal) -> Finding:
    return Finding(
        workload=Workload(kind=workload[0], name=workload[1]),
        pods=sorted(pods)[:20],
        signal=SignalKind(s.kind.value),
        state=LeakState.CONFIRMED if s.state is LeakState.CONFIRMED else LeakState.SUSPECTED,
        since=datetime.fromtimestamp(s.since, UTC),
        baseline=max(0, round(s.baseline)),
        current=max(0, round(s.current)),
        growth_per_hour=round(s.growth_per_hour),
        p_value=f"{s.p_value:.2g}",
        culprit=list(s.culprit.frames[:5]),
        rule_id=s.rule.id if s.rule else None,
        cause=s.rule.cause if s.rule else None,
        fix=s.rule.fix if s.rule else None,
    )


def workload_findings(results: Iterable[PodResult]) -> list[Finding]:
    """One finding per (workload, signal): the worst pod's signal, naming every pod that shows it.
    A signal in every replica points at code; in one pod, at data — the pod list tells which."""
    by_key: dict[tuple[tuple[str, str], str], list[tuple[str, Signal]]] = defaultdict(list)
    for r in results:
        for s in r.evaluation.signals:
            by_key[(r.workload, s.kind.value)].append((r.pod, s))
    findings = []
    for (workload, _), hits in by_key.items():
        worst = max((s for _, s in hits), key=_severity)
        findings.append(_finding(workload, [p for p, _ in hits], worst))
    return worst_first(findings, limit=len(findings))


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
