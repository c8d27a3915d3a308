"""`read_checkpoint()` / `write_checkpoint()`: a policy's compact state in a ConfigMap it owns.

The payload arrives compressed (`leakpatrol.detect.checkpoint.encode`) and is stored as it is in
`binaryData` (which the API carries as base64), capped well under the 1 MiB object limit, and owned
by the policy so the garbage collector deletes it with the policy. Writes are conditional on the
resourceVersion the caller last saw: two operator replicas (or a restart racing the old one) can
never silently overwrite each other.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from leakpatrol.core import MAX_CHECKPOINT_BYTES, CheckpointCorrupt, ObjectRef
from leakpatrol.kube.client import ApiClient
from leakpatrol.kube.errors import CheckpointTooLarge, NotFound

KEY = "checkpoint.zlib"
LABELS = {"app.kubernetes.io/managed-by": "leakpatrol", "app.kubernetes.io/component": "checkpoint"}


@dataclass(frozen=True)
class Checkpoint:
    data: bytes
    resource_version: str


async def read_checkpoint(api: ApiClient, namespace: str, name: str) -> Checkpoint | None:
    """The stored bytes and the resourceVersion to write against, or None if there is none."""
    try:
        cm = await api.get(_path(namespace, name))
    except NotFound:
        return None
    encoded = (cm.get("binaryData") or {}).get(KEY)
    if encoded is None:
        raise CheckpointCorrupt(f"checkpoint {name} has no binaryData key {KEY!r}")
    return Checkpoint(_decode(name, encoded), cm["metadata"]["resourceVersion"])


async def write_checkpoint(
    api: ApiClient,
    namespace: str,
    name: str,
    data: bytes,
    owner: ObjectRef,
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
            "labels": LABELS,
            "ownerReferences": [owner.owner_reference()],
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


def _path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps/{name}"


def _decode(name: str, encoded: str) -> bytes:
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise CheckpointCorrupt(f"checkpoint {name} is not base64: {exc}") from exc
