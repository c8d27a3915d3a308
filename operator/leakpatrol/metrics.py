"""Prometheus metrics: what a dashboard or an alert needs from the operator itself."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()

TARGET_GOROUTINES = Gauge(
    "leakpatrol_target_goroutines",
    "Goroutines in the target's last profile.",
    ["namespace", "policy", "pod"],
    registry=REGISTRY,
)
TARGET_HEAP_INUSE = Gauge(
    "leakpatrol_target_heap_inuse_bytes",
    "Heap bytes in use (post-GC) in the target's last profile.",
    ["namespace", "policy", "pod"],
    registry=REGISTRY,
)
WORKLOAD_LEAKING = Gauge(
    "leakpatrol_workload_leak",
    "1 while a confirmed leak stands for the workload and signal, else 0.",
    ["namespace", "policy", "workload", "signal"],
    registry=REGISTRY,
)
SCAN_SECONDS = Histogram(
    "leakpatrol_scan_duration_seconds",
    "Wall time of one scan pass over a policy's targets.",
    ["namespace", "policy"],
    registry=REGISTRY,
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
SCRAPE_ERRORS = Counter(
    "leakpatrol_scrape_errors_total",
    "Profile fetches that failed, by reason.",
    ["namespace", "policy", "reason"],
    registry=REGISTRY,
)
TRACKED_TARGETS = Gauge(
    "leakpatrol_tracked_targets",
    "Targets with a series in memory.",
    ["namespace", "policy"],
    registry=REGISTRY,
)

REMEDIATION = Counter(
    "leakpatrol_remediation_decisions_total",
    "Remediation decisions per workload: an action (RolloutRestarted, PodEvicted, RemediationDryRun),"
    " a skip by its reason (Cooldown, DisruptionBudgetExhausted, EvictionBlocked ...) or a suspension.",
    ["namespace", "policy", "workload", "action", "outcome"],
    registry=REGISTRY,
)


INTERNAL_ERRORS = Counter(
    "leakpatrol_internal_errors_total",
    "Scan passes that failed on a bug (an unexpected exception); the operator log has the traceback.",
    ["namespace", "policy"],
    registry=REGISTRY,
)


def forget_policy(namespace: str, policy: str) -> None:
    """Drop every series of a deleted policy so /metrics does not report ghosts."""
    for metric in (TARGET_GOROUTINES, TARGET_HEAP_INUSE, WORKLOAD_LEAKING, TRACKED_TARGETS, REMEDIATION):
        for labels in list(metric._metrics):  # prometheus_client has no public label listing
            if labels[0] == namespace and labels[1] == policy:
                metric.remove(*labels)
