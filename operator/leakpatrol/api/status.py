"""LeakPolicy status models, and the one rule conditions follow.

Conditions follow the Kubernetes API conventions: a list-map keyed by `type`; `status` is True,
False or Unknown (Unknown = could not determine, e.g. no target answered yet); `reason` is a
CamelCase word tools match on; `message` is a sentence a person acts on; `lastTransitionTime` moves
only when `status` changes, so "Ready=False for 3h" means what it says.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from pydantic import Field

from leakpatrol.api.base import REASON_PATTERN, ApiModel, Timestamp
from leakpatrol.core import FindingBasis, LeakState, SignalKind

MAX_FINDINGS = 10
MAX_CULPRIT_FRAMES = 5


class ConditionType(StrEnum):
    READY = "Ready"  # the policy is valid and its last scan pass completed
    LEAK_DETECTED = "LeakDetected"  # at least one workload has a confirmed leak
    DEGRADED = "Degraded"  # some targets could not be scanned (details in the message and Events)
    REMEDIATION_SUSPENDED = "RemediationSuspended"  # a leak came back after an action: a person decides


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(ApiModel):
    type: ConditionType
    status: ConditionStatus
    reason: str = Field(pattern=REASON_PATTERN, min_length=1, max_length=1024)
    message: str = Field(max_length=32768)
    last_transition_time: Timestamp
    observed_generation: int | None = Field(default=None, ge=0)


class Targets(ApiModel):
    selected: int = Field(default=0, ge=0)  # Running and Ready pods matching the selector
    scanned: int = Field(default=0, ge=0)  # of those, fetched successfully in the last pass
    failing: int = Field(default=0, ge=0)  # of those, failing (unreachable, 404, 401/403, 5xx, malformed)


class Workload(ApiModel):
    kind: str = Field(min_length=1, max_length=63)  # Deployment, StatefulSet, DaemonSet, ReplicaSet or Pod
    name: str = Field(min_length=1, max_length=253)


class Spread(ApiModel):
    """How many of the workload's pods show the same culprit: all of them points at code, one at
    data, a tenant or a stuck peer."""

    leaking: int = Field(ge=0)  # pods whose growing stack is the finding's culprit
    of: int = Field(ge=0)  # pods of the workload evaluated in the last pass


class IntroducedBy(ApiModel):
    """The rollout the leak began with: its pods leak, the previous revision's did not."""

    revision: int = Field(ge=0)  # deployment.kubernetes.io/revision
    replica_set: str = Field(min_length=1, max_length=253)
    images: list[str] = Field(default_factory=list, max_length=8)
    previous_revision: int = Field(ge=0)  # watched, and did not show the culprit


class MemoryForecast(ApiModel):
    """When the worst leaking pod's container reaches its memory limit at the measured rate."""

    resource: str = Field(default="memory", pattern=r"^memory$")
    pod: str = Field(min_length=1, max_length=253)  # the pod with the earliest ETA
    limit: str | None = Field(default=None, max_length=32)  # as in the pod spec; None: no limit set
    eta: str | None = Field(default=None, max_length=32)  # rounded, e.g. 3h; None: no limit or not growing
    eta_min: str | None = Field(default=None, max_length=32)  # at the fastest plausible rate
    eta_max: str | None = Field(default=None, max_length=32)  # at the slowest; None: may never
    reach_time: Timestamp | None = None  # now + eta, for sorting and alerting
    message: str = Field(max_length=256)  # the sentence the Event carries


class GrowthOf(StrEnum):
    """Whose growth a finding's `growthPerHour` and `pValue` are."""

    CULPRIT = "Culprit"  # the culprit group's (one stack, or one allocation site): the usual case
    TOTAL = "Total"  # no one group was flagged, the total was (less what load explains)


class Lives(ApiModel):
    """The container lives behind a finding: its pods' restarts within the window, and whether the
    verdict rests on several lives (a leak no single life was long enough to confirm)."""

    ended: int = Field(ge=0)  # container lives of the workload's pods that ended in the window
    typical: str | None = Field(default=None, max_length=32)  # a life's median length, e.g. 1.9h
    across: int = Field(default=0, ge=0)  # consecutive lives that grew the culprit; 0: one window's
    message: str = Field(max_length=512)  # said in the Event, e.g. "OOMKilled 3 times in 6h ..."


class Finding(ApiModel):
    workload: Workload
    pods: list[str] = Field(default_factory=list, max_length=20)
    signal: SignalKind
    state: LeakState
    since: Timestamp  # first evaluation that flagged it
    # The worst pod's totals (goroutines, or heap bytes in use): medians of the window's first and
    # last quarters. Raw numbers: messages format them (leakpatrol.api.units).
    baseline: int = Field(ge=0)
    current: int = Field(ge=0)
    total_growth_per_hour: int | None = None  # the same total's rate (Theil-Sen); None: older status
    growth_per_hour: int  # of `growth_of`: the culprit group's, usually; per hour
    growth_of: GrowthOf = GrowthOf.CULPRIT
    p_value: str = Field(pattern=r"^[0-9]+(\.[0-9]+)?([eE]-?[0-9]+)?$", max_length=32)  # of growthPerHour's
    culprit: list[str] = Field(default_factory=list, max_length=MAX_CULPRIT_FRAMES)  # leaf first
    rule_id: str | None = Field(default=None, max_length=63)
    cause: str | None = Field(default=None, max_length=1024)
    fix: str | None = Field(default=None, max_length=1024)
    spread: Spread | None = None
    introduced_by: IntroducedBy | None = None
    forecast: MemoryForecast | None = None
    # What raised it, and the samples behind its trend; only a Trend may be acted on. Absent (as
    # written by an older operator): never acted on until a pass judges it again.
    basis: FindingBasis | None = None
    samples: int | None = Field(default=None, ge=0)
    oom_kills: int | None = Field(default=None, ge=0)  # the workload's OOMKilled lives in the window
    last_oom_kill: Timestamp | None = None  # when the last of them ended
    lives: Lives | None = None


MAX_REMEDIATION_WORKLOADS = 20
MAX_EVIDENCE = 10
MAX_ACTION_TIMES = 100


class RemediationRecord(ApiModel):
    """One decision about one workload: an action taken (or, in dry run, that would be), or a skip."""

    workload: Workload
    action: str = Field(min_length=1, max_length=32)  # RolloutRestart | EvictPod
    time: Timestamp
    reason: str = Field(pattern=REASON_PATTERN, min_length=1, max_length=128)
    message: str = Field(max_length=1024)
    dry_run: bool = False


class PendingPod(ApiModel):
    name: str = Field(min_length=1, max_length=253)
    uid: str | None = Field(default=None, max_length=128)  # another uid by that name: a new pod


class PendingAction(RemediationRecord):
    """An action about to be taken, written before it is (the write-ahead) and replaced by
    `lastAction` once it succeeded. Found by a later pass (the operator stopped in between, or the
    call failed without saying whether it happened), it is checked against the workload itself:
    the restartedAt annotation equal to `time`, or a named pod gone: it happened."""

    signature: str | None = Field(default=None, max_length=64)  # the leak acted on (its culprit)
    pods: list[PendingPod] = Field(default_factory=list, max_length=20)  # EvictPod: the pods, in order


class WorkloadRemediation(ApiModel):
    """What remediation remembers of one workload (survives an operator restart)."""

    workload: Workload
    confirmed_passes: int = Field(default=0, ge=0)  # consecutive passes with a Confirmed leak
    signature: str | None = Field(default=None, max_length=64)  # the leak last acted on (its culprit)
    last_action_time: Timestamp | None = None
    next_allowed_time: Timestamp | None = None
    suspended: bool = False
    resume_token: str | None = Field(default=None, max_length=253)  # unused (older operators wrote it)
    suspended_time: Timestamp | None = None  # a resume time after this one lifts the suspension


class EvidenceRef(ApiModel):
    """Profiles saved before a restart destroys them, in a ConfigMap in the operator's namespace."""

    config_map: str = Field(min_length=1, max_length=253)
    namespace: str = Field(min_length=1, max_length=63)
    workload: Workload
    pod: str = Field(min_length=1, max_length=253)
    time: Timestamp
    files: list[str] = Field(default_factory=list, max_length=8)
    command: str = Field(max_length=1024)  # extract and open one file with go tool pprof


class RemediationStatus(ApiModel):
    last_decision_time: Timestamp | None = None
    last_action: RemediationRecord | None = None
    last_skip: RemediationRecord | None = None
    pending: PendingAction | None = None  # the action written ahead and not yet known done
    next_allowed_time: Timestamp | None = None  # the earliest the policy may act again (windows, cap)
    message: str | None = Field(default=None, max_length=1024)  # the last decision, in a sentence
    in_action: Workload | None = None  # the one workload being restarted/evicted until it settles
    actions: list[Timestamp] = Field(default_factory=list, max_length=MAX_ACTION_TIMES)  # in `window`
    suspended: list[str] = Field(default_factory=list, max_length=MAX_REMEDIATION_WORKLOADS)  # Kind/name
    workloads: list[WorkloadRemediation] = Field(default_factory=list, max_length=MAX_REMEDIATION_WORKLOADS)
    evidence: list[EvidenceRef] = Field(default_factory=list, max_length=MAX_EVIDENCE)


MAX_SHARD_FAILURES = 5


class ShardFailure(ApiModel):
    """One failing target of a shard, for the Degraded message (the pod's own Event has the rest)."""

    pod: str = Field(min_length=1, max_length=253)
    reason: str = Field(pattern=REASON_PATTERN, min_length=1, max_length=128)
    message: str = Field(max_length=1024)


class ShardReport(ApiModel):
    """What one replica saw of its shards of the policy in its last pass (with `--sharding`): the
    coordinator merges every live replica's report into the fields above. Keyed by replica."""

    time: Timestamp  # when the pass finished
    shards: list[int] = Field(default_factory=list, max_length=1024)  # the shard numbers it holds
    targets: Targets
    evaluated: int = Field(default=0, ge=0)  # targets with enough samples for a verdict
    findings: list[Finding] = Field(default_factory=list, max_length=MAX_FINDINGS)
    failures: list[ShardFailure] = Field(default_factory=list, max_length=MAX_SHARD_FAILURES)


class LeakPolicyStatus(ApiModel):
    observed_generation: int | None = Field(default=None, ge=0)
    conditions: list[Condition] = Field(default_factory=list, max_length=8)
    last_scan_time: Timestamp | None = None
    targets: Targets | None = None
    leaking: int = Field(default=0, ge=0)  # workloads with a confirmed leak; findings may show fewer
    findings: list[Finding] = Field(default_factory=list, max_length=MAX_FINDINGS)
    worst_eta: str | None = Field(default=None, max_length=64)  # as of lastScanTime: "~3h Deployment/web"
    worst_eta_time: Timestamp | None = None  # when that container reaches its limit (absolute)
    remediation: RemediationStatus | None = None
    shards: dict[str, ShardReport] | None = None  # with --sharding: each replica's part, by replica


def set_condition(conditions: Sequence[Condition], new: Condition, now: datetime) -> list[Condition]:
    """`conditions` with `new` in place of its type. Pure: the input is not changed.

    `new.last_transition_time` is ignored: it becomes the old one when the status is unchanged (a
    reason or message change is not a transition), else `now`. Order is kept; a new type goes last.
    """
    old = get_condition(conditions, new.type)
    unchanged = old is not None and old.status == new.status
    stamp = old.last_transition_time if old is not None and unchanged else now
    # Re-validated, not model_copy'd: a naive `now` must fail here, not produce a wrong time later.
    stamped = Condition.model_validate({**new.model_dump(), "lastTransitionTime": stamp})
    if old is None:
        return [*conditions, stamped]
    return [stamped if c.type == new.type else c for c in conditions]


def get_condition(conditions: Sequence[Condition], type_: ConditionType) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def worst_first(findings: Sequence[Finding], limit: int = MAX_FINDINGS) -> list[Finding]:
    """The findings worth the status' few slots: confirmed before suspected, goroutineleak first
    (it has no false positives), then the fastest growth relative to the baseline."""
    signal_rank = {SignalKind.GOROUTINELEAK: 0, SignalKind.GOROUTINES: 1, SignalKind.HEAP: 2}

    def key(f: Finding) -> tuple[int, int, float]:
        relative = f.growth_per_hour / max(f.baseline, 1)
        return (f.state != LeakState.CONFIRMED, signal_rank[f.signal], -relative)

    return sorted(findings, key=key)[:limit]
