"""`restart_workload()`: a rollout restart exactly as `kubectl rollout restart` does it.

kubectl patches the pod template's `kubectl.kubernetes.io/restartedAt` annotation with the current
time (RFC 3339); the changed template makes the controller roll out new pods under its own
strategy, surge and PDB-unaware pace, just like an image change would.
"""

from __future__ import annotations

from datetime import UTC, datetime

from leakpatrol.core import RESTARTED_AT, ObjectRef
from leakpatrol.kube.client import ApiClient, PatchType
from leakpatrol.kube.workloads import workload_path


def restart_patch(at: datetime) -> dict[str, object]:
    stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}


async def restart_workload(api: ApiClient, ref: ObjectRef, at: datetime, *, dry_run: bool) -> None:
    """dry_run: the API server validates and authorizes the patch but stores nothing (dryRun=All)."""
    params = {"dryRun": "All"} if dry_run else None
    await api.patch(workload_path(ref), restart_patch(at), content_type=PatchType.STRATEGIC, params=params)
