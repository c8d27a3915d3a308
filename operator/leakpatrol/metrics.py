"""Prometheus metrics: what a dashboard or an alert needs from the operator itself."""

from __future__ import annotations

import importlib.metadata
import platform
from collections.abc import Mapping
from collections.abc import Set as AbstractSet

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()

# Per target and per workload: `workload` is "Kind/name" (Deployment/web) on every one of them,
# so a dashboard groups pods by workload and joins the targets with the leak states.
TARGET_GOROUTINES = Gauge(
    "leakpatrol_target_goroutines",
    "Goroutines in the target's last profile.",
    ["namespace", "policy", "workload", "pod"],
    registry=REGISTRY,
)
TARGET_HEAP_INUSE = Gauge(
    "leakpatrol_target_heap_inuse_bytes",
    "Heap bytes in use (post-GC) in the target's last profile.",
    ["namespace", "policy", "workload", "pod"],
    registry=REGISTRY,
)
WORKLOAD_LEAKING = Gauge(
    "leakpatrol_workload_leak",
    "1 while a confirmed leak stands for the workload and signal, else 0.",
    ["namespace", "policy", "workload", "signal"],
    registry=REGISTRY,
)
WORKLOAD_SUSPECTED = Gauge(
    "leakpatrol_workload_leak_suspected",
    "1 while the workload's growth of the signal is flagged but not yet confirmed (Suspected), else 0.",
    ["namespace", "policy", "workload", "signal"],
    registry=REGISTRY,
)
WORKLOAD_LEAK_INFO = Gauge(
    "leakpatrol_workload_leak_info",
    "1 for each finding: the diagnosis rule that matched (none: no rule) and the culprit (the leaking"
    " stack's leaf function); join on namespace, policy, workload and signal.",
    ["namespace", "policy", "workload", "signal", "rule", "culprit"],
    registry=REGISTRY,
)
WORKLOAD_OOM_ETA = Gauge(
    "leakpatrol_workload_oom_eta_seconds",
    "Seconds until the workload's first leaking container reaches its memory limit at the measured"
    " rate, as of the policy's last pass; absent without a limit or while memory does not grow.",
    ["namespace", "policy", "workload"],
    registry=REGISTRY,
)
POLICY_TARGETS = Gauge(
    "leakpatrol_policy_targets",
    "The policy's targets at its last pass: selected (Running and Ready, matching), scanned, failing.",
    ["namespace", "policy", "state"],
    registry=REGISTRY,
)
POLICY_SUSPENDED = Gauge(
    "leakpatrol_policy_suspended",
    "1 while the policy is suspended (spec.suspend): nothing is scanned and its target and workload"
    " series are removed, not frozen; 0 while it scans.",
    ["namespace", "policy"],
    registry=REGISTRY,
)
BUILD_INFO = Gauge(
    "leakpatrol_build_info",
    "Always 1: the operator's version and Python's, as labels.",
    ["version", "python"],
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


def _version() -> str:
    try:
        return importlib.metadata.version("leakpatrol")
    except importlib.metadata.PackageNotFoundError:  # a source tree on PYTHONPATH, not installed
        return "unknown"


BUILD_INFO.labels(_version(), platform.python_version()).set(1)


Metric = Gauge | Counter | Histogram
# What a pass sets anew each time: removed while the policy is suspended or not scanned here.
_PASS_GAUGES: tuple[Gauge, ...] = (
    TARGET_GOROUTINES,
    TARGET_HEAP_INUSE,
    WORKLOAD_LEAKING,
    WORKLOAD_SUSPECTED,
    WORKLOAD_LEAK_INFO,
    WORKLOAD_OOM_ETA,
    POLICY_TARGETS,
    TRACKED_TARGETS,
    SCAN_LAG_SECONDS,
)
_PER_POLICY: tuple[Metric, ...] = (
    *_PASS_GAUGES,
    POLICY_SUSPENDED,
    SCAN_SECONDS,
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


def suspend_policy(namespace: str, policy: str) -> None:
    """A suspended policy: its per-pass series go (a frozen gauge reads as "the leak stopped"), and
    it says it is suspended, so alerts can leave it out. Counters stay."""
    for metric in _PASS_GAUGES:
        _drop(metric, namespace, policy, set())
    POLICY_SUSPENDED.labels(namespace, policy).set(1)


def retain(namespace: str, policy: str, keep: Mapping[Gauge, AbstractSet[tuple[str, ...]]]) -> None:
    """After a pass: keep the series of live pods and of workloads with a finding (`keep`: per
    gauge, the labels after namespace and policy), drop the rest, so churn (rollouts, deleted pods,
    resolved leaks) does not grow /metrics without end."""
    for metric, labels in keep.items():
        _drop(metric, namespace, policy, labels)
