"""`Sampler`: one target's profiles for one pass, fetched through the `Cluster` port and parsed.

The little per-target state the fetching needs (when the expensive, Go 1.26+ goroutineleak
profile is next due, and whether the target exposes it at all) lives in the target's record.
"""

from __future__ import annotations

from leakpatrol.api import FieldIssue, LeakPolicySpec, Toggle
from leakpatrol.api.spec import AutoToggle
from leakpatrol.api.units import format_duration
from leakpatrol.controller.collect.fairness import FairShare
from leakpatrol.controller.collect.records import TargetRecord
from leakpatrol.controller.ports import Cluster, FetchOptions, ScanTarget
from leakpatrol.core import MAX_PROFILE_BYTES, TargetNotExposed
from leakpatrol.detect.evaluator import Sample
from leakpatrol.inflight import ByteBudget
from leakpatrol.profiles import Profile
from leakpatrol.profiles.parser import ProfileParser


class Sampler:
    def __init__(
        self, cluster: Cluster, parser: ProfileParser, buffer: ByteBudget, workers: FairShare
    ) -> None:
        self.cluster = cluster
        self.parser = parser
        self.buffer = buffer
        self.workers = workers  # the parser's worker processes, taken in turn by namespace

    async def sample(self, t: ScanTarget, record: TargetRecord, spec: LeakPolicySpec, now: float) -> Sample:
        """Raises what the port's fetch and the parser raise (all `core.LeakpatrolError`s)."""
        # A body bigger than the parser may inflate can never parse (gzip only grows when inflated):
        # the download stops there instead of holding, and handing a worker, bytes to refuse.
        opts = fetch_options(spec, min(MAX_PROFILE_BYTES, self.parser.limits.max_bytes))
        base = spec.target.path.rstrip("/")
        goroutine = heap = leak = None
        if spec.profiles.goroutine is Toggle.ENABLED:
            goroutine = await self.profile(t, f"{base}/goroutine?debug=0", opts)
        if spec.profiles.heap is Toggle.ENABLED:
            heap = await self.profile(t, f"{base}/heap", opts)
        if _leak_due(record, spec, now):
            record.leak_next = now + spec.profiles.goroutineleak_interval
            try:
                leak = await self.profile(t, f"{base}/goroutineleak?debug=0", opts)
            except TargetNotExposed:
                if spec.profiles.goroutineleak is not AutoToggle.AUTO:
                    raise
                record.leak_absent = True  # Go < 1.26 or the experiment is off: not a failure
        return Sample(now, goroutine, heap, leak)

    async def parse(self, body: bytes, namespace: str) -> Profile:
        """Any other body from a pod (remediation's evidence): the parser's limits, its workers
        taken in the namespace's turn, never an unbounded parse on the event loop."""
        return await self.parser.parse(body, self.workers.slot(namespace))

    async def profile(self, t: ScanTarget, path: str, opts: FetchOptions) -> Profile:
        """The body is held, and counted in the operator's byte budget, until it is parsed (the
        scan's profiles, and the debug=2 dump of remediation's evidence)."""
        async with self.buffer.share() as share:
            body = await self.cluster.fetch(t, path, opts, share)
            return await self.parser.parse(body, self.workers.slot(t.namespace))


def _leak_due(record: TargetRecord, spec: LeakPolicySpec, now: float) -> bool:
    if spec.profiles.goroutineleak is AutoToggle.DISABLED or record.leak_absent:
        return False
    return record.leak_next <= now


def fetch_options(spec: LeakPolicySpec, max_bytes: int = MAX_PROFILE_BYTES) -> FetchOptions:
    t = spec.target
    return FetchOptions(
        t.transport,
        t.scheme.value,
        t.timeouts.connect,
        t.timeouts.read,
        t.timeouts.total,
        max_bytes,
    )


def timeouts_over(spec: LeakPolicySpec, most: float) -> list[FieldIssue]:
    """Each of `spec.target.timeouts` longer than the operator allows (`--max-target-timeout`): a
    fetch holds a slot shared with every tenant for up to that long, so the admin bounds it and the
    policy is refused (InvalidSpec, the field named), never silently clamped to another meaning."""
    t = spec.target.timeouts
    return [
        FieldIssue(
            f"spec.target.timeouts.{name}",
            f"{format_duration(value)} exceeds the operator's maximum of {format_duration(most)}"
            " (--max-target-timeout, set by the cluster admin)",
        )
        for name, value in (("connect", t.connect), ("read", t.read), ("total", t.total))
        if value > most
    ]
