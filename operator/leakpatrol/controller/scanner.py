"""`PolicyScanner`: one LeakPolicy's scan loop, and its pass as a table of contents.

`scan()` is a list of named steps, each timed into `leakpatrol_scan_step_seconds{step}`; the
state a step hands on is a `PassState`, what outlives a pass is in one record per target
(`collect.records`). Nothing here raises on a bad target: every failure becomes a counted,
reported reason, and the series survive it. Sharded or not, the pass is the same: the replica's
role (`shards.solo.SoloRole` or `shards.role.ShardRole`) says which targets are its own and
whether it speaks for the policy.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from leakpatrol import metrics
from leakpatrol.api import DetectionSpec, InvalidSpecError, LeakPolicySpec, Profiles, parse_spec
from leakpatrol.controller.capacity import SharedCapacity
from leakpatrol.controller.collect.deadline import until_deadline
from leakpatrol.controller.collect.records import Backoff, TargetRecords
from leakpatrol.controller.collect.sampling import Sampler, timeouts_over
from leakpatrol.controller.collect.series import SeriesStore
from leakpatrol.controller.collect.targets import resting_targets, select_targets
from leakpatrol.controller.pacing import Pacing
from leakpatrol.controller.passmetrics import log_pass, pass_gauges, target_gauges
from leakpatrol.controller.passstate import PassState
from leakpatrol.controller.ports import Cluster, ScanTarget, Unscannable
from leakpatrol.controller.remediation import Remediator
from leakpatrol.controller.report.reporter import Reporter
from leakpatrol.controller.report.status import ScanPass, status_body, suspended_status
from leakpatrol.controller.report.words import selector_words
from leakpatrol.controller.shards.assignment import Shards
from leakpatrol.controller.shards.role import ShardRole
from leakpatrol.controller.shards.solo import SoloRole
from leakpatrol.controller.verdict.findings import workload_findings
from leakpatrol.controller.verdict.lives import with_lives
from leakpatrol.controller.verdict.oncall import RevisionCache, annotate, observe_revisions
from leakpatrol.controller.verdict.rollout import RolloutMemory
from leakpatrol.controller.verdict.rules import rules_for
from leakpatrol.controller.verdict.workloads import WorkloadCache, pod_result, with_fleet_spread
from leakpatrol.core import LeakpatrolError, ObjectRef, TargetGone
from leakpatrol.detect.config import DetectionConfig
from leakpatrol.detect.evaluator import TargetEvaluator
from leakpatrol.detect.signals import Evaluation
from leakpatrol.diagnose.rules import RuleSet
from leakpatrol.reasons import Reason

log = logging.getLogger(__name__)

INVALID_RECHECK_SECONDS = 60.0  # an invalid spec is re-read this often (an edit also wakes the daemon)
T = TypeVar("T")


class PolicyScanner:
    def __init__(
        self,
        cluster: Cluster,
        policy: ObjectRef,
        capacity: SharedCapacity,
        clock: Callable[[], float] = time.time,
        shards: Shards | None = None,  # --sharding: scan only the shards this replica holds
    ):
        self.cluster, self.policy, self.capacity, self.clock = cluster, policy, capacity, clock
        self.namespace = policy.namespace or "default"  # LeakPolicy is namespaced: always set
        self.targets = TargetRecords()
        self.sampler = Sampler(cluster, capacity.parser, capacity.buffer, capacity.workers)
        self.workloads = WorkloadCache(cluster)  # by owner uid: outlive the pods of a rollout
        self.rollouts, self.revisions = RolloutMemory(), RevisionCache(cluster)
        self.config, self.rules = DetectionConfig(), RuleSet.default()  # the policy's, once valid
        self.judged_by: tuple[DetectionSpec, Profiles] | None = None  # what config/rules come from
        self.reporter = Reporter(cluster, policy)
        self.slots = asyncio.Semaphore(capacity.per_policy)
        self.remediation = Remediator(
            cluster,
            policy,
            clock,
            capacity.admin,
            budget=capacity.actions,
            parse=lambda body: self.sampler.parse(body, self.namespace),
            read=self.sampler.profile,
        )
        self.role: SoloRole | ShardRole = SoloRole() if shards is None else ShardRole(shards, policy)
        self.series = SeriesStore(cluster, policy, self.role)
        self.pacing = Pacing()

    @property
    def evaluators(self) -> dict[str, TargetEvaluator]:
        return self.targets.evaluators()

    async def scan(self, body: Mapping[str, Any]) -> float:
        """One pass; returns the seconds to wait before the next one."""
        p = PassState.of(body, self.clock())
        spec = await self._step("spec", self._read_spec(p))
        if spec is None:  # invalid or suspended: said in the status, nothing scanned
            return INVALID_RECHECK_SECONDS if p.spec is None else p.spec.schedule.interval
        await self._step("restore", self._restore())
        await self._step("select", self._select(p, spec))
        await self._step("fetch", self._fetch(p, spec))
        await self._step("judge", self._judge(p))
        await self._step("fold", self._fold(p))
        await self._step("remediate", self._remediate(p, spec))
        await self._step("report", self._report(p))
        await self._step("save", self._save(p))
        self.pacing.passed(self.clock() - p.started, spec.schedule.interval)
        metrics.SCAN_LAG_SECONDS.labels(self.namespace, self.policy.name).set(self.pacing.lag)
        return self.pacing.wait(spec.schedule.interval, random.uniform(0, spec.schedule.jitter_seconds))

    async def _step(self, name: str, step: Awaitable[T]) -> T:
        began = time.perf_counter()
        try:
            return await step
        finally:
            metrics.SCAN_STEP_SECONDS.labels(name).observe(time.perf_counter() - began)

    async def _read_spec(self, p: PassState) -> LeakPolicySpec | None:
        """The one validation of this pass. A new `detection` or `profiles` re-judges the series
        already gathered with the new thresholds and rules, in place."""
        try:
            spec = parse_spec(p.raw_spec)
            over = timeouts_over(spec, self.capacity.max_timeout)
            if over:  # the admin's limit: a policy cannot hold a slot longer than it allows
                raise InvalidSpecError(over)
            p.spec = spec
        except InvalidSpecError as exc:
            await self.reporter.invalid(p.previous, exc, p.generation, p.now)
            return None
        if spec.suspend:
            status = suspended_status(p.previous, p.generation, p.now)
            await self.cluster.patch_status(self.policy, status_body(status))
            metrics.suspend_policy(self.namespace, self.policy.name)
            return None
        judged_by = (spec.detection, spec.profiles)
        if judged_by != self.judged_by:
            self.config, self.rules = spec.detection_config(), rules_for(spec, self.policy)
            self.judged_by = judged_by
            for evaluator in self.evaluators.values():
                evaluator.reconfigure(self.config, self.rules)
        return spec

    async def _restore(self) -> None:
        """Series from checkpoints: the policy's at a term's first pass, or shards just taken."""
        self.role.begin()  # one view of the membership for the whole pass
        self.targets.resume(await self.series.restore(self.config, self.rules))
        for message in self.series.take_dropped():
            await self.reporter.checkpoint_dropped(message)

    async def _select(self, p: PassState, spec: LeakPolicySpec) -> None:
        p.pods = await self.cluster.list_pods(self.namespace, p.selector)
        p.pod_by_name = {(pod.get("metadata") or {}).get("name", ""): pod for pod in p.pods}
        p.selected, unscannable = select_targets(p.pods, spec.target.port)
        p.targets = self.role.mine(p.selected)
        p.resting = self.role.mine(resting_targets(p.pods, spec.target.port))  # keep their lives
        listed = [(pod.get("metadata") or {}).get("uid", "") for pod in p.pods]
        self.targets.keep_only(p.targets + p.resting, listed, p.started)
        owners = {t.owner_uid or t.uid for t in p.selected + p.resting}  # a coordinator names every shard's
        self.workloads.keep_only(owners)
        self.revisions.forget(owners)
        due = [t for t in p.targets if self.targets.of(t.uid).due(p.started)]
        p.due = sorted(due, key=lambda t: not self.targets.of(t.uid).starved)  # the cut ones first
        p.failures = self.role.unscannable(unscannable) + list(self.targets.backed_off(p.started))

    async def _fetch(self, p: PassState, spec: LeakPolicySpec) -> None:
        """Every due target, until the pass's deadline: those cut have no outcome (None), go first
        next time, and the pass reads overdue (Degraded) at once."""
        interval = spec.schedule.interval
        deadline = self.pacing.deadline(interval, spec.target.timeouts.total)
        p.outcomes, cut = await until_deadline(
            [self._scan_target(t, spec, p.started) for t in p.due], deadline
        )
        for t, was_cut in zip(p.due, cut, strict=True):
            self.targets.of(t.uid).starved = was_cut
        if any(cut):
            self.pacing.cut_short(deadline, interval)
            where, n = f"{self.namespace}/{self.policy.name}", sum(cut)
            log.warning(
                "policy %s: pass overdue after %.1fs; %d of %d fetch(es) cut", where, deadline, n, len(cut)
            )

    async def _judge(self, p: PassState) -> None:
        """Per-pod evaluations -> per-workload findings, with since-which-rollout and OOM ETA."""
        fetch_failures = [o for o in p.outcomes if isinstance(o, Unscannable)]
        p.failures = await self._still_there(fetch_failures, p) + p.failures
        for t, outcome in zip(p.due, p.outcomes, strict=True):
            if isinstance(outcome, Evaluation):
                workload = await self.workloads.of(t, p.pod_by_name)
                self._target_metrics(t, workload, p)
                evaluator = self.targets.claim(t.uid, (workload.kind, workload.name))
                p.results.append(pod_result(t, workload, outcome, await self.revisions.of(t), evaluator))
        scanned = len(p.results)
        await self._rest(p)
        observe_revisions(self.rollouts, p.results, p.started)
        findings = annotate(workload_findings(p.results), p.results, self.rollouts, p.started)
        findings = with_lives(findings, p.results, self.config.window_seconds, p.started)
        evaluated = sum(1 for r in p.results if r.evaluation.evaluated)
        counts = (len(p.targets), scanned, evaluated)
        overrun = self.pacing.overrun()  # as of the passes before this one
        selector = selector_words(p.selector)
        p.scan = ScanPass(self.namespace, *counts, findings, p.failures, overrun=overrun, selector=selector)

    async def _rest(self, p: PassState) -> None:
        """Pods between container lives: nothing to fetch, but the life that ended is judged now
        and what their lives say stands (an OOM-looping pod is in back-off half the time)."""
        for t in p.resting:
            evaluator = self.targets.of(t.uid).evaluator
            if evaluator is None:
                continue
            workload = await self.workloads.of(t, p.pod_by_name)
            self.targets.claim(t.uid, (workload.kind, workload.name))
            evaluation = evaluator.rest(t.identity, p.started)
            if evaluation.signals:
                p.results.append(pod_result(t, workload, evaluation, await self.revisions.of(t), evaluator))

    async def _fold(self, p: PassState) -> None:
        assert p.scan is not None
        p.folded = folded = self.role.fold(p.previous, p.scan, p.generation, p.now)
        if folded.speaks and self.role.sharded:  # its Events name every shard's workloads and pods
            status = await with_fleet_spread(folded.status, p.selected, p.pod_by_name, self.workloads)
            p.folded = replace(folded, status=status)

    async def _remediate(self, p: PassState, spec: LeakPolicySpec) -> None:
        assert p.folded is not None
        if p.folded.speaks:
            refs, st = self.workloads.refs(), p.folded.status
            st = await self.remediation.after_pass(
                p.body, spec, st, p.results, targets=p.targets, workloads=refs
            )
            p.folded = replace(p.folded, status=st)

    async def _report(self, p: PassState) -> None:
        """Events first, against the status the object carries: a failed status write means the
        next pass posts them again (aggregated), never an Event lost. A replica that does not speak
        for the policy posts only its own targets' failures."""
        f = p.folded
        assert f is not None
        before = p.previous if f.speaks else f.status
        await self.reporter.pass_events(
            before, f.status, p.failures, p.selected, self.workloads.refs(), results=p.results
        )
        patch = (status_body(f.status) if f.speaks else {}) | f.patch
        if patch:  # a replica that is not a member has nothing to write
            await self.cluster.patch_status(self.policy, patch)

    async def _save(self, p: PassState) -> None:
        await self.series.save(self.evaluators, p.started, p.folded is not None and p.folded.changed)
        self._pass_metrics(p)

    async def _scan_target(
        self, t: ScanTarget, spec: LeakPolicySpec, now: float
    ) -> Evaluation | Unscannable | None:
        """The target's evaluation; its failure, counted and backed off; None if the pod is gone."""
        record = self.targets.of(t.uid)
        async with self.slots, self.capacity.fetches.slot(self.namespace):
            try:
                sample = await self.sampler.sample(t, record, spec, now)
            except TargetGone:
                return None  # deleted since the list: the next pass will not select it
            except LeakpatrolError as exc:  # the port's fetch errors and the parser's
                metrics.SCRAPE_ERRORS.labels(self.namespace, self.policy.name, exc.reason).inc()
                record.backoff = record.backoff or Backoff()
                return record.backoff.failed(t.name, exc, spec.schedule.interval, now)
        record.backoff = None
        if sample.goroutine is not None:
            record.goroutines = float(sample.goroutine.total)
        if sample.heap is not None:
            record.heap = float(sample.heap.total)
        if record.evaluator is None:
            record.evaluator = TargetEvaluator(self.config, self.rules)
        return record.evaluator.observe(sample, t.identity)

    async def _still_there(self, failures: list[Unscannable], p: PassState) -> list[Unscannable]:
        """A fetch that failed because its pod was being deleted (connection reset, port-forward
        refused) is not a failing target. One more LIST, only when something failed, tells."""
        if not failures:
            return failures
        pods = await self.cluster.list_pods(self.namespace, p.selector)
        alive = {q["metadata"]["name"] for q in pods if not q["metadata"].get("deletionTimestamp")}
        for t in p.due:
            if t.name not in alive:
                self.targets.of(t.uid).backoff = None
        return [u for u in failures if u.pod in alive]

    async def report_not_ready(self, body: Mapping[str, Any], reason: Reason, message: str) -> None:
        await self.reporter.not_ready(body, reason, message, datetime.fromtimestamp(self.clock(), UTC))

    def _target_metrics(self, t: ScanTarget, workload: ObjectRef, p: PassState) -> None:
        record = self.targets.of(t.uid)
        target_gauges((self.namespace, self.policy.name, workload, t.name), record, p.gauged)

    def _pass_metrics(self, p: PassState) -> None:
        assert p.folded is not None
        took, tracked = self.clock() - p.started, len(self.evaluators)
        pass_gauges(self.namespace, self.policy.name, p.folded, p.gauged, tracked, took, self.clock())
        counts = (len(p.results), len(p.targets), len(p.failures), p.folded.status.leaking)
        log_pass(f"{self.namespace}/{self.policy.name}", *counts, took)
