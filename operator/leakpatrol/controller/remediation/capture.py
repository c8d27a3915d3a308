"""A `Remediator`'s evidence step: the worst pod's profiles saved (evidence.py) when a leak is
first confirmed and before an action, once per pass, and the Event saying where they are."""

from __future__ import annotations

import logging
from datetime import timedelta

from leakpatrol.api import Finding, RemediationStatus
from leakpatrol.controller.remediation import evidence, messages, state
from leakpatrol.controller.remediation.telling import Pass, Telling
from leakpatrol.reasons import Reason

log = logging.getLogger(__name__)

FRESH_EVIDENCE = timedelta(seconds=60)


class Capturing(Telling):
    parse: evidence.Parse
    read: evidence.Read | None

    async def _first_evidence(self, st: RemediationStatus, f: Finding, ctx: Pass) -> RemediationStatus:
        try:
            st, _ = await self._capture(st, f, ctx)
        except evidence.EvidenceNotSaved as exc:  # nothing to act on yet: say it, carry on
            log.warning("policy %s/%s: %s", *self._where(), exc)
        return st

    async def _capture(self, st: RemediationStatus, f: Finding, ctx: Pass) -> tuple[RemediationStatus, str]:
        """Save the worst pod's profiles once per pass; the ConfigMap's name for the Event."""
        k = state.key(f.workload)
        recent = [e for e in st.evidence if state.key(e.workload) == k and ctx.now - e.time < FRESH_EVIDENCE]
        if recent:  # taken moments ago (this pass, or a retry after a failed attempt): still the state
            return st, recent[-1].config_map
        pod = evidence.worst_pod(f, ctx.results)
        target, ref = ctx.targets.get(pod), ctx.workloads.get(k)
        if target is None or ref is None:
            raise evidence.EvidenceNotSaved(
                f"pod {pod or '?'} of {messages.name(f.workload)} is not a current target"
            )
        stored, files = await evidence.capture(
            self.cluster,
            policy=self.policy,
            workload=ref,
            target=target,
            spec=ctx.spec,
            now=ctx.now,
            goroutines=evidence.goroutines_of(pod, ctx.results),
            parse=self.parse,
            read=self.read,
        )
        evref = evidence.reference(stored, f.workload, pod, files, ctx.now)
        text = (
            f"saved profiles of pod {pod} ({', '.join(files)}) in ConfigMap {stored.namespace}/{stored.name}"
        )
        text += f"; open one: {evref.command}"
        await self._tell(ref, Reason.EVIDENCE_SAVED.event_type, Reason.EVIDENCE_SAVED, text)
        return state.add_evidence(st, evref), stored.name
