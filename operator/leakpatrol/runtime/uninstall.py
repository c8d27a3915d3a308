"""Before `helm uninstall` (the chart's pre-delete hook): stop the operator, then drop its finalizer.

The order matters: while an operator replica runs, kopf puts the finalizer back on the next event.
So first scale its Deployment to zero and wait for its pods to go, then remove kopf's finalizer from
every LeakPolicy it served. After that, deleting a policy or its namespace never waits for an
operator that is not coming back. Policies themselves are kept: they are the users' objects. Last,
the operator's ledger of actions (`leakpatrol-actions` in its namespace) is deleted, once no
replica can write it again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from leakpatrol.core import Obj
from leakpatrol.kube import errors
from leakpatrol.kube.client import ApiClient
from leakpatrol.kube.connection import connect
from leakpatrol.kube.deployments import pods_left, scale_to_zero
from leakpatrol.kube.ledger import NAME as LEDGER
from leakpatrol.kube.ledger import delete_ledger
from leakpatrol.kube.policies import drop_finalizer, list_policies
from leakpatrol.reasons import Reason

log = logging.getLogger(__name__)

KOPF_FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"  # kopf's default; we never changed it


@dataclass(frozen=True, slots=True)
class Release:
    home: str  # the operator's namespace
    deployment: str | None  # the operator's Deployment, stopped first (None: already stopped)
    namespaces: tuple[str, ...] = ()  # watched namespaces; empty: all
    wait: float = 120.0  # seconds to wait for the operator's pods to go
    own_pod: str = ""  # the pod this runs in (POD_NAME), never counted as an operator pod


async def stop_operator(api: ApiClient, r: Release) -> None:
    if r.deployment is None:
        return
    selector = await scale_to_zero(api, r.home, r.deployment)
    if selector is None:
        log.info("deployment %s/%s not found: nothing to stop", r.home, r.deployment)
        return
    deadline = time.monotonic() + r.wait
    while (left := await pods_left(api, r.home, selector, own_pod=r.own_pod)) > 0:
        if time.monotonic() > deadline:
            raise errors.ApiUnavailable(f"{left} operator pod(s) still running after {r.wait:.0f}s")
        await asyncio.sleep(1.0)
    log.info("deployment %s/%s scaled to zero", r.home, r.deployment)


async def release_finalizers(api: ApiClient, r: Release) -> int:
    """Stop the operator, then drop its finalizer everywhere; returns how many policies changed."""
    await stop_operator(api, r)
    released = 0
    for namespace in r.namespaces or (None,):
        for policy in await list_policies(api, namespace):
            released += await _release_one(api, policy)
    log.info("removed the operator's finalizer from %d LeakPolicies", released)
    await drop_action_ledger(api, r.home)
    return released


async def drop_action_ledger(api: ApiClient, home: str) -> None:
    """The cluster-wide ledger of actions (`leakpatrol-actions`) goes with the operator: only a
    running operator reads it, and once stopped nothing would ever delete it. Not allowed (a hook
    without that grant) is said and skipped: the finalizers, released already, are what matters."""
    try:
        gone = await delete_ledger(api, home)
    except errors.Forbidden as exc:
        log.warning("ConfigMap %s/%s left behind: %s", home, LEDGER, exc)
        return
    log.info("ConfigMap %s/%s %s", home, LEDGER, "deleted" if gone else "not found: nothing to delete")


async def _release_one(api: ApiClient, policy: Obj) -> int:
    for _ in range(5):  # a Conflict means someone edited it: read again and retry
        try:
            return int(await drop_finalizer(api, policy, KOPF_FINALIZER))
        except errors.Conflict:
            md = policy["metadata"]
            same = await list_policies(api, md["namespace"])
            current = [p for p in same if p["metadata"]["uid"] == md["uid"]]
            if not current:
                return 0
            policy = current[0]
    raise errors.Conflict(409, Reason.CONFLICT, "LeakPolicy kept changing while its finalizer was removed")


async def run_release(r: Release, kubeconfig: str | None, context: str | None) -> int:
    async with await connect(kubeconfig, context) as api:
        return await release_finalizers(api, r)
