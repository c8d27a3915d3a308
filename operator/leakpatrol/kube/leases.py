"""`get_lease()` / `list_leases()` / `create_lease()` / `replace_lease()` / `delete_lease()`:
coordination.k8s.io/v1 Leases, one verb each.

Leader election (see `leadership`) writes only with a precondition: a create fails with 409 when
someone created the Lease first, and a replace carries the resourceVersion it read, so two replicas
that decide at the same moment cannot both win: the second write is a `Conflict`.
"""

from __future__ import annotations

from leakpatrol.core import Obj
from leakpatrol.kube.client import ApiClient
from leakpatrol.kube.errors import NotFound
from leakpatrol.kube.pods import selector_string

API_VERSION = "coordination.k8s.io/v1"


def _collection(namespace: str) -> str:
    return f"/apis/{API_VERSION}/namespaces/{namespace}/leases"


async def get_lease(api: ApiClient, namespace: str, name: str) -> Obj | None:
    """The Lease as stored, or None when there is none yet."""
    try:
        return await api.get(f"{_collection(namespace)}/{name}")
    except NotFound:
        return None


async def list_leases(api: ApiClient, namespace: str, labels: dict[str, str]) -> list[Obj]:
    """The Leases carrying `labels` (the member Leases of one group)."""
    selector = selector_string({"matchLabels": labels})
    listed = await api.get(_collection(namespace), params={"labelSelector": selector})
    items: list[Obj] = listed.get("items") or []
    return items


async def create_lease(
    api: ApiClient, namespace: str, name: str, spec: Obj, labels: dict[str, str] | None = None
) -> Obj:
    """Create it holding `spec`; `Conflict` (AlreadyExists) when another replica was first."""
    metadata: Obj = {"name": name} | ({"labels": labels} if labels else {})
    body = {"apiVersion": API_VERSION, "kind": "Lease", "metadata": metadata, "spec": spec}
    return await api.post(_collection(namespace), body)


async def replace_lease(
    api: ApiClient,
    namespace: str,
    name: str,
    spec: Obj,
    resource_version: str,
    *,
    labels: dict[str, str] | None = None,
) -> Obj:
    """Write `spec` if the Lease is still at `resource_version`; `Conflict` when it moved on."""
    metadata: Obj = {"name": name, "resourceVersion": resource_version} | (
        {"labels": labels} if labels else {}
    )
    body = {"apiVersion": API_VERSION, "kind": "Lease", "metadata": metadata, "spec": spec}
    return await api.put(f"{_collection(namespace)}/{name}", body)


async def delete_lease(api: ApiClient, namespace: str, name: str) -> None:
    """Delete it (a member Lease long abandoned); gone already is fine."""
    try:
        await api.delete(f"{_collection(namespace)}/{name}")
    except NotFound:
        return
