"""`read_checkpoint()` / `write_checkpoint()`: a policy's compact state in a ConfigMap it owns.

The payload is zlib-compressed into `binaryData` (which the API carries as base64), capped well
under the 1 MiB object limit, and owned by the policy so the garbage collector deletes it with
the policy. Writes are conditional on the resourceVersion the caller last saw: two operator
replicas (or a restart racing the old one) can never silently overwrite each other.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import dataclass
from typing import Any

from leakpatrol.kube.client import ApiClient
from leakpatrol.kube.errors import CheckpointCorrupt, CheckpointTooLarge, NotFound
from leakpatrol.kube.refs import ObjectRef

KEY = "checkpoint.zlib"
# Compressed; base64 adds a third (683 KiB), leaving room under etcd's 1.5 MiB / the 1 MiB ConfigMap limit.
MAX_COMPRESSED_BYTES = 512 << 10
# Decompressed, on read: a hand-edited or hostile ConfigMap must not become a memory bomb.
MAX_DECOMPRESSED_BYTES = 64 << 20
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
        raise CheckpointCorrupt(name, f"no binaryData key {KEY!r}")
    return Checkpoint(_decode(name, encoded), cm["metadata"]["resourceVersion"])


async def write_checkpoint(
    api: ApiClient,
    namespace: str,
    name: str,
    data: bytes,
    owner: ObjectRef,
    *,
    resource_version: str | None = None,
    max_bytes: int = MAX_COMPRESSED_BYTES,
) -> str:
    """Store `data`; returns the new resourceVersion for the next write.

    `resource_version=None` creates (Conflict if it exists: read it first); otherwise the write
    succeeds only if the ConfigMap is still at that version (Conflict: re-read, merge, retry).
    Raises `CheckpointTooLarge` before any request when the compressed data is over `max_bytes`.
    """
    compressed = zlib.compress(data, 6)
    if len(compressed) > max_bytes:
        raise CheckpointTooLarge(name, len(compressed), max_bytes)
    body: dict[str, Any] = {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": LABELS,
            "annotations": {"leakpatrol.dev/checkpoint-bytes": str(len(data))},
            "ownerReferences": [owner.owner_reference()],
        },
        "binaryData": {KEY: base64.b64encode(compressed).decode()},
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
        inflater = zlib.decompressobj()
        data = inflater.decompress(base64.b64decode(encoded, validate=True), MAX_DECOMPRESSED_BYTES)
    except (binascii.Error, zlib.error) as exc:
        raise CheckpointCorrupt(name, str(exc)) from exc
    if inflater.unconsumed_tail:
        raise CheckpointCorrupt(name, f"over {MAX_DECOMPRESSED_BYTES} bytes decompressed")
    if not inflater.eof:
        raise CheckpointCorrupt(name, "the zlib stream is truncated")
    return data
