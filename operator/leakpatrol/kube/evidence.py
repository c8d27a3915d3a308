"""Evidence ConfigMaps (the saved profiles): bounded, owned by their policy, readable by its team.

Where the profiles live is the admin's choice (`EvidenceLimits.in_policy_namespace`,
`--evidence-namespace`):

- `home` (the default): in the operator's own namespace, like the checkpoints. Only people who may
  read that namespace read them.
- `policy`: in the policy's own namespace, owned by the LeakPolicy (an ownerReference: Kubernetes
  deletes them with it even when the operator is down), so the team that may read ConfigMaps
  there reads its own evidence and no other team's. It costs a grant of ConfigMap create and delete
  where LeakPolicies live; the operator creates only `leakpatrol-evidence.*` and deletes only what
  its ledger names, by uid.

Either way every piece of evidence has one *receipt* in the home namespace, a ConfigMap labelled
with the policy (uid and name), its namespace, workload, pod, time and size: in `home` mode the
evidence itself, in `policy` mode a data-less one naming where the profiles are. The receipts are
the ledger the caps are counted on: one metadata-only LIST of the home namespace, which only the
operator writes, so no tenant can forge, hide or inflate an entry. Before a new one is written:

    the policy's own newest `keep` - 1 stay (the new one makes `keep`)
    the namespace's budget (count and bytes): its oldest go, whichever of its policies took them
    the global cap (count and bytes): never made room for by deleting another namespace's
        evidence; the new one is refused instead (`EvidenceStoreFull`), and the action waits

and after it is written the ledger is read again: if a replica wrote at the same time and the two
together went over, ours is deleted and refused (fail closed). When the policy is deleted, its
receipts and what they name go (`delete_policy_evidence`, run by the policy's finalizer).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from leakpatrol.core import Obj, ObjectRef
from leakpatrol.kube.client import ApiClient
from leakpatrol.kube.configmaps import POLICY_ANNOTATION, POLICY_UID
from leakpatrol.kube.errors import CheckpointTooLarge, Conflict, EvidenceStoreFull, NotFound

log = logging.getLogger(__name__)

COMPONENT = "evidence"
MAX_EVIDENCE_BYTES = 700 << 10  # base64 adds a third: stays under the 1 MiB object limit
LABEL_NAMESPACE = "leakpatrol.dev/namespace"
LABEL_WORKLOAD = "leakpatrol.dev/workload"
LABEL_POD = "leakpatrol.dev/pod"
LABEL_POLICY = "leakpatrol.dev/policy"
LABEL_TIME = "leakpatrol.dev/captured-at"  # unix seconds: sortable, and a valid label value
BYTES = "leakpatrol.dev/bytes"  # annotation of a receipt: the profiles' size (before base64)
STORED_IN = "leakpatrol.dev/stored-in"  # annotation of a data-less receipt: <namespace>/<name>
STORED_UID = "leakpatrol.dev/stored-uid"  # ... and the uid of that ConfigMap
SELECTOR = f"app.kubernetes.io/component={COMPONENT},app.kubernetes.io/managed-by=leakpatrol"
# Metadata only: a list of the ledger never carries the profiles themselves (a real API server
# answers with PartialObjectMetadataList; a server that cannot, with the full list).
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"


@dataclass(frozen=True, slots=True)
class EvidenceLimits:
    """The admin's caps (operator flags `--evidence-*`, chart values `evidence.*`)."""

    max_count: int = 50  # ConfigMaps of evidence, every namespace together
    max_bytes: int = 32 << 20  # their profiles' bytes (etcd stores a third more: base64)
    namespace_count: int = 10  # one namespace's, every policy there together
    namespace_bytes: int = 4 << 20
    in_policy_namespace: bool = False  # profiles in the policy's namespace, not the operator's


@dataclass(frozen=True, slots=True)
class Entry:
    """One receipt of the ledger."""

    name: str  # the receipt's name, in the home namespace
    policy_uid: str
    namespace: str  # the policy's namespace (the tenant it is counted against)
    size: int
    time: int  # unix seconds, when captured
    stored_in: str = ""  # "<namespace>/<name>" of the profiles when not the receipt itself
    stored_uid: str = ""

    @classmethod
    def of(cls, cm: Obj) -> Entry:
        md = cm.get("metadata") or {}
        labels, notes = md.get("labels") or {}, md.get("annotations") or {}
        where = str(notes.get(POLICY_ANNOTATION, "")).partition("/")[0]
        size, at = str(notes.get(BYTES, "")), str(labels.get(LABEL_TIME, "0"))
        return cls(
            name=str(md.get("name", "")),
            policy_uid=str(labels.get(POLICY_UID, "")),
            namespace=where or str(labels.get(LABEL_NAMESPACE, "")),
            size=int(size) if size.isdigit() else MAX_EVIDENCE_BYTES,  # unknown: counted at the most
            time=int(at) if at.isdigit() else 0,
            stored_in=str(notes.get(STORED_IN, "")),
            stored_uid=str(notes.get(STORED_UID, "")),
        )


def plan(
    ledger: Iterable[Entry], *, policy_uid: str, namespace: str, size: int, keep: int, limits: EvidenceLimits
) -> tuple[list[Entry], str | None]:
    """What goes to make room for one new piece of evidence of `size` bytes from a policy in
    `namespace`, oldest first; or why it cannot be saved (and then nothing goes)."""
    entries = sorted(ledger, key=lambda e: (e.time, e.name))
    own = [e for e in entries if e.policy_uid == policy_uid]
    doomed = own[: max(0, len(own) - max(0, keep - 1))]
    if size > limits.namespace_bytes:
        return (
            [],
            f"{size} bytes of profiles are over the namespace's budget of {_mib(limits.namespace_bytes)}",
        )
    tenant = [e for e in entries if e.namespace == namespace and e not in doomed]
    while tenant and (
        len(tenant) + 1 > limits.namespace_count
        or sum(e.size for e in tenant) + size > limits.namespace_bytes
    ):
        doomed.append(tenant.pop(0))
    if len(tenant) + 1 > limits.namespace_count:
        return [], f"the namespace's budget is {limits.namespace_count} ConfigMap(s) of evidence"
    rest = [e for e in entries if e not in doomed]
    count, total = len(rest) + 1, sum(e.size for e in rest) + size
    if count > limits.max_count or total > limits.max_bytes:
        return [], (
            f"the operator's evidence store is full: {len(rest)} ConfigMap(s), {_mib(total - size)} of"
            f" at most {limits.max_count} and {_mib(limits.max_bytes)} (--evidence-max-count,"
            " --evidence-max-mb); another namespace's evidence is never deleted to make room"
        )
    return doomed, None


def over(ledger: Sequence[Entry], limits: EvidenceLimits, namespace: str) -> bool:
    """The ledger holds more than the caps allow (after a write raced another replica's)."""
    tenant = [e for e in ledger if e.namespace == namespace]
    return (
        len(ledger) > limits.max_count
        or sum(e.size for e in ledger) > limits.max_bytes
        or len(tenant) > limits.namespace_count
        or sum(e.size for e in tenant) > limits.namespace_bytes
    )


def evidence_name(policy: ObjectRef, pod: str, at: datetime) -> str:
    """`leakpatrol-evidence.<namespace>.<policy>.<pod>.<unix>`: two policies over one pod save in
    the same second without a clash."""
    name = f"leakpatrol-evidence.{policy.namespace}.{policy.name}.{pod}.{int(at.timestamp())}"
    if len(name) <= 253:
        return name
    digest = hashlib.sha256(f"{policy.namespace}/{policy.name}/{pod}".encode()).hexdigest()[:20]
    return f"leakpatrol-evidence.{digest}.{int(at.timestamp())}"


def _label(value: str) -> str:
    """A label value: at most 63 of [A-Za-z0-9_.-], starting and ending alphanumeric."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", value)[:63].strip("_.-") or "none"


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


async def ledger(api: ApiClient, home: str) -> list[Entry]:
    page = await api.get(
        f"/api/v1/namespaces/{home}/configmaps", {"labelSelector": SELECTOR}, accept=METADATA_ONLY
    )
    return [Entry.of(cm) for cm in page.get("items") or []]


async def save_evidence(
    api: ApiClient,
    home: str,
    *,
    policy: ObjectRef,
    workload: ObjectRef,
    pod: str,
    at: datetime,
    files: dict[str, bytes],
    keep: int,
    limits: EvidenceLimits,
) -> tuple[str, str]:
    """Make room, write, check; (namespace, name) of the ConfigMap with the profiles. Raises
    `CheckpointTooLarge` (one capture over its cap) or `EvidenceStoreFull` before anything is
    deleted or written, and the API's errors."""
    name, size = evidence_name(policy, pod, at), sum(map(len, files.values()))
    if size > MAX_EVIDENCE_BYTES:
        raise CheckpointTooLarge(name, size, MAX_EVIDENCE_BYTES)
    namespace = policy.namespace or "default"
    doomed, refusal = plan(
        await ledger(api, home),
        policy_uid=policy.uid,
        namespace=namespace,
        size=size,
        keep=keep,
        limits=limits,
    )
    if refusal is not None:
        raise EvidenceStoreFull(f"profiles of pod {pod} not saved: {refusal}")
    for entry in doomed:
        await delete_entry(api, home, entry)
    meta = _metadata(policy, workload, pod, at, size)
    data = {k: base64.b64encode(v).decode() for k, v in files.items()}
    receipt = Entry(name, policy.uid, namespace, size, int(at.timestamp()))
    if limits.in_policy_namespace:
        owned = meta | {"name": name, "namespace": namespace, "ownerReferences": [policy.owner_reference()]}
        stored = await api.post(f"/api/v1/namespaces/{namespace}/configmaps", _configmap(owned, data))
        uid = str(stored["metadata"].get("uid", ""))
        receipt = replace(receipt, stored_in=f"{namespace}/{name}", stored_uid=uid)
        where = {STORED_IN: receipt.stored_in, STORED_UID: uid}
        try:
            await api.post(
                f"/api/v1/namespaces/{home}/configmaps",
                _configmap(meta | {"name": name, "annotations": meta["annotations"] | where}),
            )
        except BaseException:
            await _delete(api, namespace, name, uid)  # never profiles without their receipt
            raise
    else:
        namespace = home
        await api.post(f"/api/v1/namespaces/{home}/configmaps", _configmap(meta | {"name": name}, data))
    if over(await ledger(api, home), limits, receipt.namespace):  # raced another replica's write
        await delete_entry(api, home, receipt)
        raise EvidenceStoreFull(f"profiles of pod {pod} not saved: another write took the room first")
    return namespace, name


def _configmap(metadata: Obj, data: dict[str, str] | None = None) -> Obj:
    cm: Obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}
    return cm if data is None else cm | {"binaryData": data}


def _metadata(policy: ObjectRef, workload: ObjectRef, pod: str, at: datetime, size: int) -> Obj:
    return {
        "labels": {
            "app.kubernetes.io/managed-by": "leakpatrol",
            "app.kubernetes.io/component": COMPONENT,
            POLICY_UID: policy.uid,
            LABEL_POLICY: _label(policy.name),
            LABEL_NAMESPACE: _label(policy.namespace or ""),
            LABEL_WORKLOAD: _label(f"{workload.kind}.{workload.name}"),
            LABEL_POD: _label(pod),
            LABEL_TIME: str(int(at.timestamp())),
        },
        "annotations": {
            POLICY_ANNOTATION: f"{policy.namespace}/{policy.name}",
            "leakpatrol.dev/workload": f"{workload.kind}/{workload.name}",
            "leakpatrol.dev/captured-at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            BYTES: str(size),
        },
    }


async def list_evidence(api: ApiClient, namespace: str, policy_uid: str) -> list[Obj]:
    """The policy's receipts in the home `namespace` (metadata only), oldest first."""
    selector = f"{SELECTOR},{POLICY_UID}={policy_uid}"
    page = await api.get(
        f"/api/v1/namespaces/{namespace}/configmaps", {"labelSelector": selector}, accept=METADATA_ONLY
    )
    items: list[Obj] = list(page.get("items") or [])
    return sorted(items, key=lambda cm: int((cm["metadata"].get("labels") or {}).get(LABEL_TIME, "0")))


async def delete_entry(api: ApiClient, home: str, entry: Entry) -> None:
    """The profiles (wherever they are) first, then the receipt: a receipt never outlives nothing."""
    if entry.stored_in:
        namespace, _, name = entry.stored_in.partition("/")
        await _delete(api, namespace, name, entry.stored_uid)
    await _delete(api, home, entry.name)


async def delete_policy_evidence(api: ApiClient, home: str, policy_uid: str) -> int:
    """Everything the ledger holds of one policy; how many pieces went."""
    receipts = await list_evidence(api, home, policy_uid)
    for cm in receipts:
        await delete_entry(api, home, Entry.of(cm))
    return len(receipts)


async def _delete(api: ApiClient, namespace: str, name: str, uid: str = "") -> bool:
    """By name, and by uid when known: a ConfigMap made under the name since (by a tenant, in its
    own namespace) is not ours, and is left alone."""
    body = {"preconditions": {"uid": uid}} if uid else None
    try:
        await api.delete(f"/api/v1/namespaces/{namespace}/configmaps/{name}", body)
    except NotFound:
        return False
    except Conflict:
        if not uid:
            raise
        log.info(
            "ConfigMap %s/%s is no longer the evidence we wrote (uid %s): left alone", namespace, name, uid
        )
        return False
    return True
