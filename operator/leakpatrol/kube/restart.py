"""`restart_workload()`: a rollout restart exactly as `kubectl rollout restart` does it.

kubectl patches the pod template's `kubectl.kubernetes.io/restartedAt` annotation with the current
time (RFC 3339); the changed template makes the controller roll out new pods under its own
strategy, surge and PDB-unaware pace, just like an image change would.
"""

from __future__ import annotations

from datetime import UTC, datetime

from leakpatrol.core import ObjectRef
from leakpatrol.kube.client import ApiClient, PatchType
from leakpatrol.kube.workloads import workload_path

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def restart_patch(at: datetime, uid: str = "") -> dict[str, object]:
    """`uid`: the object this restart is meant for. In the body it is a precondition the API server
    checks (409 Conflict when the name now belongs to another object), never a change."""
    stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    patch: dict[str, object] = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
    if uid:
        patch["metadata"] = {"uid": uid}
    return patch


async def restart_workload(api: ApiClient, ref: ObjectRef, at: datetime, *, dry_run: bool) -> None:
    """dry_run: the API server validates and authorizes the patch but stores nothing (dryRun=All)."""
    params = {"dryRun": "All"} if dry_run else None
    patch = restart_patch(at, ref.uid)
    await api.patch(workload_path(ref), patch, content_type=PatchType.STRATEGIC, params=params)
