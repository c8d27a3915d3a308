"""The two actions, through the port: a rollout restart, or evicting the leaking pods one by one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from leakpatrol.api import RemediationAction, Workload
from leakpatrol.controller.ports import Cluster, EvictionBlocked
from leakpatrol.core import ObjectRef

APPS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"})


def workload_ref(w: Workload, namespace: str | None) -> ObjectRef:
    """The object a status record names (kind and name, in the policy's namespace)."""
    return ObjectRef("apps/v1" if w.kind in APPS else "v1", w.kind, w.name, "", namespace)


@dataclass(frozen=True, slots=True)
class Outcome:
    evicted: tuple[str, ...] = ()
    blocked: EvictionBlocked | None = None  # the 429 that stopped the evictions, if one did


async def act(
    cluster: Cluster,
    action: RemediationAction,
    workload: ObjectRef,
    pods: Sequence[str],
    at: datetime,
    *,
    dry_run: bool,
    uids: Mapping[str, str] | None = None,
) -> Outcome:
    """Raises what the port raises, except a 429 on an eviction: that stops the evictions (the
    rest are retried at a later pass) and is returned, so the caller records what did happen.
    A pod is evicted by its uid (`uids`, as this pass listed it): one whose uid is not known here
    (another shard's) is left alone, never evicted by name alone."""
    if action is RemediationAction.ROLLOUT_RESTART:
        await cluster.restart_workload(workload, at, dry_run=dry_run)
        return Outcome()
    evicted: list[str] = []
    known = uids or {}
    for pod in [p for p in pods if known.get(p)]:
        try:
            await cluster.evict_pod(workload.namespace or "default", pod, uid=known[pod], dry_run=dry_run)
        except EvictionBlocked as exc:
            return Outcome(tuple(evicted), exc)
        evicted.append(pod)
    return Outcome(tuple(evicted))
