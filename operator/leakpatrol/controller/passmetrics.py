"""The gauges a pass leaves behind: per target, per policy, per finding. Only what the replica
that speaks for the policy saw of its counts and findings; everything gone from a pass is dropped
(`metrics.retain`), so churn does not grow /metrics."""

from __future__ import annotations

import logging

from leakpatrol import metrics
from leakpatrol.api import Targets
from leakpatrol.controller.collect.records import TargetRecord
from leakpatrol.controller.report.gauges import finding_metrics
from leakpatrol.controller.shards.solo import Folded
from leakpatrol.core import ObjectRef

log = logging.getLogger("leakpatrol.controller.scanner")  # where people grep for the pass line


def target_gauges(
    where: tuple[str, str, ObjectRef, str], record: TargetRecord, gauged: set[tuple[str, ...]]
) -> None:
    """`where`: namespace, policy, workload, pod; `gauged` collects the (workload, pod) set."""
    ns, name, workload, pod = where
    labels = (ns, name, f"{workload.kind}/{workload.name}", pod)
    gauged.add(labels[2:])
    if record.goroutines is not None:
        metrics.TARGET_GOROUTINES.labels(*labels).set(record.goroutines)
    if record.heap is not None:
        metrics.TARGET_HEAP_INUSE.labels(*labels).set(record.heap)


def log_pass(policy: str, scanned: int, selected: int, failing: int, leaking: int, took: float) -> None:  # noqa: PLR0917
    """The one INFO line per pass per policy."""
    log.info(
        "policy %s: scanned %d of %d target(s), %d failing, %d leaking workload(s) in %.2fs",
        policy,
        scanned,
        selected,
        failing,
        leaking,
        took,
    )


def pass_gauges(  # noqa: PLR0917 - the pass's figures, each its own
    ns: str, name: str, folded: Folded, gauged: set[tuple[str, ...]], tracked: int, took: float, now: float
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
