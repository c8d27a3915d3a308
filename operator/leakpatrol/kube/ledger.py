"""`read_ledger()` / `write_ledger()`: the cluster-wide ledger of remediation actions.

One ConfigMap, `leakpatrol-actions`, in the operator's own namespace (where its Role may write
ConfigMaps, and no tenant may): the actions of the last hour as JSON, one object each. Every write
is conditional — a create fails if another replica created it first, a patch if the resourceVersion
moved — so two replicas (or two policies) can never both take the last action of the hour: both
raise `Conflict` (409), and the caller re-reads.
"""

from __future__ import annotations

import json
from typing import Any

from leakpatrol.core import Obj, Permanent
from leakpatrol.kube.client import ApiClient
from leakpatrol.kube.errors import KubeError, NotFound
from leakpatrol.reasons import Reason

NAME = "leakpatrol-actions"
KEY = "actions.json"
LABELS = {"app.kubernetes.io/managed-by": "leakpatrol", "app.kubernetes.io/component": "action-ledger"}


class LedgerCorrupt(KubeError, Permanent):  # noqa: N818
    """The stored ledger is not what leakpatrol writes (edited by hand?): delete it to start over.
    Until then no action is taken: its count is unknown."""

    reason = Reason.ACTION_LEDGER_CORRUPT


async def read_ledger(api: ApiClient, namespace: str) -> tuple[list[Obj], str | None]:
    """The entries and the resourceVersion to write against; ([], None) when there is none."""
    try:
        cm = await api.get(_path(namespace))
    except NotFound:
        return [], None
    text = (cm.get("data") or {}).get(KEY, "[]")
    try:
        entries: Any = json.loads(text)
    except ValueError as exc:
        raise LedgerCorrupt(f"ConfigMap {namespace}/{NAME}: {KEY} is not JSON: {exc}") from exc
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise LedgerCorrupt(f"ConfigMap {namespace}/{NAME}: {KEY} is not a list of objects")
    return entries, str(cm["metadata"]["resourceVersion"])


async def write_ledger(
    api: ApiClient, namespace: str, entries: list[Obj], resource_version: str | None
) -> str:
    """Store `entries`: create (None) or patch at `resource_version`; `Conflict` if either lost a race."""
    body: Obj = {
        "metadata": {"name": NAME, "namespace": namespace, "labels": LABELS},
        "data": {KEY: json.dumps(entries, separators=(",", ":"))},
    }
    if resource_version is None:
        body.update(apiVersion="v1", kind="ConfigMap")
        created = await api.post(f"/api/v1/namespaces/{namespace}/configmaps", body)
        return str(created["metadata"]["resourceVersion"])
    body["metadata"]["resourceVersion"] = resource_version  # the precondition
    patched = await api.patch(_path(namespace), body)
    return str(patched["metadata"]["resourceVersion"])


async def delete_ledger(api: ApiClient, namespace: str) -> bool:
    """The ledger gone (the operator's uninstall); False when there was none."""
    try:
        await api.delete(_path(namespace))
    except NotFound:
        return False
    return True


def _path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps/{NAME}"
