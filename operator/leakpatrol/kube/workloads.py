"""`read_workload()` / `list_pdbs()`: what the remediation rails read before a restart."""

from __future__ import annotations

from leakpatrol.core import Obj, ObjectRef
from leakpatrol.kube.client import ApiClient

PLURALS = {
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "DaemonSet": "daemonsets",
    "ReplicaSet": "replicasets",
}


def workload_path(ref: ObjectRef) -> str:
    """The API path of an apps/v1 workload; ValueError for any other kind (nothing to restart)."""
    plural = PLURALS.get(ref.kind)
    if plural is None or ref.api_version != "apps/v1":
        raise ValueError(f"{ref.api_version} {ref.kind} is not an apps/v1 workload")
    return f"/apis/apps/v1/namespaces/{ref.namespace}/{plural}/{ref.name}"


async def read_workload(api: ApiClient, ref: ObjectRef) -> Obj:
    return await api.get(workload_path(ref))


async def list_pdbs(api: ApiClient, namespace: str) -> list[Obj]:
    """Every PodDisruptionBudget of the namespace (few per namespace: no paging); selector
    matching is the rails' business, since a PDB selects pods, not workloads."""
    page = await api.get(f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets")
    return list(page.get("items") or [])
