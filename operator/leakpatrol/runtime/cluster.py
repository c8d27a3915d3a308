"""`KubeCluster`: the scan loop's `Cluster` port, implemented with leakpatrol.kube's one-verb calls."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from leakpatrol.api import GROUP, PLURAL, VERSION
from leakpatrol.controller.ports import (
    ActionLedger,
    EventIntent,
    EvictionBlocked,
    EvidenceCapture,
    FetchOptions,
    LedgerConflict,
    LedgerEntry,
    ScanTarget,
    StoredEvidence,
)
from leakpatrol.core import CheckpointCorrupt, ObjectRef, Transport
from leakpatrol.inflight import Share
from leakpatrol.kube import errors
from leakpatrol.kube.client import ApiClient, PatchType
from leakpatrol.kube.configmaps import checkpoint_name, delete_checkpoint, read_checkpoint, write_checkpoint
from leakpatrol.kube.events import default_limiter, post_event
from leakpatrol.kube.eviction import evict_pod
from leakpatrol.kube.evidence import EvidenceLimits, delete_policy_evidence, save_evidence
from leakpatrol.kube.fetch import fetch_profile, http_client_for, target_url
from leakpatrol.kube.ledger import LedgerCorrupt, read_ledger, write_ledger
from leakpatrol.kube.owners import resolve_workload_ref
from leakpatrol.kube.pods import list_pods, read_pod, selector_string
from leakpatrol.kube.restart import restart_workload
from leakpatrol.kube.workloads import list_pdbs, read_workload
from leakpatrol.reasons import Reason

log = logging.getLogger(__name__)

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"


class KubeCluster:
    def __init__(
        self, api: ApiClient, home: str = "default", shards: int = 0, evidence: EvidenceLimits | None = None
    ) -> None:
        self.api = api
        self.home = home  # the operator's own namespace: checkpoints (and the evidence ledger) live there
        self.evidence = evidence or EvidenceLimits()  # the admin's caps, and where profiles are kept
        self.evidence_turn = asyncio.Lock()
        self.http = {
            Transport.PORT_FORWARD: http_client_for(Transport.PORT_FORWARD, api),
            Transport.DIRECT: http_client_for(Transport.DIRECT, None),
        }
        self.limiter = default_limiter()
        self.checkpoint_versions: dict[tuple[str, int | None], str] = {}  # (policy uid, shard)
        self.shards = shards  # --sharding: a deleted policy's shard checkpoints go too

    async def aclose(self) -> None:
        for client in self.http.values():
            await client.aclose()
        await self.api.aclose()

    def server_now(self) -> float | None:
        return self.api.server_now()

    async def list_pods(self, namespace: str, selector: Mapping[str, Any]) -> list[dict[str, Any]]:
        return await list_pods(self.api, namespace, selector_string(dict(selector)))

    async def fetch(
        self, target: ScanTarget, path: str, options: FetchOptions, share: Share | None = None
    ) -> bytes:
        """Raises `kube.errors.FetchError`s: each is a core Temporary/Permanent with its reason."""
        pod = {
            "metadata": {"name": target.name, "namespace": target.namespace},
            "status": {"podIP": target.ip},
        }
        try:
            url = target_url(options.transport, pod, target.port, path, scheme=options.scheme.lower())
        except ValueError as exc:  # e.g. HTTPS asked of a port-forward, or no pod IP yet
            raise errors.UpstreamRejected(path, str(exc)) from exc
        timeout = httpx.Timeout(options.read_timeout, connect=options.connect_timeout)
        return await fetch_profile(
            self.http[options.transport],
            url,
            max_bytes=options.max_bytes,
            timeout=timeout,
            total=options.total_timeout,
            share=share,
        )

    async def workload_of(self, pod: Mapping[str, Any]) -> ObjectRef:
        try:
            return await resolve_workload_ref(self.api, dict(pod))
        except errors.ApiError as exc:  # e.g. no RBAC for an unusual owner kind: name the pod itself
            log.info("owner of pod %s not resolved (%s); reporting the pod", pod["metadata"]["name"], exc)
            return ObjectRef.of(dict(pod), api_version="v1", kind="Pod")

    async def replica_set_revision(self, namespace: str, name: str) -> int | None:
        # The same GET (and RBAC) as resolving Pod -> ReplicaSet -> Deployment.
        try:
            rs = await self.api.get(f"/apis/apps/v1/namespaces/{namespace}/replicasets/{name}")
        except errors.NotFound:
            return None
        text = ((rs.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION)
        return int(text) if text and text.isdigit() else None

    async def patch_status(self, policy: ObjectRef, status: Mapping[str, Any]) -> None:
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{policy.namespace}/{PLURAL}/{policy.name}/status"
        try:
            await self.api.patch(path, {"status": dict(status)}, content_type=PatchType.MERGE)
        except errors.NotFound:
            log.info("policy %s/%s is gone; status not written", policy.namespace, policy.name)

    async def post_event(self, intent: EventIntent) -> None:
        await post_event(
            self.api,
            intent.about,
            intent.reason,
            intent.message,
            intent.type,
            now=datetime.now(UTC),
            limiter=self.limiter,
        )

    async def load_checkpoint(self, policy: ObjectRef, *, shard: int | None = None) -> bytes | None:
        name, key = checkpoint_name(policy, shard), (policy.uid, shard)
        try:
            cp = await read_checkpoint(self.api, self.home, name)
        except CheckpointCorrupt as exc:
            log.warning("policy %s/%s: %s; starting afresh", policy.namespace, policy.name, exc)
            return None
        if cp is None:
            self.checkpoint_versions.pop(key, None)  # none (any more): the next write creates it
            return None
        self.checkpoint_versions[key] = cp.resource_version  # ours to overwrite either way
        if cp.policy_uid != policy.uid:  # left by a deleted policy of the same name: not our series
            log.info(
                "policy %s/%s: checkpoint %s is another policy's; starting afresh", *_where(policy), name
            )
            return None
        return cp.data

    async def save_checkpoint(self, policy: ObjectRef, blob: bytes, *, shard: int | None = None) -> None:
        name, key = checkpoint_name(policy, shard), (policy.uid, shard)
        for _ in range(3):  # after a conflict re-read the version; after a 404 create it again
            try:
                self.checkpoint_versions[key] = await write_checkpoint(
                    self.api,
                    self.home,
                    name,
                    blob,
                    policy,
                    resource_version=self.checkpoint_versions.get(key),
                )
                return
            except errors.NotFound:  # deleted by someone: the next write creates it afresh
                self.checkpoint_versions.pop(key, None)
            except errors.Conflict:
                current = await read_checkpoint(self.api, self.home, name)
                if current is None:
                    self.checkpoint_versions.pop(key, None)
                else:
                    self.checkpoint_versions[key] = current.resource_version
            except errors.CheckpointTooLarge as exc:
                log.warning("policy %s/%s: checkpoint not saved: %s", *_where(policy), exc)
                return

    async def delete_checkpoint(self, policy: ObjectRef) -> None:
        for shard in [None, *range(self.shards)]:
            self.checkpoint_versions.pop((policy.uid, shard), None)
            if await delete_checkpoint(self.api, self.home, checkpoint_name(policy, shard)):
                log.info(
                    "policy %s/%s: deleted checkpoint %s", *_where(policy), checkpoint_name(policy, shard)
                )

    # --- remediation ------------------------------------------------------------------------------
    async def read_workload(self, ref: ObjectRef) -> dict[str, Any]:
        obj = await read_workload(self.api, _apps(ref))
        actual = (obj.get("metadata") or {}).get("uid", "")
        if ref.uid and actual != ref.uid:  # the name now belongs to another object (or never did)
            raise errors.Rejected(
                0,
                Reason.OWNER_MISMATCH,
                f"{ref.kind} {ref.name} is object {actual}, not {ref.uid} that the pods name as owner",
            )
        return obj

    async def list_pdbs(self, namespace: str) -> list[dict[str, Any]]:
        return await list_pdbs(self.api, namespace)

    async def read_pod(self, namespace: str, name: str) -> dict[str, Any]:
        return await read_pod(self.api, namespace, name)

    async def restart_workload(self, ref: ObjectRef, at: datetime, *, dry_run: bool) -> None:
        await restart_workload(self.api, _apps(ref), at, dry_run=dry_run)

    async def evict_pod(self, namespace: str, name: str, *, uid: str, dry_run: bool) -> None:
        try:
            await evict_pod(self.api, namespace, name, uid=uid, dry_run=dry_run)
        except errors.TooManyRequests as exc:  # a PDB said no: retry later, never delete instead
            blocked = EvictionBlocked(f"pod {namespace}/{name}: {exc}")
            blocked.retry_after = exc.retry_after
            raise blocked from exc

    async def read_namespace(self, name: str) -> dict[str, Any]:
        return await self.api.get(f"/api/v1/namespaces/{name}")

    async def read_ledger(self) -> ActionLedger:
        entries, version = await read_ledger(self.api, self.home)
        try:
            return ActionLedger(tuple(_entry(e) for e in entries), version)
        except (KeyError, TypeError, ValueError) as exc:
            raise LedgerCorrupt(
                f"ConfigMap {self.home}/leakpatrol-actions: an entry does not read: {exc}"
            ) from exc

    async def write_ledger(self, ledger: ActionLedger) -> None:
        entries = [
            {
                "time": e.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "policy": e.policy,
                "workload": e.workload,
                "action": e.action,
            }
            for e in ledger.entries
        ]
        try:
            await write_ledger(self.api, self.home, entries, ledger.version)
        except errors.Conflict as exc:  # created or moved on meanwhile: the caller re-reads
            raise LedgerConflict(str(exc)) from exc

    async def save_evidence(self, capture: EvidenceCapture, *, keep: int) -> StoredEvidence:
        async with self.evidence_turn:  # one at a time in this process: each counts the last one in
            namespace, name = await save_evidence(
                self.api,
                self.home,
                policy=capture.policy,
                workload=capture.workload,
                pod=capture.pod,
                at=capture.time,
                files=dict(capture.files),
                keep=keep,
                limits=self.evidence,
            )
        return StoredEvidence(namespace, name)

    async def delete_evidence(self, policy: ObjectRef) -> None:
        try:
            gone = await delete_policy_evidence(self.api, self.home, policy.uid)
        except errors.Forbidden as exc:  # no remediation RBAC (chart remediation.enabled off): none kept
            log.debug("policy %s/%s: evidence not listed: %s", *_where(policy), exc)
            return
        if gone:
            log.info("policy %s/%s: deleted %d piece(s) of evidence", *_where(policy), gone)


def _apps(ref: ObjectRef) -> ObjectRef:
    """The ref itself if it is an apps/v1 workload; `Rejected` for anything else. Never rewritten:
    an owner written as `evil.example/v1 Deployment billing` is not the Deployment `billing`."""
    if ref.api_version != "apps/v1" or ref.kind not in (
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "ReplicaSet",
    ):
        raise errors.Rejected(
            0,
            Reason.UNSUPPORTED_WORKLOAD,
            f"{ref.api_version} {ref.kind} {ref.name} is not an apps/v1 workload",
        )
    return ref


def _entry(e: dict[str, Any]) -> LedgerEntry:
    time = datetime.fromisoformat(str(e["time"]))
    if time.tzinfo is None:
        raise ValueError(f"time {e['time']!r} has no zone")
    return LedgerEntry(time, str(e["policy"]), str(e["workload"]), str(e["action"]))


def _where(policy: ObjectRef) -> tuple[str, str]:
    return policy.namespace or "", policy.name
