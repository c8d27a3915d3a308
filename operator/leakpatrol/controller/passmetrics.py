"""The gauges a pass leaves behind: per target, per policy, per finding. Only what the replica
that speaks for the policy saw of its counts and findings; everything gone from a pass is dropped
(`metrics.retain`), so churn does not grow /metrics."""

from __future__ import annotations

from leakpatrol import metrics
from leakpatrol.api import Targets
from leakpatrol.controller.report.gauges import finding_metrics
from leakpatrol.controller.shards.solo import Folded


def target_gauges(labels: tuple[str, str, str, str], goroutines: float | None, heap: float | None) -> None:
    """`labels`: namespace, policy, workload (Kind/name), pod."""
    if goroutines is not None:
        metrics.TARGET_GOROUTINES.labels(*labels).set(goroutines)
    if heap is not None:
        metrics.TARGET_HEAP_INUSE.labels(*labels).set(heap)


def pass_gauges(
    ns: str, name: str, folded: Folded, *, gauged: set[tuple[str, ...]], tracked: int, took: float, now: float
) -> None:
    """`gauged`: the (workload, pod) label tails of the target gauges set this pass."""
    status = folded.status
    metrics.SCAN_SECONDS.labels(ns, name).observe(took)
    metrics.TRACKED_TARGETS.labels(ns, name).set(tracked)
    metrics.POLICY_SUSPENDED.labels(ns, name).set(0)
    if folded.speaks:  # the policy's counts and findings: from the replica that speaks for it
        targets = status.targets or Targets()
        for state, n in (
            ("selected", targets.selected),
            ("scanned", targets.scanned),
            ("failing", targets.failing),
        ):
            metrics.POLICY_TARGETS.labels(ns, name, state).set(n)
    keep = finding_metrics(ns, name, status.findings if folded.speaks else [], now)
    metrics.retain(ns, name, {metrics.TARGET_GOROUTINES: gauged, metrics.TARGET_HEAP_INUSE: gauged, **keep})
