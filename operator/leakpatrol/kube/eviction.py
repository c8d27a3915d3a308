"""`evict_pod()`: one pod through the policy/v1 Eviction API, which honours PodDisruptionBudgets.

A budget that allows no disruption answers 429 (`TooManyRequests`): the caller retries later and
never falls back to deleting the pod, which would bypass the budget. The pod is named by its uid too
(`deleteOptions.preconditions.uid`): a pod deleted and re-created under the same name since it was
judged (a StatefulSet's, or one a tenant made up) is another process, and the API server answers
409 `Conflict` instead of evicting it.
"""

from __future__ import annotations

from leakpatrol.kube.client import ApiClient
from leakpatrol.kube.errors import Rejected
from leakpatrol.reasons import Reason


async def evict_pod(api: ApiClient, namespace: str, name: str, *, uid: str, dry_run: bool) -> None:
    """Raises `Rejected` (before any request) without a uid: never an eviction by name alone."""
    if not uid:
        raise Rejected(0, Reason.OWNER_MISMATCH, f"pod {namespace}/{name}: no uid to evict it by")
    options: dict[str, object] = {"preconditions": {"uid": uid}}
    if dry_run:
        options["dryRun"] = ["All"]
    body: dict[str, object] = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": name, "namespace": namespace},
        "deleteOptions": options,
    }
    params = {"dryRun": "All"} if dry_run else None
    await api.post(f"/api/v1/namespaces/{namespace}/pods/{name}/eviction", body, params)
