"""Prometheus metrics: what a dashboard or an alert needs from the operator itself."""

from __future__ import annotations

from collections.abc import Set as AbstractSet

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
SCAN_STEP_SECONDS = Histogram(
    "leakpatrol_scan_step_seconds",
    "Wall time of one named step of a scan pass (controller.scanner), over every policy.",
    ["step"],
    registry=REGISTRY,
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SCAN_LAG_SECONDS = Gauge(
    "leakpatrol_scan_lag_seconds",
    "How much longer the policy's last pass took than its schedule.interval (0: it kept the cadence).",
    ["namespace", "policy"],
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

SCAN_FAILURES = Counter(
    "leakpatrol_scan_failures_total",
    "Scan passes that failed as a whole, by kind (Temporary, Permanent, Internal) and reason.",
    ["namespace", "policy", "kind", "reason"],
    registry=REGISTRY,
)
LEADER = Gauge(
    "leakpatrol_leader",
    "1 while this replica holds the Lease and scans, 0 while it stands by.",
    registry=REGISTRY,
)

# --- sharding (--sharding): what this replica holds; a dashboard sums or maxes across replicas ---
MEMBERS = Gauge(
    "leakpatrol_shard_members",
    "Live replicas this replica sees (their member Leases), itself included; 0 while not a member.",
    registry=REGISTRY,
)
SHARDS_HELD = Gauge(
    "leakpatrol_shards_held",
    "Shards of the policy this replica holds and scans.",
    ["namespace", "policy"],
    registry=REGISTRY,
)
SHARD_TARGETS = Gauge(
    "leakpatrol_shard_targets",
    "Targets of the policy in this replica's shards at its last pass (sum over replicas: all).",
    ["namespace", "policy"],
    registry=REGISTRY,
)
COORDINATOR = Gauge(
    "leakpatrol_shard_coordinator",
    "1 on the replica that merges the policy's status and posts its workload Events.",
    ["namespace", "policy"],
    registry=REGISTRY,
)


Metric = Gauge | Counter | Histogram
_PER_POLICY: tuple[Metric, ...] = (
    TARGET_GOROUTINES,
    TARGET_HEAP_INUSE,
    WORKLOAD_LEAKING,
    TRACKED_TARGETS,
    SCAN_SECONDS,
    SCAN_LAG_SECONDS,
    SCRAPE_ERRORS,
    INTERNAL_ERRORS,
    SCAN_FAILURES,
    REMEDIATION,
    SHARDS_HELD,
    SHARD_TARGETS,
    COORDINATOR,
)


def _drop(metric: Metric, namespace: str, policy: str, keep: AbstractSet[tuple[str, ...]]) -> None:
    """Remove the policy's series whose remaining labels are not in `keep`."""
    for labels in list(metric._metrics):  # prometheus_client has no public label listing
        if labels[:2] == (namespace, policy) and labels[2:] not in keep:
            metric.remove(*labels)


def forget_policy(namespace: str, policy: str) -> None:
    """Drop every series of a deleted policy so /metrics does not report ghosts."""
    for metric in _PER_POLICY:
        _drop(metric, namespace, policy, set())


def retain(namespace: str, policy: str, pods: set[str], workloads: set[tuple[str, str]]) -> None:
    """After a pass: keep the series of live pods and of workloads with a finding, drop the rest,
    so churn (rollouts, deleted pods) does not grow /metrics without end."""
    for metric in (TARGET_GOROUTINES, TARGET_HEAP_INUSE):
        _drop(metric, namespace, policy, {(p,) for p in pods})
    _drop(WORKLOAD_LEAKING, namespace, policy, workloads)
