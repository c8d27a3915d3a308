"""One policy status from many replicas' shards: each replica's report, and their merge. Pure.

Decision: one writer per policy, fed by the shards. Every replica writes only its own key of
`status.shards` (a JSON merge patch of one map key cannot overwrite another replica's key, so no
update is lost and no resourceVersion retry loop is needed); the policy's coordinator merges the
live replicas' reports into `targets`, `findings`, `leaking` and the conditions, and is the only one
to write those and to post the Events about workloads. Why not every replica writing the merged
status under resourceVersion preconditions: two replicas that both see a transition would both post
its Event (or, posting after the write, lose it on a crash), every pass would race every other
replica's, and remediation (one action per pass, one workload at a time) needs one decider anyway.

The price: another replica's part reaches the status at the coordinator's next pass (one interval
late at most), and for a moment after a membership change a target may be counted by its old and
its new owner; both settle within a pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from leakpatrol.api import Finding, ShardFailure, ShardReport, Spread, Targets, worst_first
from leakpatrol.api.status import MAX_FINDINGS, MAX_SHARD_FAILURES
from leakpatrol.controller.report.status import ScanPass
from leakpatrol.core import LeakState


def shard_report(p: ScanPass, shards: Iterable[int], now: datetime) -> ShardReport:
    """What this replica publishes of its pass over the shards it holds."""
    return ShardReport(
        time=now,
        shards=sorted(shards),
        targets=Targets(selected=p.selected, scanned=p.scanned, failing=p.failing_count),
        evaluated=p.evaluated,
        findings=worst_first(p.findings),
        failures=[ShardFailure(pod=u.pod, reason=u.reason, message=u.message[:1024]) for u in p.failures][
            :MAX_SHARD_FAILURES
        ],
    )


def _severity(f: Finding) -> tuple[bool, int]:
    return (f.state is LeakState.CONFIRMED, f.growth_per_hour)


def merge_findings(parts: Iterable[Iterable[Finding]]) -> list[Finding]:
    """One finding per (workload, signal), as `workload_findings` makes from pods: the worst shard's
    (a workload's pods may sit in several shards), naming the pods of every shard that shows it."""
    best: dict[tuple[str, str, str], Finding] = {}
    pods: dict[tuple[str, str, str], set[str]] = {}
    spread: dict[tuple[str, str, str], tuple[int, int]] = {}  # (leaking, of) summed over shards
    for findings in parts:
        for f in findings:
            key = (f.workload.kind, f.workload.name, f.signal.value)
            pods.setdefault(key, set()).update(f.pods)
            if f.spread is not None:
                leaking, of = spread.get(key, (0, 0))
                spread[key] = (leaking + f.spread.leaking, of + f.spread.of)
            if key not in best or _severity(f) > _severity(best[key]):
                best[key] = f
    # `of` counts only the shards that saw the culprit; the coordinator corrects it with every
    # selected pod of the workload (PolicyScanner._fleet_spread) before anything is said.
    merged = [
        f.model_copy(
            update={"pods": sorted(pods[k])[:20]}
            | ({"spread": Spread(leaking=spread[k][0], of=spread[k][1])} if k in spread else {})
        )
        for k, f in best.items()
    ]
    return worst_first(merged, limit=MAX_FINDINGS)


def merged_pass(namespace: str, reports: Mapping[str, ShardReport], selector: str = "") -> ScanPass:
    """The policy's pass as one replica would have seen it, from every live replica's report."""
    parts = list(reports.values())
    failures = [f for r in parts for f in r.failures]  # each replica's words, as it stored them
    return ScanPass(
        namespace=namespace,
        selected=sum(r.targets.selected for r in parts),
        scanned=sum(r.targets.scanned for r in parts),
        evaluated=sum(r.evaluated for r in parts),
        findings=merge_findings(r.findings for r in parts),
        failures=failures,
        failing=sum(r.targets.failing for r in parts),
        selector=selector,
    )


def live_reports(
    stored: Mapping[str, ShardReport] | None, members: Iterable[str], me: str, mine: ShardReport
) -> tuple[dict[str, ShardReport], list[str]]:
    """The reports to merge (live members' as stored, mine fresh) and the keys of replicas that are
    gone, for the coordinator to remove (a null in its merge patch)."""
    live = set(members)
    others = {m: r for m, r in (stored or {}).items() if m in live and m != me}
    gone = sorted(m for m in (stored or {}) if m not in live)
    return others | {me: mine}, gone
