"""What the scan loop needs from the cluster, as one narrow interface.

`leakpatrol.runtime.cluster.KubeCluster` implements it with `leakpatrol.kube`; the unit tests'
`FakeCluster` implements it in memory. The scan loop sees only this port and the error root in
`leakpatrol.core`, never the Kubernetes layer: the controller stays pure plus this one seam.

Errors: every method raises `core.Temporary` or `core.Permanent` subclasses for what it knows,
`core.ObjectNotFound` for an object that does not exist (any more); `fetch` raises them with the
`.reason` a person reads (`Reason.PPROF_NOT_EXPOSED`, `Reason.SCRAPE_TIMEOUT`, ...),
`core.TargetNotExposed` for a 404 and `core.TargetGone` for a pod deleted meanwhile. Callers
decide by these types, never by a reason's or a message's text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from leakpatrol.core import Obj, ObjectRef, Temporary, Transport
from leakpatrol.detect.evaluator import PodIdentity
from leakpatrol.inflight import Share
from leakpatrol.reasons import EventType, Reason


@dataclass(frozen=True, slots=True)
class ScanTarget:
    namespace: str
    name: str
    uid: str
    ip: str
    port: int
    identity: PodIdentity  # a change (restart, new start time, new uid) resets the pod's series
    owner: tuple[str, str] | None  # the controller ownerReference (kind, name), if any
    owner_uid: str = ""  # its uid: a re-created owner of the same name is another object
    memory_limit: str | None = None  # the profiled container's resources.limits.memory, as written
    images: tuple[str, ...] = ()  # every container's image, for blaming a rollout
    labels: tuple[tuple[str, str], ...] = ()  # the pod's labels: its workload's selector must select them

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True, slots=True)
class Unscannable:
    pod: str
    reason: Reason  # a Warning Event and the Degraded condition say it
    message: str


@dataclass(frozen=True, slots=True)
class EventIntent:
    """An Event to post; `type` comes from the reason (`reason.event_type`, or `.skip_type`)."""

    about: ObjectRef
    type: EventType
    reason: Reason
    message: str

    @classmethod
    def of(cls, about: ObjectRef, reason: Reason, message: str) -> EventIntent:
        """The Event that says `reason`, of the type the vocabulary gives it."""
        return cls(about, reason.event_type, reason, message)


@dataclass(frozen=True, slots=True)
class FetchOptions:
    transport: Transport
    scheme: str  # HTTP | HTTPS
    connect_timeout: float
    read_timeout: float
    total_timeout: float
    max_bytes: int


class EvictionBlocked(Temporary):
    """The Eviction API answered 429: a PodDisruptionBudget refuses it now. A skip to retry later,
    never a reason to delete the pod instead."""

    reason = Reason.EVICTION_BLOCKED


@dataclass(frozen=True, slots=True)
class EvidenceCapture:
    """Profiles of one pod, saved before an action destroys the process that holds the leak."""

    policy: ObjectRef
    workload: ObjectRef
    pod: str
    time: datetime
    files: Mapping[str, bytes]  # file name -> bytes, e.g. goroutine.pb.gz


@dataclass(frozen=True, slots=True)
class StoredEvidence:
    namespace: str  # the operator's own, or (`--evidence-namespace policy`) the policy's
    name: str  # the ConfigMap


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One action counted against the cluster-wide budget (remediation/budget.py)."""

    time: datetime  # the API server's clock, whole seconds
    policy: str  # namespace/name
    workload: str  # Kind/name
    action: str  # RolloutRestart | EvictPod


@dataclass(frozen=True, slots=True)
class ActionLedger:
    """The actions of the last hour, every policy and replica together, and the version to write
    against (None: none stored yet, the write creates it)."""

    entries: tuple[LedgerEntry, ...] = ()
    version: str | None = None


class LedgerConflict(Temporary):
    """The ledger changed since it was read (another policy or replica claimed meanwhile): re-read."""

    reason = Reason.CONFLICT


class Cluster(Protocol):
    def server_now(self) -> float | None:
        """The API server's clock now (seconds since the epoch) as its last answer told it, without a
        call; None until one answered. Every replica shares it, whatever its own node's clock says."""
        ...

    async def list_pods(self, namespace: str, selector: Mapping[str, Any]) -> list[Obj]: ...

    async def fetch(
        self, target: ScanTarget, path: str, options: FetchOptions, share: Share | None = None
    ) -> bytes:
        """GET path (with query) from the target's pprof port; the body counted in `share`."""
        ...

    async def workload_of(self, pod: Mapping[str, Any]) -> ObjectRef: ...

    async def replica_set_revision(self, namespace: str, name: str) -> int | None:
        """Its `deployment.kubernetes.io/revision`; None when gone or not a Deployment's."""
        ...

    async def patch_status(self, policy: ObjectRef, status: Mapping[str, Any]) -> None: ...

    async def post_event(self, intent: EventIntent) -> None: ...

    async def load_checkpoint(self, policy: ObjectRef, *, shard: int | None = None) -> bytes | None:
        """The policy's checkpoint, or (`--sharding`) that of one of its shards."""
        ...

    async def save_checkpoint(self, policy: ObjectRef, blob: bytes, *, shard: int | None = None) -> None: ...

    async def delete_checkpoint(self, policy: ObjectRef) -> None:
        """When the policy is deleted: its series go with it (every shard's too)."""
        ...

    # --- remediation (spec.remediation): reads for the rails, the two actions, the evidence -----
    async def read_workload(self, ref: ObjectRef) -> Obj:
        """The workload object, for its generation, replicas and status; `ObjectNotFound` if gone."""
        ...

    async def list_pdbs(self, namespace: str) -> list[Obj]: ...

    async def read_pod(self, namespace: str, name: str) -> Obj:
        """One pod, to see whether an eviction happened; `ObjectNotFound` if it is gone."""
        ...

    async def restart_workload(self, ref: ObjectRef, at: datetime, *, dry_run: bool) -> None:
        """As `kubectl rollout restart`: the restartedAt pod-template annotation. dry_run: the API
        server checks the patch (and our RBAC) without storing it."""
        ...

    async def evict_pod(self, namespace: str, name: str, *, uid: str, dry_run: bool) -> None:
        """policy/v1 Eviction of the pod that has this `uid` (a precondition the API server enforces:
        a pod re-created under the name is not evicted, a 409 says so); `EvictionBlocked` on 429."""
        ...

    async def read_namespace(self, name: str) -> Obj:
        """The Namespace: its labels say whether the admin enabled remediation there, its annotations
        carry the admin's resume. `ObjectNotFound` if it is gone."""
        ...

    async def read_ledger(self) -> ActionLedger:
        """The cluster-wide ledger of actions (empty, version None, when there is none yet)."""
        ...

    async def write_ledger(self, ledger: ActionLedger) -> None:
        """Store `ledger.entries` if the stored one is still at `ledger.version` (None: create it);
        `LedgerConflict` otherwise."""
        ...

    async def save_evidence(self, capture: EvidenceCapture, *, keep: int) -> StoredEvidence:
        """A ConfigMap where the admin keeps evidence; the policy's newest `keep` stay, older go,
        within the namespace's budget and the operator's cap (a Temporary error at the cap)."""
        ...

    async def delete_evidence(self, policy: ObjectRef) -> None:
        """When the policy is deleted: its evidence goes with it."""
        ...
