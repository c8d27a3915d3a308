"""`Sampler`: one target's profiles for one pass, fetched through the `Cluster` port and parsed.

It keeps the little per-target state the fetching needs: when the (expensive, Go 1.26+)
goroutineleak profile is next due, and which targets do not expose it at all.
"""

from __future__ import annotations

from leakpatrol.api import LeakPolicySpec, Toggle
from leakpatrol.api.spec import AutoToggle
from leakpatrol.controller.ports import Cluster, FetchOptions, ScanTarget
from leakpatrol.core import MAX_PROFILE_BYTES, TargetNotExposed
from leakpatrol.detect.evaluator import Sample
from leakpatrol.profiles import Profile
from leakpatrol.profiles.parser import ProfileParser


class Sampler:
    def __init__(self, cluster: Cluster, parser: ProfileParser) -> None:
        self.cluster = cluster
        self.parser = parser
        self.leak_next: dict[str, float] = {}  # pod uid -> next goroutineleak fetch
        self.leak_absent: set[str] = set()  # pod uids whose goroutineleak endpoint 404'd (Auto)

    async def sample(self, t: ScanTarget, spec: LeakPolicySpec, now: float) -> Sample:
        """Raises what the port's fetch and the parser raise (all `core.LeakpatrolError`s)."""
        opts = fetch_options(spec)
        base = spec.target.path.rstrip("/")
        goroutine = heap = leak = None
        if spec.profiles.goroutine is Toggle.ENABLED:
            goroutine = await self._profile(t, f"{base}/goroutine?debug=0", opts)
        if spec.profiles.heap is Toggle.ENABLED:
            heap = await self._profile(t, f"{base}/heap", opts)
        if self._leak_due(t.uid, spec, now):
            self.leak_next[t.uid] = now + spec.profiles.goroutineleak_interval
            try:
                leak = await self._profile(t, f"{base}/goroutineleak?debug=0", opts)
            except TargetNotExposed:
                if spec.profiles.goroutineleak is not AutoToggle.AUTO:
                    raise
                self.leak_absent.add(t.uid)  # Go < 1.26 or the experiment is off: not a failure
        return Sample(now, goroutine, heap, leak)

    async def _profile(self, t: ScanTarget, path: str, opts: FetchOptions) -> Profile:
        return await self.parser.parse(await self.cluster.fetch(t, path, opts))

    def forget_gone(self, present: set[str]) -> None:
        for uid in [u for u in self.leak_next if u not in present]:
            del self.leak_next[uid]
        self.leak_absent &= present

    def _leak_due(self, uid: str, spec: LeakPolicySpec, now: float) -> bool:
        if spec.profiles.goroutineleak is AutoToggle.DISABLED or uid in self.leak_absent:
            return False
        return self.leak_next.get(uid, 0.0) <= now


def fetch_options(spec: LeakPolicySpec) -> FetchOptions:
    t = spec.target
    return FetchOptions(
        t.transport,
        t.scheme.value,
        t.timeouts.connect,
        t.timeouts.read,
        t.timeouts.total,
        MAX_PROFILE_BYTES,
    )
