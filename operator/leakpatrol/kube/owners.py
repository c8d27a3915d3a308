"""`resolve_workload()`: the workload a pod belongs to, by following controller ownerReferences.

Pod → ReplicaSet → Deployment and Pod → Job → CronJob take one read of the middle object;
StatefulSet, DaemonSet and other controllers own their pods directly; a pod without a controller
is its own workload. Caching the answer (per ReplicaSet, say) is the caller's business.

An ownerReference is whatever the pod's author wrote: a ReplicaSet or Job it names is read and its
uid must be the one named, or the pod is its own workload. The last hop (the Deployment) is
checked where it matters, by whoever acts on it: `KubeCluster.read_workload` compares the uid, the
workload's own selector must select the pods (`controller.remediation.rails.selects`), the restart
patch carries the uid as a precondition the API server enforces, and so does an eviction the pod's.
"""

from __future__ import annotations

from leakpatrol.core import Obj, ObjectRef
from leakpatrol.kube.client import ApiClient
from leakpatrol.kube.errors import NotFound

# Owners that are themselves usually owned by the workload a person thinks of, and their plurals.
_INTERMEDIATE = {("apps/v1", "ReplicaSet"): "replicasets", ("batch/v1", "Job"): "jobs"}


async def resolve_workload(api: ApiClient, pod: Obj) -> tuple[str, str]:
    """(kind, name), e.g. ("Deployment", "web") or ("Pod", "debug-shell")."""
    ref = await resolve_workload_ref(api, pod)
    return ref.kind, ref.name


async def resolve_workload_ref(api: ApiClient, pod: Obj) -> ObjectRef:
    """The workload as an `ObjectRef` (uid included, from the ownerReferences), e.g. for its Events."""
    namespace = pod["metadata"]["namespace"]
    owner = controller_of(pod, namespace)
    if owner is None or owner.kind == "Node":  # static (mirror) pods are owned by their Node
        return ObjectRef.of(pod, api_version="v1", kind="Pod")
    plural = _INTERMEDIATE.get((owner.api_version, owner.kind))
    if plural is None:
        return owner
    try:
        middle = await api.get(f"/apis/{owner.api_version}/namespaces/{namespace}/{plural}/{owner.name}")
    except NotFound:
        return owner  # being deleted (an old ReplicaSet mid-rollout): the owner is the best we know
    if (middle.get("metadata") or {}).get("uid") != owner.uid:  # names an owner it does not have
        return ObjectRef.of(pod, api_version="v1", kind="Pod")
    return controller_of(middle, namespace) or owner


def controller_of(obj: Obj, namespace: str) -> ObjectRef | None:
    """The ownerReference with `controller: true` (at most one exists), as an `ObjectRef`."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return ObjectRef(ref["apiVersion"], ref["kind"], ref["name"], ref["uid"], namespace)
    return None
