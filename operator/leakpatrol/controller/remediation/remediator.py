"""`Remediator`: after each scan pass, decide and (maybe) act on the confirmed leaks, with rails.

Per pass: read the state back from the policy (the newer of it and our memory), raise the policy's
rails to the admin's floors, read the namespace (does the admin enable remediation there? a resume
of the admin's?), count confirmations of the findings an action may rest on (a trend), save
evidence of newly confirmed leaks, settle an action an earlier pass left pending (pending.py) and
the workload last acted on, then run the plan for each confirmed workload, at most one action per
pass. Where the admin has not enabled remediation, an action the rails allow is reported as what
would have been done, never done. Before acting, the cluster-wide budget is claimed (budget.py),
the evidence saved and the action written ahead to the status as pending: if any of that fails
nothing happens; once it succeeded it is recorded done, then said. Any error while deciding is a
skip with its reason, never an action on doubt. Times are the API server's clock when the port
knows it (every replica shares it; a node's skewed clock cannot shorten a cooldown), else our own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from leakpatrol.api import (
    Finding,
    LeakPolicySpec,
    LeakPolicyStatus,
    RemediationAction,
    RemediationStatus,
)
from leakpatrol.controller.ports import Cluster, LedgerEntry, ScanTarget
from leakpatrol.controller.remediation import evidence, messages, pending, plan, rails, state
from leakpatrol.controller.remediation.actions import act, workload_ref
from leakpatrol.controller.remediation.admin import AdminPolicy
from leakpatrol.controller.remediation.budget import ClusterBudget
from leakpatrol.controller.remediation.capture import Capturing
from leakpatrol.controller.remediation.claims import Claims
from leakpatrol.controller.remediation.gate import Gate
from leakpatrol.controller.remediation.plan import Decision, PlanStep
from leakpatrol.controller.remediation.telling import Pass
from leakpatrol.controller.verdict.findings import PodResult
from leakpatrol.core import LeakpatrolError, ObjectNotFound, ObjectRef
from leakpatrol.profiles.parser import ProfileParser
from leakpatrol.reasons import Reason

log = logging.getLogger(__name__)

Busy = tuple[Reason, str]  # why an ACT becomes a skip this pass
ONE_PER_PASS: Busy = (Reason.ANOTHER_WORKLOAD_IN_ACTION, "one action per pass")


class Remediator(Gate, Claims, Capturing):
    def __init__(
        self,
        cluster: Cluster,
        policy: ObjectRef,
        clock: Callable[[], float] = time.time,
        admin: AdminPolicy | None = None,
        *,
        budget: ClusterBudget | None = None,  # the operator's one, shared by every policy
        parse: evidence.Parse | None = None,  # the operator's pooled parser; inline (tests) if None
        read: evidence.Read | None = None,  # the evidence's dump in the operator's byte budget
    ) -> None:
        self.cluster, self.policy, self.clock = cluster, policy, clock
        self.admin = admin or AdminPolicy()
        self.budget = budget or ClusterBudget(
            self.admin.actions_per_hour, self.admin.namespace_actions_per_hour
        )
        self.parse = parse or ProfileParser().parse
        self.read = read
        self.namespace = policy.namespace or "default"
        self.memory: RemediationStatus | None = None
        self.told: dict[state.Key, Reason] = {}  # last reason posted per workload: Events on change only
        self.book = pending.WriteAhead(cluster, policy, self._tell)

    async def after_pass(
        self,
        body: Mapping[str, Any],
        spec: LeakPolicySpec,
        status: LeakPolicyStatus,
        results: Sequence[PodResult],
        *,
        targets: Iterable[ScanTarget],
        workloads: Iterable[ObjectRef],
    ) -> LeakPolicyStatus:
        """`status` with `remediation` and the RemediationSuspended condition; acts on the way."""
        stored = state.from_body(body)
        st = state.newest(self.memory, stored)
        if st is None and not spec.remediation.enabled:
            return status  # never enabled: the status stays as it was before remediation existed
        local, server = self.clock(), self.cluster.server_now()  # every replica shares the server's
        now = datetime.fromtimestamp(local if server is None else server, UTC)
        r, raised = self.admin.effective(spec.remediation), self.admin.raised(spec.remediation)
        spec = spec.model_copy(update={"remediation": r})  # no rail under the admin's floor
        st = st or RemediationStatus()
        ns, closed = await self._namespace() if r.enabled or st.suspended else (None, None)
        st = state.resume(state.prune_actions(st, r.window, now), self.admin.resume_at(body, ns, now))
        skew = timedelta(seconds=0 if server is None else server - local)
        found = plan.candidates(status.findings, self.admin, skew)
        st = state.count_confirmations(st, plan.actionable(found, self.admin))
        if r.enabled:
            refs = {(w.kind, w.name): w for w in workloads}
            ctx = Pass(spec, now, refs, {t.name: t for t in targets}, results, closed, raised)
            st = await self._decide_all(st, found, ctx)
        await self._clear(st, self.book.written or stored)
        self.memory = self.book.written = st  # the scan pass's own status patch writes it
        return messages.with_remediation(
            status, st, now, self.admin.resume_hint(self.policy.name, self.namespace)
        )

    async def _decide_all(
        self, st: RemediationStatus, found: Mapping[state.Key, Finding], ctx: Pass
    ) -> RemediationStatus:
        st, busy = await self._reconcile(st, ctx)  # busy: why nothing (more) acts this pass
        st = await self._settle(st)
        for k, f in found.items():
            w = state.workload(st, k)
            first = w is not None and w.confirmed_passes == 1 and ctx.closed is None
            if first and ctx.spec.remediation.capture_evidence:
                st = await self._first_evidence(st, f, ctx)
            d = plan.precheck(f, st, ctx.spec.remediation, ctx.now, self.admin)
            if d.verdict is PlanStep.ACT and busy is not None:
                d = Decision(PlanStep.SKIP, f, *busy)
            if d.verdict is PlanStep.ACT:
                st, acted = await self._act(st, d, ctx)
                busy = ONE_PER_PASS if acted else None
            elif d.verdict is PlanStep.SUSPEND:
                st = await self._suspend(st, d, ctx)
            elif d.verdict is PlanStep.SKIP:
                st = await self._skip(st, d, ctx)
            else:
                ctx.said = ctx.said or f"{messages.name(f.workload)}: {d.message}"
        nxt = min(ctx.untils, default=None)
        idle = "no confirmed leak to act on"
        if ctx.closed is not None:
            idle += f"; remediation is not enabled for namespace {self.namespace}: {ctx.closed}"
        said = ctx.said or idle
        if ctx.raised:
            said += f" (the cluster's floors apply: {', '.join(ctx.raised)})"
        return state.decided(st, ctx.now, said, nxt)

    # --- acting -----------------------------------------------------------------------------------
    async def _act(self, st: RemediationStatus, d: Decision, ctx: Pass) -> tuple[RemediationStatus, bool]:
        r, f = ctx.spec.remediation, d.finding
        if ctx.closed is not None:  # the admin has not enabled it here: say what it would have done
            pods = self._pods(f, ctx)
            text = messages.not_enabled_message(r.action, f, pods, self.namespace, ctx.closed)
            return await self._skip(
                st, Decision(PlanStep.SKIP, f, Reason.REMEDIATION_NOT_ENABLED, text), ctx
            ), False
        ref = ctx.workloads.get(state.key(f.workload))
        if ref is None:
            return await self._skip(st, plan.doubt(d, "its workload object is not resolved"), ctx), False
        try:
            obj = await self.cluster.read_workload(ref)
            restart = r.action is RemediationAction.ROLLOUT_RESTART
            pdbs = await self.cluster.list_pdbs(ref.namespace or "default") if restart else []
        except LeakpatrolError as exc:
            return await self._skip(
                st, plan.doubt(d, f"could not read it or its budgets: {exc.reason}: {exc}"), ctx
            ), False
        labels = {pod: ctx.targets[pod].label_map for pod in f.pods if pod in ctx.targets}
        block = plan.on_workload(r, f.workload.kind, obj, pdbs, labels)
        if block is not None:
            return await self._skip(st, plan.blocked(f, block), ctx), False
        claim = None if r.dry_run else self._claim(messages.name(f.workload), r.action.value, ctx.now)
        if claim is not None:  # the cluster's budget, claimed before anything is saved or written
            try:
                spent = await self.budget.claim(self.cluster, claim)
            except LeakpatrolError as exc:
                why = f"the cluster's action budget could not be read or claimed: {exc.reason}: {exc}"
                return await self._skip(st, plan.doubt(d, why), ctx), False
            if spent is not None:
                return await self._skip(st, plan.blocked(f, spent), ctx), False
        saved = ""
        if r.capture_evidence:
            try:
                st, saved = await self._capture(st, f, ctx)
            except evidence.EvidenceNotSaved as exc:
                await self._give_back(claim)
                return await self._skip(st, Decision(PlanStep.SKIP, f, exc.reason, str(exc)), ctx), False
        return await self._commit(st, d, ref, saved, ctx, claim=claim)

    def _pods(self, f: Finding, ctx: Pass) -> list[str]:
        """The pods an action takes down: one (the worst) — never more than one pod of a workload
        at a time; a restart replaces them all by the workload's own strategy (one at a time, the
        rails checked)."""
        return evidence.pods_worst_first(f, ctx.results)[:1]

    async def _commit(
        self,
        st: RemediationStatus,
        d: Decision,
        ref: ObjectRef,
        saved: str,
        ctx: Pass,
        *,
        claim: LedgerEntry | None,
    ) -> tuple[RemediationStatus, bool]:
        r, f = ctx.spec.remediation, d.finding
        pods = self._pods(f, ctx)
        uids = {name: t.uid for name, t in ctx.targets.items()}
        p = pending.intent(f, r, pods=pods, uids=uids, evidence=saved, now=ctx.now)
        ahead = pending.ahead(st, p)
        try:  # write-ahead: no pending record, no action
            await self.book.write(state.decided(ahead, ctx.now, p.message, None))
        except LeakpatrolError as exc:
            await self._give_back(claim)
            why = f"the action could not be recorded first: {exc.reason}"
            return await self._skip(st, plan.doubt(d, why), ctx), False
        try:
            outcome = await act(self.cluster, r.action, ref, pods, p.time, dry_run=r.dry_run, uids=uids)
        except LeakpatrolError as exc:  # it may have happened: pending, the next pass checks the workload
            why = f"the {r.action.value} failed: {exc.reason}: {exc}; pending until it is seen whether it did"
            return await self._skip(ahead, Decision(PlanStep.SKIP, f, Reason.DECISION_FAILED, why), ctx), True
        if outcome.blocked is not None and not outcome.evicted:
            await self._give_back(claim)
            why = f"the Eviction API refused: {outcome.blocked}; retried at a later pass"
            return await self._skip(st, Decision(PlanStep.SKIP, f, outcome.blocked.reason, why), ctx), False
        if outcome.blocked is not None:
            p = pending.partly(p, outcome.evicted)
        ctx.said = p.message
        return await self.book.done(ahead, p, r.cooldown, ctx.now, ref), True

    async def _reconcile(self, st: RemediationStatus, ctx: Pass) -> tuple[RemediationStatus, Busy | None]:
        """An action an earlier pass wrote ahead: did it happen? Settled before anything is decided."""
        p = st.pending
        if p is None:
            return st, None
        outcome, why = await self.book.check(p, ctx.now)
        if outcome is pending.Outcome.NOT_DONE:
            log.info("policy %s/%s: %s", *self._where(), why)
            if not p.dry_run:  # it did not happen: its claim leaves the cluster's count
                await self._give_back(self._claim(messages.name(p.workload), p.action, p.time))
            return pending.dropped(st), None
        if outcome is pending.Outcome.DONE:
            st = await self.book.done(st, pending.late(p), ctx.spec.remediation.cooldown, ctx.now, None)
            if st.pending is None:
                ctx.said = p.message
                return st, ONE_PER_PASS
            why += ", but it could not be recorded yet"
        ctx.said = why
        return st, (Reason.PENDING_ACTION_UNRESOLVED, f"{why}; nothing acts until it is settled")

    # --- the workload last acted on ---------------------------------------------------------------
    async def _settle(self, st: RemediationStatus) -> RemediationStatus:
        """Clear `inAction` once that workload is fully available again (or gone); on doubt keep it."""
        w = st.in_action
        if w is None:
            return st
        try:
            obj = await self.cluster.read_workload(workload_ref(w, self.policy.namespace))
        except ObjectNotFound:
            return state.settled(st)  # gone: nothing left to settle
        except LeakpatrolError:
            return st
        return st if rails.fully_available(w.kind, obj) else state.settled(st)
