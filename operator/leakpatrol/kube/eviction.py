"""`evict_pod()`: one pod through the policy/v1 Eviction API, which honours PodDisruptionBudgets.

A budget that allows no disruption answers 429 (`TooManyRequests`): the caller retries later and
never falls back to deleting the pod, which would bypass the budget.
"""

from __future__ import annotations

from leakpatrol.kube.client import ApiClient


async def evict_pod(api: ApiClient, namespace: str, name: str, *, dry_run: bool) -> None:
    body: dict[str, object] = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": name, "namespace": namespace},
    }
    if dry_run:
        body["deleteOptions"] = {"dryRun": ["All"]}
    params = {"dryRun": "All"} if dry_run else None
    await api.post(f"/api/v1/namespaces/{namespace}/pods/{name}/eviction", body, params)
