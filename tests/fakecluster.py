"""`FakeCluster`: the scan loop's `Cluster` port in memory, for fast tests of whole scan passes.

It stands in for the cluster only: the scanner, the parsers, the evaluator, the status and Event
logic under test are the real ones, and the profiles it serves are real Go profiles (the golden
files and the recorded corpus). Failures are the real error classes of `leakpatrol.kube`, the ones
`KubeCluster` raises, so a test says "this pod answers 403" the way the cluster would.
The sandbox tests (tests/e2e/test_scanner_faults.py, tests/e2e/test_operator_e2e.py) cover the real thing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leakpatrol.controller.ports import (
    ActionLedger,
    EventIntent,
    EvictionBlocked,
    EvidenceCapture,
    FetchOptions,
    LedgerConflict,
    ScanTarget,
    StoredEvidence,
)
from leakpatrol.controller.remediation.admin import AdminPolicy, Floors
from leakpatrol.core import RESTARTED_AT, Obj, ObjectRef
from leakpatrol.inflight import Share
from leakpatrol.kube import errors

GOLDEN = Path(__file__).parent / "golden" / "profiles"
POLICY = ObjectRef("leakpatrol.dev/v1alpha1", "LeakPolicy", "demo", "policy-uid", "shop")

# Serves the body for (target, path) or raises; the default serves the golden profiles.
Server = Callable[[ScanTarget, str], bytes]


def golden_server(target: ScanTarget, path: str) -> bytes:
    if "/goroutineleak" in path:
        raise errors.PprofNotExposed(path, "HTTP 404: Unknown profile")
    return (GOLDEN / ("heap.pb.gz" if "/heap" in path else "goroutine.pb.gz")).read_bytes()


def running_pod(
    name: str, *, started: str = "2030-01-01T00:00:00Z", owner: str = "web-7d9f", owner_uid: str = "rs-1"
) -> Obj:
    """Labelled app=<its workload's name>, as that workload's selector selects it."""
    return {
        "metadata": {
            "name": name,
            "namespace": POLICY.namespace,
            "uid": f"{name}-uid",
            "labels": {"app": owner.rsplit("-", 1)[0]},
            "ownerReferences": [{"kind": "ReplicaSet", "name": owner, "uid": owner_uid, "controller": True}],
        },
        "spec": {"containers": [{"name": "app", "ports": [{"name": "pprof", "containerPort": 6060}]}]},
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.7",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {"name": "app", "restartCount": 0, "state": {"running": {"startedAt": started}}}
            ],
        },
    }


def namespace(name: str, labels: Mapping[str, str] | None = None, **annotations: str) -> Obj:
    return {"metadata": {"name": name, "labels": dict(labels or {}), "annotations": annotations}}


ENABLED = {"leakpatrol.dev/remediation": "enabled"}  # the admin's label: remediation may act here
# For tests of the policy's own rails (cooldowns, budgets, crashes, clocks): the admin's floors off,
# so a policy's numbers are what acts; the gate and the cluster's budget as shipped.
NO_FLOORS = AdminPolicy(
    floors=Floors(cooldown=0, window=0, confirmations=1, escalate_after=0, min_samples=0, significance=1)
)


def spec(**detection: Any) -> Obj:
    return {
        "selector": {"matchLabels": {"app": "web"}},
        "target": {"port": "pprof"},
        "schedule": {"interval": "60s", "jitter": "0%"},
        "profiles": {"heap": "Disabled"},
        "detection": {"window": "2h", "warmup": "0s", "minSamples": 12} | detection,
    }


class FakeCluster:
    def __init__(self, pods: list[Obj] | None = None, server: Server = golden_server) -> None:
        self.pods = list(pods or [])
        self.server = server
        self.failures: dict[str, list[Exception]] = {}  # method -> errors raised by its next calls
        self.fetches: list[tuple[str, str]] = []
        self.statuses: list[dict[str, Any]] = []
        self.events: list[EventIntent] = []
        self.checkpoint: bytes | None = None
        self.shard_checkpoints: dict[int, bytes] = {}  # --sharding: one per shard
        self.checkpoint_saves = 0
        self.owner_lookups = 0
        # remediation: workload objects by (kind, name), PDBs, and what was done
        self.workload_objs: dict[tuple[str, str], Obj] = {}
        self.pdbs: list[Obj] = []
        self.restarts: list[tuple[str, str, bool]] = []  # (kind, name, dry_run)
        self.evictions: list[tuple[str, bool]] = []  # (pod, dry_run)
        self.eviction_uids: list[str] = []  # the uid each eviction named
        self.blocked_pods: set[str] = set()  # evictions answered 429
        self.evidence: dict[str, EvidenceCapture] = {}
        self.owner_kind = "Deployment"  # what workload_of says owns the pods
        self.revisions: dict[str, int] = {}  # ReplicaSet name -> deployment.kubernetes.io/revision
        self.revision_lookups = 0
        self.server_clock: Callable[[], float] | None = None  # the API server's clock; None: unknown
        # The policy's namespace, labelled by the admin to enable remediation (a cluster set up for
        # it); the gate's tests take the label away.
        self.namespaces: dict[str, Obj] = {POLICY.namespace or "": namespace(POLICY.namespace or "", ENABLED)}
        self.ledger = ActionLedger()  # the cluster-wide budget's, as the API server stores it
        self.ledger_writes = 0

    def fail_next(self, method: str, *exc: Exception) -> None:
        self.failures.setdefault(method, []).extend(exc)

    def _maybe_fail(self, method: str) -> None:
        queued = self.failures.get(method)
        if queued:
            raise queued.pop(0)

    def body(self, raw_spec: Mapping[str, Any], generation: int = 1) -> Obj:
        """The policy as the daemon would see it: its spec and the status last written."""
        meta = {
            "name": POLICY.name,
            "namespace": POLICY.namespace,
            "uid": POLICY.uid,
            "generation": generation,
        }
        return {"metadata": meta, "spec": dict(raw_spec), "status": self.status}

    @property
    def status(self) -> dict[str, Any]:
        return self.statuses[-1] if self.statuses else {}

    def condition(self, type_: str) -> dict[str, Any]:
        return next(c for c in self.status.get("conditions", []) if c["type"] == type_)

    def reasons(self, about: str | None = None) -> list[str]:
        return [e.reason for e in self.events if about is None or e.about.kind == about]

    # --- the Cluster port -------------------------------------------------------------------------
    def server_now(self) -> float | None:
        return self.server_clock() if self.server_clock is not None else None

    async def list_pods(self, namespace: str, selector: Mapping[str, Any]) -> list[Obj]:
        self._maybe_fail("list_pods")
        return [p for p in self.pods if p["metadata"]["namespace"] == namespace]

    async def fetch(
        self, target: ScanTarget, path: str, options: FetchOptions, share: Share | None = None
    ) -> bytes:
        self._maybe_fail("fetch")
        self.fetches.append((target.name, path))
        body = self.server(target, path)
        if len(body) > options.max_bytes:  # as the real fetch stops reading past the caller's cap
            raise errors.TooLarge(path, f"the body is over the {options.max_bytes}-byte cap")
        if share is not None:  # as the real fetch counts a body in the operator's budget
            await share.grow(len(body))
        return body

    async def workload_of(self, pod: Mapping[str, Any]) -> ObjectRef:
        """The workload of the pod's ReplicaSet (a Deployment unless `owner_kind` says otherwise);
        its uid follows the ReplicaSet's, so a re-created Deployment is a new object, as in a cluster."""
        self.owner_lookups += 1
        rs = pod["metadata"]["ownerReferences"][0]
        owner, namespace = rs["name"].rsplit("-", 1)[0], pod["metadata"]["namespace"]
        return ObjectRef("apps/v1", self.owner_kind, owner, f"deploy-of-{rs['uid']}", namespace)

    async def replica_set_revision(self, namespace: str, name: str) -> int | None:
        self.revision_lookups += 1
        return self.revisions.get(name)

    async def patch_status(self, policy: ObjectRef, status: Mapping[str, Any]) -> None:
        self._maybe_fail("patch_status")
        self.statuses.append(merge_patch(self.status, dict(status)))

    async def post_event(self, intent: EventIntent) -> None:
        self._maybe_fail("post_event")
        self.events.append(intent)

    async def load_checkpoint(self, policy: ObjectRef, *, shard: int | None = None) -> bytes | None:
        self._maybe_fail("load_checkpoint")
        return self.checkpoint if shard is None else self.shard_checkpoints.get(shard)

    async def save_checkpoint(self, policy: ObjectRef, blob: bytes, *, shard: int | None = None) -> None:
        self._maybe_fail("save_checkpoint")
        if shard is None:
            self.checkpoint = blob
        else:
            self.shard_checkpoints[shard] = blob
        self.checkpoint_saves += 1

    async def delete_checkpoint(self, policy: ObjectRef) -> None:
        self.checkpoint = None
        self.shard_checkpoints.clear()

    async def read_workload(self, ref: ObjectRef) -> Obj:
        self._maybe_fail("read_workload")
        if (ref.kind, ref.name) not in self.workload_objs:
            raise errors.NotFound(404, "NotFound", f"{ref.kind} {ref.name} not found")
        return self.workload_objs[(ref.kind, ref.name)]

    async def list_pdbs(self, namespace: str) -> list[Obj]:
        self._maybe_fail("list_pdbs")
        return list(self.pdbs)

    async def restart_workload(self, ref: ObjectRef, at: datetime, *, dry_run: bool) -> None:
        """As the API server: the pod template's restartedAt annotation, unless a dry run."""
        self._maybe_fail("restart_workload")
        self.restarts.append((ref.kind, ref.name, dry_run))
        obj = self.workload_objs.get((ref.kind, ref.name))
        if obj is not None and not dry_run:
            template = obj.setdefault("spec", {}).setdefault("template", {})
            annotations = template.setdefault("metadata", {}).setdefault("annotations", {})
            annotations[RESTARTED_AT] = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    async def read_pod(self, namespace: str, name: str) -> Obj:
        """The pod as listed; terminating (a deletionTimestamp) once evicted; NotFound if not there."""
        self._maybe_fail("read_pod")
        pod = next((p for p in self.pods if p["metadata"]["name"] == name), None)
        if pod is None:
            raise errors.NotFound(404, "NotFound", f'pods "{name}" not found')
        if (name, False) in self.evictions:
            return pod | {"metadata": pod["metadata"] | {"deletionTimestamp": "2030-01-01T00:00:00Z"}}
        return pod

    async def evict_pod(self, namespace: str, name: str, *, uid: str, dry_run: bool) -> None:
        """As the API server: a uid that is not the pod's (precondition) is a 409, nothing evicted."""
        self._maybe_fail("evict_pod")
        pod = next((p for p in self.pods if p["metadata"]["name"] == name), None)
        if pod is not None and pod["metadata"]["uid"] != uid:
            raise errors.Conflict(409, "Conflict", f"pods {name}: the UID in the precondition ({uid})")
        self.eviction_uids.append(uid)
        if name in self.blocked_pods:
            raise EvictionBlocked(f"pod {namespace}/{name}: 429 the disruption budget allows none")
        self.evictions.append((name, dry_run))

    async def read_namespace(self, name: str) -> Obj:
        self._maybe_fail("read_namespace")
        if name not in self.namespaces:
            raise errors.NotFound(404, "NotFound", f'namespaces "{name}" not found')
        return self.namespaces[name]

    async def read_ledger(self) -> ActionLedger:
        self._maybe_fail("read_ledger")
        return self.ledger

    async def write_ledger(self, ledger: ActionLedger) -> None:
        """Stored only at the version last read (a create only when there is none), as the API server."""
        self._maybe_fail("write_ledger")
        if ledger.version != self.ledger.version:
            raise LedgerConflict(
                f"409 Conflict: the ledger is at {self.ledger.version}, not {ledger.version}"
            )
        self.ledger_writes += 1
        self.ledger = ActionLedger(ledger.entries, str(self.ledger_writes))

    async def save_evidence(self, capture: EvidenceCapture, *, keep: int) -> StoredEvidence:
        self._maybe_fail("save_evidence")
        name = f"leakpatrol-evidence.{capture.pod}.{int(capture.time.timestamp())}"
        self.evidence[name] = capture
        for old in sorted(self.evidence, key=lambda n: self.evidence[n].time)[:-keep]:
            del self.evidence[old]
        return StoredEvidence("leakpatrol-system", name)

    async def delete_evidence(self, policy: ObjectRef) -> None:
        self.evidence = {n: c for n, c in self.evidence.items() if c.policy.uid != policy.uid}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386, what the API server does with a status merge patch: a null removes a key."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


class Clock:
    """A settable clock for the scanner (seconds since the epoch)."""

    def __init__(self, start: float = datetime(2030, 1, 1, 1, tzinfo=UTC).timestamp()) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now
