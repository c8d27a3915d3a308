"""`write_evidence()` / `list_evidence()` / `delete_evidence()`: saved profiles in ConfigMaps.

Like checkpoints they live in the operator's own namespace (its only ConfigMap write access), carry
the policy's uid and the who/when as labels instead of ownerReferences, and store the profiles as
`binaryData`. The caller bounds how many a policy keeps; the size is bounded here.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime

from leakpatrol.core import Obj, ObjectRef
from leakpatrol.kube.client import ApiClient
from leakpatrol.kube.configmaps import POLICY_ANNOTATION, POLICY_UID
from leakpatrol.kube.errors import CheckpointTooLarge, NotFound

COMPONENT = "evidence"
MAX_EVIDENCE_BYTES = 700 << 10  # base64 adds a third: stays under the 1 MiB object limit
LABEL_NAMESPACE = "leakpatrol.dev/namespace"
LABEL_WORKLOAD = "leakpatrol.dev/workload"
LABEL_POD = "leakpatrol.dev/pod"
LABEL_POLICY = "leakpatrol.dev/policy"
LABEL_TIME = "leakpatrol.dev/captured-at"  # unix seconds: sortable, and a valid label value


def evidence_name(policy: ObjectRef, pod: str, at: datetime) -> str:
    name = f"leakpatrol-evidence.{policy.namespace}.{pod}.{int(at.timestamp())}"
    if len(name) <= 253:
        return name
    digest = hashlib.sha256(f"{policy.namespace}/{pod}".encode()).hexdigest()[:20]
    return f"leakpatrol-evidence.{digest}.{int(at.timestamp())}"


def _label(value: str) -> str:
    """A label value: at most 63 of [A-Za-z0-9_.-], starting and ending alphanumeric."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", value)[:63].strip("_.-") or "none"


async def write_evidence(
    api: ApiClient,
    namespace: str,
    *,
    policy: ObjectRef,
    workload: ObjectRef,
    pod: str,
    at: datetime,
    files: dict[str, bytes],
) -> str:
    """Create the ConfigMap; returns its name. Raises `CheckpointTooLarge` before any request."""
    name = evidence_name(policy, pod, at)
    size = sum(map(len, files.values()))
    if size > MAX_EVIDENCE_BYTES:
        raise CheckpointTooLarge(name, size, MAX_EVIDENCE_BYTES)
    labels = {
        "app.kubernetes.io/managed-by": "leakpatrol",
        "app.kubernetes.io/component": COMPONENT,
        POLICY_UID: policy.uid,
        LABEL_POLICY: _label(policy.name),
        LABEL_NAMESPACE: _label(policy.namespace or ""),
        LABEL_WORKLOAD: _label(f"{workload.kind}.{workload.name}"),
        LABEL_POD: _label(pod),
        LABEL_TIME: str(int(at.timestamp())),
    }
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {
                POLICY_ANNOTATION: f"{policy.namespace}/{policy.name}",
                "leakpatrol.dev/workload": f"{workload.kind}/{workload.name}",
                "leakpatrol.dev/captured-at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        },
        "binaryData": {k: base64.b64encode(v).decode() for k, v in files.items()},
    }
    await api.post(f"/api/v1/namespaces/{namespace}/configmaps", body)
    return name


async def list_evidence(api: ApiClient, namespace: str, policy_uid: str) -> list[Obj]:
    """The policy's evidence ConfigMaps, oldest first."""
    selector = f"app.kubernetes.io/component={COMPONENT},{POLICY_UID}={policy_uid}"
    page = await api.get(f"/api/v1/namespaces/{namespace}/configmaps", {"labelSelector": selector})
    items: list[Obj] = list(page.get("items") or [])
    return sorted(items, key=lambda cm: int((cm["metadata"].get("labels") or {}).get(LABEL_TIME, "0")))


async def delete_evidence(api: ApiClient, namespace: str, name: str) -> bool:
    try:
        await api.delete(f"/api/v1/namespaces/{namespace}/configmaps/{name}")
    except NotFound:
        return False
    return True
