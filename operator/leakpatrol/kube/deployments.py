"""`scale_to_zero()`: stop a Deployment's pods (the operator's own, before its uninstall), and
`pods_left()`: how many of them still run."""

from __future__ import annotations

from leakpatrol.core import Obj
from leakpatrol.kube.client import ApiClient, PatchType
from leakpatrol.kube.errors import NotFound
from leakpatrol.kube.pods import list_pods, selector_string


async def scale_to_zero(api: ApiClient, namespace: str, name: str) -> str | None:
    """Set replicas to 0; returns the pods' label selector, or None when there is no such Deployment."""
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
    try:
        patched = await api.patch(path, {"spec": {"replicas": 0}}, content_type=PatchType.MERGE)
    except NotFound:
        return None
    return selector_string(patched["spec"]["selector"])


async def pods_left(api: ApiClient, namespace: str, selector: str, *, own_pod: str = "") -> int:
    """The Deployment's pods still there. Never the caller's own pod (`own_pod`, its name) nor a
    Job's: the uninstall hook runs in a Job pod and must not wait for itself, whatever labels a
    chart gives it."""
    return sum(
        1
        for pod in await list_pods(api, namespace, selector)
        if pod["metadata"]["name"] != own_pod and not _owned_by_job(pod)
    )


def _owned_by_job(pod: Obj) -> bool:
    owners = pod["metadata"].get("ownerReferences") or []
    return any(o.get("kind") == "Job" and o.get("apiVersion") == "batch/v1" for o in owners)
