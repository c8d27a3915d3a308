"""Which workload each pod belongs to, and per-pod results named by it.

The workload of a pod is asked of the cluster once per owner (a ReplicaSet's uid, or a bare
pod's own) and kept while any selected pod has that owner: a rollout's new pods reuse the GET.
Keyed by uid, not name: a Deployment deleted and re-created under the same name is a new object,
and its Events must land on it, not on the uid of the one that is gone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from leakpatrol.api import Finding, LeakPolicyStatus, Spread
from leakpatrol.controller.ports import Cluster, ScanTarget
from leakpatrol.controller.verdict.findings import PodResult
from leakpatrol.controller.verdict.oncall import memory_points
from leakpatrol.controller.verdict.rollout import Revision
from leakpatrol.core import Obj, ObjectRef
from leakpatrol.detect.evaluator import TargetEvaluator
from leakpatrol.detect.signals import Evaluation


class WorkloadCache:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.by_owner: dict[str, ObjectRef] = {}  # owner uid (or a bare pod's uid) -> workload

    async def of(self, t: ScanTarget, pods: Mapping[str, Obj]) -> ObjectRef:
        """`pods`: the pass's pods by name (the owner chain is read from the pod's JSON)."""
        key = t.owner_uid or t.uid
        if key not in self.by_owner:
            self.by_owner[key] = await self.cluster.workload_of(pods.get(t.name) or {})
        return self.by_owner[key]

    def keep_only(self, owners: Iterable[str]) -> None:
        keep = set(owners)
        self.by_owner = {key: ref for key, ref in self.by_owner.items() if key in keep}

    def refs(self) -> list[ObjectRef]:
        return list(self.by_owner.values())


def pod_result(
    t: ScanTarget,
    workload: ObjectRef,
    evaluation: Evaluation,
    revision: Revision | None,
    evaluator: TargetEvaluator | None,
) -> PodResult:
    memory = memory_points(evaluator) if evaluator is not None else ()
    totals = evaluator.goroutines.tracker.total if evaluator is not None else ()
    goroutines = round(totals[-1]) if totals else None
    name = (workload.kind, workload.name)
    lives = tuple(evaluator.lives.ended) if evaluator is not None else ()
    started = t.identity.started_at
    return PodResult(t.name, name, evaluation, revision, memory, t.memory_limit, goroutines, lives, started)


async def with_fleet_spread(
    status: LeakPolicyStatus, selected: list[ScanTarget], pods: Mapping[str, Obj], workloads: WorkloadCache
) -> LeakPolicyStatus:
    """Sharded, the coordinator resolves the workload of every selected pod (one GET per new
    owner), so each finding's spread counts all the workload's pods, not only those of the
    shards that saw it."""
    per_workload: Counter[tuple[str, str]] = Counter()
    for t in selected:
        w = await workloads.of(t, pods)
        per_workload[(w.kind, w.name)] += 1

    def counted(f: Finding) -> Finding:
        of = per_workload[(f.workload.kind, f.workload.name)]
        if f.spread is None or not of:
            return f
        return f.model_copy(update={"spread": Spread(leaking=min(f.spread.leaking, of), of=of)})

    return status.model_copy(update={"findings": [counted(f) for f in status.findings]})
