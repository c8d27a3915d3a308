"""One LeakPolicy's scan loop state: per-pod evaluators, backoff, and one scan pass.

Each pass: list the selected pods, fetch their profiles concurrently (bounded by a global and a
per-policy cap, failing targets backed off exponentially), feed each pod's evaluator, fold the
results per workload, then write status, Events, metrics and a checkpoint. Nothing here raises on a
bad target: every failure becomes a counted, reported reason, and the series survive it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from leakpatrol import metrics
from leakpatrol.api import Finding, InvalidSpecError, LeakPolicySpec, LeakPolicyStatus, Spread, parse_spec
from leakpatrol.controller.collect.fairness import FairShare
from leakpatrol.controller.collect.sampling import Sampler
from leakpatrol.controller.collect.series import SeriesStore
from leakpatrol.controller.collect.targets import select_targets
from leakpatrol.controller.ports import Cluster, ScanTarget, Unscannable
from leakpatrol.controller.remediation import Remediator
from leakpatrol.controller.report.reporter import Reporter
from leakpatrol.controller.report.status import (
    ScanPass,
    read_status,
    scanned_status,
    status_body,
    suspended_status,
)
from leakpatrol.controller.shards.assignment import Shards
from leakpatrol.controller.shards.role import ShardRole
from leakpatrol.controller.verdict.findings import PodResult, workload_findings
from leakpatrol.controller.verdict.oncall import RevisionCache, annotate, memory_points, observe_revisions
from leakpatrol.controller.verdict.rollout import RolloutMemory
from leakpatrol.controller.verdict.rules import rules_for
from leakpatrol.core import (
    GLOBAL_FETCHES,
    PER_POLICY_FETCHES,
    LeakpatrolError,
    LeakState,
    ObjectRef,
    TargetGone,
)
from leakpatrol.detect.config import DetectionConfig
from leakpatrol.detect.evaluator import Sample, TargetEvaluator
from leakpatrol.detect.signals import Evaluation
from leakpatrol.diagnose.rules import RuleSet
from leakpatrol.profiles.parser import ProfileParser
from leakpatrol.reasons import Reason

log = logging.getLogger(__name__)

MAX_BACKOFF_INTERVALS = 16
INVALID_RECHECK_SECONDS = 60.0  # an invalid spec is re-read this often (an edit also wakes the daemon)


@dataclass(slots=True)
class SharedCapacity:
    """Capacity shared by every policy of one operator process."""

    fetches: FairShare = field(default_factory=lambda: FairShare(GLOBAL_FETCHES))  # by namespace
    per_policy: int = PER_POLICY_FETCHES
    parser: ProfileParser = field(default_factory=ProfileParser)


@dataclass(slots=True)
class _Backoff:
    failures: int = 0
    until: float = 0.0
    last: Unscannable | None = None


class PolicyScanner:
    def __init__(
        self,
        cluster: Cluster,
        policy: ObjectRef,
        limits: SharedCapacity,
        clock: Callable[[], float] = time.time,
        shards: Shards | None = None,  # --sharding: scan only the shards this replica holds
    ):
        self.cluster, self.policy, self.limits, self.clock = cluster, policy, limits, clock
        self.namespace = policy.namespace or "default"  # LeakPolicy is namespaced: always set
        self.evaluators: dict[str, TargetEvaluator] = {}
        self.backoff: dict[str, _Backoff] = {}
        self.sampler = Sampler(cluster, limits.parser)
        self.workloads: dict[str, ObjectRef] = {}  # owner uid (or pod uid) -> its workload
        self.config = DetectionConfig()  # replaced by the policy's own at its first valid pass
        self.rules = RuleSet.default()
        self.spec_key: str | None = None
        self.reporter = Reporter(cluster, policy)
        self.slots = asyncio.Semaphore(limits.per_policy)
        self.remediation = Remediator(cluster, policy, clock)
        self.rollouts, self.revisions = RolloutMemory(), RevisionCache(cluster)  # outlive old pods
        self.shard = None if shards is None else ShardRole(shards, policy)
        self.series = SeriesStore(cluster, policy, self.shard)

    # --- the pass ---------------------------------------------------------------------------------
    async def scan(self, body: Mapping[str, Any]) -> float:
        """One pass; returns the seconds to wait before the next one."""
        started = self.clock()
        now_dt = datetime.fromtimestamp(started, UTC)
        raw_spec = body.get("spec") or {}
        generation = (body.get("metadata") or {}).get("generation")
        previous = read_status(body)
        try:
            spec = parse_spec(raw_spec)  # the one validation of this pass
        except InvalidSpecError as exc:
            await self.reporter.invalid(previous, exc, generation, now_dt)
            return INVALID_RECHECK_SECONDS
        if spec.suspend:
            await self.cluster.patch_status(
                self.policy, status_body(suspended_status(previous, generation, now_dt))
            )
            return spec.schedule.interval
        self._apply_spec(spec, raw_spec)
        if self.shard is not None:
            self.shard.begin()  # one view of the membership for the whole pass
        self.evaluators |= await self.series.restore(self.config, self.rules)
        pods = await self.cluster.list_pods(self.namespace, raw_spec.get("selector") or {})
        selected = targets, unscannable = select_targets(pods, spec.target.port)
        if self.shard is not None:
            targets, unscannable = self.shard.mine(targets), self.shard.unscannable(unscannable)
        present = {t.uid for t in targets}
        self._forget_gone(targets, selected[0])
        due = [t for t in targets if self._due(t.uid, started)]
        backed_off = present - {t.uid for t in due}
        outcomes = await asyncio.gather(*(self._scan_target(t, spec, started) for t in due))
        results, failures = await self._collect(due, outcomes, pods)
        failures = await self._still_there(failures, due, raw_spec.get("selector") or {})
        failures += unscannable + [b.last for u, b in self.backoff.items() if u in backed_off and b.last]
        observe_revisions(self.rollouts, results, started)
        findings = annotate(workload_findings(results), results, self.rollouts, started)
        evaluated = sum(1 for r in results if r.evaluation.evaluated)
        scan_pass = ScanPass(self.namespace, len(targets), len(results), evaluated, findings, failures)
        patch: dict[str, Any] = {}
        status, speaks = scanned_status(previous, scan_pass, generation, now_dt), True
        changed = _verdicts(previous) != _verdicts(status)
        if self.shard is not None:  # the coordinator speaks for the policy; the others report
            changed = self.shard.verdicts_changed(previous, scan_pass)
            status, patch, speaks = self.shard.fold(previous, scan_pass, generation, now_dt)
            if speaks:  # its Events name workloads and pods of every replica's shards
                status = await self._fleet_spread(status, selected[0], pods)
        if speaks:
            status = await self.remediation.after_pass(
                body, spec, status, results, targets=targets, workloads=self.workloads.values()
            )
        # Events first: they are computed against the status the object carries, so if anything
        # below fails the next pass sees the same transition and posts again (aggregated into a
        # count), instead of the status moving on and the Event being lost. A replica that does
        # not speak for the policy posts only its own targets' failures (`previous` is `status`).
        await self.reporter.pass_events(
            previous if speaks else status, status, failures, selected[0], self.workloads.values()
        )
        patch = (status_body(status) if speaks else {}) | patch
        if patch:  # a replica that is not a member has nothing to write
            await self.cluster.patch_status(self.policy, patch)
        await self.series.save(self.evaluators, started, changed)
        self._metrics(started, status.findings, targets)  # with findings carried over a missed scrape
        log.info(
            "policy %s/%s: scanned %d of %d target(s), %d failing, %d leaking workload(s) in %.2fs",
            self.namespace,
            self.policy.name,
            len(results),
            len(targets),
            len(failures),
            status.leaking,
            self.clock() - started,
        )
        return spec.schedule.interval + random.uniform(0, spec.schedule.jitter_seconds)

    # --- spec, restore, forget ------------------------------------------------------------------
    def _apply_spec(self, spec: LeakPolicySpec, raw: Mapping[str, Any]) -> None:
        key = repr((raw.get("detection"), raw.get("profiles")))
        if key == self.spec_key:
            return
        self.config, self.rules = spec.detection_config(), rules_for(spec)
        self.spec_key = key
        for evaluator in self.evaluators.values():  # new thresholds apply to the series gathered
            evaluator.reconfigure(self.config, self.rules)

    def _forget_gone(self, targets: list[ScanTarget], selected: list[ScanTarget]) -> None:
        """Drop the series of targets no longer ours (gone, or in another replica's shard) and the
        workloads of pods no longer selected (a coordinator names those of every shard)."""
        present = {t.uid for t in targets}
        for table in (self.evaluators, self.backoff):
            for uid in [u for u in table if u not in present]:
                del table[uid]
        self.sampler.forget_gone(present)
        owners = {t.owner_uid or t.uid for t in selected}
        self.workloads = {key: ref for key, ref in self.workloads.items() if key in owners}
        self.revisions.forget(owners)

    async def _still_there(
        self, failures: list[Unscannable], due: list[ScanTarget], selector: Mapping[str, Any]
    ) -> list[Unscannable]:
        """A fetch that failed because its pod was being deleted (connection reset, port-forward
        refused) is not a failing target. One more LIST, only when something failed, tells."""
        if not failures:
            return failures
        pods = await self.cluster.list_pods(self.namespace, selector)
        alive = {p["metadata"]["name"] for p in pods if not p["metadata"].get("deletionTimestamp")}
        for t in due:
            if t.name not in alive:
                self.backoff.pop(t.uid, None)
        return [u for u in failures if u.pod in alive]

    def _due(self, uid: str, now: float) -> bool:
        b = self.backoff.get(uid)
        return b is None or b.until <= now

    # --- one target -----------------------------------------------------------------------------
    async def _scan_target(
        self, t: ScanTarget, spec: LeakPolicySpec, now: float
    ) -> Evaluation | Unscannable | None:
        """The target's evaluation; its failure, counted and backed off; None if the pod is gone."""
        async with self.slots, self.limits.fetches.slot(self.namespace):
            try:
                sample = await self.sampler.sample(t, spec, now)
            except TargetGone:
                return None  # deleted since the list: the next pass will not select it
            except LeakpatrolError as exc:  # the port's fetch errors and the parser's, with a reason
                return self._failed(t, exc.reason, str(exc), spec.schedule.interval, now)
        self.backoff.pop(t.uid, None)
        self._target_metrics(t, sample)
        evaluator = self.evaluators.setdefault(t.uid, TargetEvaluator(self.config, self.rules))
        return evaluator.observe(sample, t.identity)

    def _failed(
        self, t: ScanTarget, reason: Reason, message: str, interval: float, now: float
    ) -> Unscannable:
        b = self.backoff.setdefault(t.uid, _Backoff())
        b.failures += 1
        b.until = now + interval * min(2 ** (b.failures - 1), MAX_BACKOFF_INTERVALS)
        b.last = Unscannable(t.name, reason, message)
        metrics.SCRAPE_ERRORS.labels(self.namespace, self.policy.name, reason).inc()
        return b.last

    # --- folding results ------------------------------------------------------------------------
    async def _collect(
        self,
        due: list[ScanTarget],
        outcomes: list[Evaluation | Unscannable | None],
        pods: list[dict[str, Any]],
    ) -> tuple[list[PodResult], list[Unscannable]]:
        pod_by_name = {(p.get("metadata") or {}).get("name"): p for p in pods}
        results, failures = [], []
        for t, outcome in zip(due, outcomes, strict=True):
            if outcome is None:
                continue
            if isinstance(outcome, Unscannable):
                failures.append(outcome)
                continue
            workload = await self._workload(t, pod_by_name.get(t.name) or {})
            memory = memory_points(self.evaluators[t.uid]) if t.uid in self.evaluators else ()
            revision = await self.revisions.of(t)
            results.append(
                PodResult(t.name, (workload.kind, workload.name), outcome, revision, memory, t.memory_limit)
            )
        return results, failures

    async def _fleet_spread(
        self, status: LeakPolicyStatus, selected: list[ScanTarget], pods: list[dict[str, Any]]
    ) -> LeakPolicyStatus:
        """The coordinator resolves the workload of every selected pod (cached by owner uid: one GET
        per new ReplicaSet), so its Events can name workloads of other replicas' shards and each
        finding's spread counts all the workload's pods, not only those of the shards that saw it."""
        pod_by_name = {(p.get("metadata") or {}).get("name"): p for p in pods}
        per_workload: Counter[tuple[str, str]] = Counter()
        for t in selected:
            w = await self._workload(t, pod_by_name.get(t.name) or {})
            per_workload[(w.kind, w.name)] += 1

        def counted(f: Finding) -> Finding:
            of = per_workload[(f.workload.kind, f.workload.name)]
            if f.spread is None or not of:
                return f
            return f.model_copy(update={"spread": Spread(leaking=min(f.spread.leaking, of), of=of)})

        return status.model_copy(update={"findings": [counted(f) for f in status.findings]})

    async def _workload(self, t: ScanTarget, pod: Mapping[str, Any]) -> ObjectRef:
        # Keyed by uid, not name: a Deployment deleted and re-created under the same name is a new
        # object, and its Events must land on it, not on the uid of the one that is gone.
        key = t.owner_uid or t.uid
        if key not in self.workloads:
            self.workloads[key] = await self.cluster.workload_of(pod)
        return self.workloads[key]

    async def report_not_ready(self, body: Mapping[str, Any], reason: Reason, message: str) -> None:
        await self.reporter.not_ready(body, reason, message, datetime.fromtimestamp(self.clock(), UTC))

    def _target_metrics(self, t: ScanTarget, sample: Sample) -> None:
        labels = (self.namespace, self.policy.name, t.name)
        if sample.goroutine is not None:
            metrics.TARGET_GOROUTINES.labels(*labels).set(sample.goroutine.total)
        if sample.heap is not None:
            metrics.TARGET_HEAP_INUSE.labels(*labels).set(sample.heap.total)

    def _metrics(self, started: float, findings: list[Finding], targets: list[ScanTarget]) -> None:
        ns, name = self.namespace, self.policy.name
        metrics.SCAN_SECONDS.labels(ns, name).observe(self.clock() - started)
        metrics.TRACKED_TARGETS.labels(ns, name).set(len(self.evaluators))
        workloads = {(f"{f.workload.kind}/{f.workload.name}", f.signal.value) for f in findings}
        for f in findings:
            metrics.WORKLOAD_LEAKING.labels(
                ns, name, f"{f.workload.kind}/{f.workload.name}", f.signal.value
            ).set(1 if f.state is LeakState.CONFIRMED else 0)
        metrics.retain(ns, name, {t.name for t in targets}, workloads)


def _verdicts(status: LeakPolicyStatus | None) -> set[tuple[str, str, str, str]]:
    findings = status.findings if status else []
    return {(f.workload.kind, f.workload.name, f.signal.value, f.state.value) for f in findings}
