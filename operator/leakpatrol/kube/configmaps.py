"""`read_checkpoint()` / `write_checkpoint()` / `delete_checkpoint()`: a policy's compact state.

Checkpoints live in the operator's own namespace (a namespaced Role there is the only ConfigMap
write the operator holds: never a ClusterRole that could rewrite `kube-system`). A policy in
another namespace cannot own them (cross-namespace ownerReferences are invalid, and the garbage
collector deletes such dependents), so they carry the policy's uid as a label instead: a checkpoint
of an older policy with the same name is never restored, and the operator deletes a policy's
checkpoint when the policy goes.

The payload arrives compressed (`leakpatrol.detect.checkpoint.encode`) and is stored as it is in
`binaryData` (which the API carries as base64), capped well under the 1 MiB object limit. Writes
are conditional on the resourceVersion the caller last saw: two operator replicas (or a restart
racing the old one) can never silently overwrite each other.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any

from leakpatrol.core import MAX_CHECKPOINT_BYTES, CheckpointCorrupt, ObjectRef
from leakpatrol.kube.client import ApiClient
from leakpatrol.kube.errors import CheckpointTooLarge, NotFound

KEY = "checkpoint.zlib"
LABELS = {"app.kubernetes.io/managed-by": "leakpatrol", "app.kubernetes.io/component": "checkpoint"}
POLICY_UID = "leakpatrol.dev/policy-uid"
POLICY_ANNOTATION = "leakpatrol.dev/policy"  # namespace/name, for people


def checkpoint_name(policy: ObjectRef, shard: int | None = None) -> str:
    """`leakpatrol-checkpoint.<namespace>.<policy>`: unambiguous, since a namespace has no dots.
    With `--sharding`, one per shard: `...<policy>.shard-<n>` (a policy name may have dots, but
    never this suffix after the names of two objects that both exist: the suffix ends in digits
    after a `-`, and the unsharded name of a policy `x.shard-1` is never written when sharding)."""
    suffix = "" if shard is None else f".shard-{shard}"
    name = f"leakpatrol-checkpoint.{policy.namespace}.{policy.name}{suffix}"
    if len(name) <= 253:
        return name
    digest = hashlib.sha256(f"{policy.namespace}/{policy.name}".encode()).hexdigest()[:20]
    return f"leakpatrol-checkpoint.{digest}{suffix}"


@dataclass(frozen=True)
class Checkpoint:
    data: bytes
    resource_version: str
    policy_uid: str = ""  # the uid of the policy that wrote it


async def read_checkpoint(api: ApiClient, namespace: str, name: str) -> Checkpoint | None:
    """The stored bytes and the resourceVersion to write against, or None if there is none."""
    try:
        cm = await api.get(_path(namespace, name))
    except NotFound:
        return None
    encoded = (cm.get("binaryData") or {}).get(KEY)
    if encoded is None:
        raise CheckpointCorrupt(f"checkpoint {name} has no binaryData key {KEY!r}")
    labels = cm["metadata"].get("labels") or {}
    return Checkpoint(_decode(name, encoded), cm["metadata"]["resourceVersion"], labels.get(POLICY_UID, ""))


async def write_checkpoint(
    api: ApiClient,
    namespace: str,
    name: str,
    data: bytes,
    policy: ObjectRef,
    *,
    resource_version: str | None = None,
    max_bytes: int = MAX_CHECKPOINT_BYTES,
) -> str:
    """Store `data`; returns the new resourceVersion for the next write.

    `resource_version=None` creates (Conflict if it exists: read it first); otherwise the write
    succeeds only if the ConfigMap is still at that version (Conflict: re-read, merge, retry).
    Raises `CheckpointTooLarge` before any request when `data` (compressed) is over `max_bytes`.
    """
    if len(data) > max_bytes:
        raise CheckpointTooLarge(name, len(data), max_bytes)
    body: dict[str, Any] = {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": LABELS | {POLICY_UID: policy.uid},
            "annotations": {POLICY_ANNOTATION: f"{policy.namespace}/{policy.name}"},
        },
        "binaryData": {KEY: base64.b64encode(data).decode()},
    }
    if resource_version is None:
        body.update(apiVersion="v1", kind="ConfigMap")
        created = await api.post(f"/api/v1/namespaces/{namespace}/configmaps", body)
        return str(created["metadata"]["resourceVersion"])
    body["metadata"]["resourceVersion"] = resource_version  # the precondition
    patched = await api.patch(_path(namespace, name), body)
    return str(patched["metadata"]["resourceVersion"])


async def delete_checkpoint(api: ApiClient, namespace: str, name: str) -> bool:
    """Delete it; False when there was none."""
    try:
        await api.delete(_path(namespace, name))
    except NotFound:
        return False
    return True


def _path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps/{name}"


def _decode(name: str, encoded: str) -> bytes:
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise CheckpointCorrupt(f"checkpoint {name} is not base64: {exc}") from exc
