"""The streaming evaluator: one per target (pod), fed one sample at a time, bounded memory.

The CLI's `analyze` replays a recorded series through it; the operator feeds it live scans.
Both use the same `DetectionConfig` defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

from leakpatrol.core import FindingBasis, LeakState, SignalKind
from leakpatrol.detect.channel import Channel
from leakpatrol.detect.config import DetectionConfig
from leakpatrol.detect.display import display_frames
from leakpatrol.detect.points import goroutine_points, heap_points
from leakpatrol.detect.signals import CulpritGroup, Evaluation, RuleRef, Signal
from leakpatrol.detect.tracker import GroupPoint
from leakpatrol.diagnose.rules import RuleSet
from leakpatrol.profiles.model import Profile, StackGroup, WaitKind


@dataclass(frozen=True, slots=True)
class PodIdentity:
    """What makes a process a new one: a changed uid, start time or restart count resets the series."""

    uid: str = ""
    started_at: float | None = None
    restarts: int = 0


@dataclass(frozen=True, slots=True)
class Sample:
    time: float
    goroutine: Profile | None = None
    heap: Profile | None = None
    goroutineleak: Profile | None = None


class TargetEvaluator:
    def __init__(self, config: DetectionConfig | None = None, rules: RuleSet | None = None) -> None:
        self.config = config or DetectionConfig()
        self.rules = rules or RuleSet.default()
        self.pod: PodIdentity | None = None
        self._reset()

    def reconfigure(self, config: DetectionConfig, rules: RuleSet) -> None:
        """Apply an edited policy to this target's series in place (no dump/restore round trip)."""
        self.config, self.rules = config, rules
        for channel in (self.goroutines, self.heap):
            channel.reconfigure(config, rules)

    def _reset(self) -> None:
        self.goroutines = Channel(SignalKind.GOROUTINES, self.config, self.rules)
        self.heap = Channel(SignalKind.HEAP, self.config, self.rules)
        self.leak_signal: Signal | None = None

    def observe(self, sample: Sample, pod: PodIdentity | None = None) -> Evaluation:
        if pod is not None and pod != self.pod:
            if self.pod is not None:
                self._reset()  # a restarted or replaced process starts a new series
            self.pod = pod
        started = self.pod.started_at if self.pod else None
        in_warmup = started is not None and sample.time < started + self.config.warmup_seconds
        signals: list[Signal] = []
        if sample.goroutineleak is not None:
            self.leak_signal = self._goroutineleak_signal(sample.goroutineleak, sample.goroutine, sample.time)
        if not in_warmup:
            signals.extend(self._feed(sample))
        # Growth signals first: they name what keeps growing; the runtime's proof comes next.
        if self.leak_signal is not None:
            signals.insert(1 if signals and signals[0].kind is SignalKind.GOROUTINES else 0, self.leak_signal)
        evaluated = max(len(self.goroutines.tracker), len(self.heap.tracker)) >= self.config.min_samples
        samples = len(self.goroutines.tracker) or len(self.heap.tracker)
        return Evaluation(sample.time, samples, evaluated or self.leak_signal is not None, tuple(signals))

    def _feed(self, sample: Sample) -> list[Signal]:
        signals = []
        for channel, profile, points in (
            (self.goroutines, sample.goroutine, goroutine_points),
            (self.heap, sample.heap, heap_points),
        ):
            if profile is None:
                # A profile missing from this sample says nothing new: the channel's last verdict
                # stands (a missed scrape must not resolve a leak).
                if channel.last is not None:
                    signals.append(channel.last)
                continue
            tracker = channel.tracker
            kept, total = self._without_allowlisted(points(profile), float(profile.total))
            tracker.add(sample.time, kept, total)
            tracker.trim(self.config.window_seconds, self.config.max_samples)
            signal = channel.evaluate(sample.time)
            if signal is not None:
                signals.append(signal)
        return signals

    def _without_allowlisted(self, points: list[GroupPoint], total: float) -> tuple[list[GroupPoint], float]:
        """Known-static groups leave the series entirely, total included: they can neither be
        flagged nor make the total look like it grows."""
        allow = self.config.allowlist
        if not allow:
            return points, total
        kept = [p for p in points if not any(a in p.signature for a in allow)]
        return kept, total - sum(p.value for p in points) + sum(p.value for p in kept)

    def _goroutineleak_signal(
        self, profile: Profile, goroutines: Profile | None, now: float
    ) -> Signal | None:
        """The runtime proved these goroutines can never wake: no statistics needed."""
        groups = sorted((g for g in profile.groups if g.count > 0), key=lambda g: -g.count)
        if not groups:
            return None
        total = sum(g.count for g in groups)
        # A debug=1 goroutineleak profile drops the runtime frames that tell the wait kind; the
        # goroutine profile taken beside it has the same stacks with them.
        known = {
            tuple(f.function for f in g.user_frames): g.wait_kind
            for g in (goroutines.groups if goroutines is not None else ())
            if g.wait_kind is not WaitKind.UNKNOWN
        }

        def culprit(g: StackGroup) -> CulpritGroup:
            functions = tuple(f.function for f in g.user_frames)
            wait_kind = known.get(functions, g.wait_kind) if g.wait_kind is WaitKind.UNKNOWN else g.wait_kind
            rule = self.rules.match(SignalKind.GOROUTINELEAK.value, wait_kind.value, functions)
            return CulpritGroup(
                signature=g.signature,
                wait_kind=wait_kind.value,
                frames=display_frames(g.user_frames or g.frames),
                count=g.count,
                growth=g.count,
                share=g.count / total,
                rule=None if rule is None else RuleRef(rule.id, rule.cause, rule.fix, rule.priority),
            )

        lead, *rest = [culprit(g) for g in groups[:5]]
        since = self.leak_signal.since if self.leak_signal is not None else now
        return Signal(
            kind=SignalKind.GOROUTINELEAK,
            state=LeakState.CONFIRMED,
            culprit=lead,
            related=tuple(rest),
            rule=lead.rule,
            growth_per_hour=0.0,
            p_value=0.0,
            baseline=0.0,
            current=float(total),
            since=since,
            basis=FindingBasis.RUNTIME,
        )
