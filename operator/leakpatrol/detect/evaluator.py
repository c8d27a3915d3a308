"""The streaming evaluator: one per target (pod), fed one sample at a time, bounded memory.

The CLI's `analyze` replays a recorded series through it; the operator feeds it live scans.
Both use the same `DetectionConfig` defaults. A restart ends a container life: the series starts
afresh, but what the life showed is kept (`detect.lives`), and lives confirm a leak together
that none of them was long enough to confirm alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from leakpatrol.core import FindingBasis, LeakState, SignalKind
from leakpatrol.detect.channel import Channel
from leakpatrol.detect.config import DetectionConfig
from leakpatrol.detect.display import display_frames
from leakpatrol.detect.lives import (
    KINDS,
    MAX_LIVES,
    LastLife,
    Life,
    Lives,
    lives_signal,
)
from leakpatrol.detect.onelife import LifeSignal, judge_life, judgeable
from leakpatrol.detect.points import goroutine_points, heap_points
from leakpatrol.detect.signals import CulpritGroup, Evaluation, RuleRef, Signal
from leakpatrol.detect.tracker import GroupPoint
from leakpatrol.diagnose.rules import RuleSet
from leakpatrol.profiles.model import Profile, StackGroup, WaitKind
from leakpatrol.reasons import Termination


@dataclass(frozen=True, slots=True)
class PodIdentity:
    """What makes a process a new one: a changed uid, start time or restart count resets the series.
    `last` (the kubelet's account of the previous life) says how the life before this one ended;
    it is not part of the identity."""

    uid: str = ""
    started_at: float | None = None
    restarts: int = 0
    last: LastLife | None = field(default=None, compare=False)


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
        self.lives = Lives()
        self.lives_since: dict[SignalKind, float] = {}  # when each kind's lives verdict began
        self.workload: tuple[str, str] | None = None  # (kind, name), once the operator knows it
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
            if self.pod is not None and not self._resumes(pod):
                self._end_life(pod, sample.time)  # a restarted or replaced process starts a new series
            self.pod = pod
        started = self.pod.started_at if self.pod else None
        in_warmup = started is not None and sample.time < started + self.config.warmup_seconds
        signals: list[Signal] = []
        if sample.goroutineleak is not None:
            self.leak_signal = self._goroutineleak_signal(sample.goroutineleak, sample.goroutine, sample.time)
        if not in_warmup:
            signals.extend(self._feed(sample))
        signals = self._with_lives(signals, sample.time, between=False)
        # Growth signals first: they name what keeps growing; the runtime's proof comes next.
        if self.leak_signal is not None:
            signals.insert(1 if signals and signals[0].kind is SignalKind.GOROUTINES else 0, self.leak_signal)
        evaluated = max(len(self.goroutines.tracker), len(self.heap.tracker)) >= self.config.min_samples
        samples = len(self.goroutines.tracker) or len(self.heap.tracker)
        across = any(s.lives for s in signals)
        return Evaluation(
            sample.time, samples, evaluated or across or self.leak_signal is not None, tuple(signals)
        )

    def rest(self, pod: PodIdentity, now: float) -> Evaluation:
        """The container is between lives (crashed, waiting out its back-off): nothing to sample,
        but the life that ended is judged now, and what the lives say stands."""
        old = self.pod
        ended = old is None or pod.uid != old.uid or pod.restarts > old.restarts
        if old is not None and ended and not self._resumes(pod):
            self._end_life(pod, now)
        if ended:  # else the same life, running but not Ready (a failing probe): nothing ended
            self.pod = replace(pod, started_at=None)  # the next life's start is not known yet
        signals = self._with_lives([], now, between=True)
        return Evaluation(now, 0, bool(signals), tuple(signals))

    def gone(self, now: float) -> None:
        """The pod went away: its last life ends (Deleted) and is kept with the others."""
        if self.pod is not None and self.pod.started_at is not None:
            self._close(self.pod.started_at, now, Termination.DELETED, None, now)
            self._reset()
        self.pod = replace(self.pod or PodIdentity(), started_at=None)

    def depart(self, now: float) -> bool:
        """The pod is gone: end its life (Deleted) and say whether its lives are worth keeping for
        a successor of the same workload (a lost life of a leak is half the evidence)."""
        self.gone(now)
        self.lives.trim(now, self.config.window_seconds)
        return self.workload is not None and any(life.judged for life in self.lives.ended)

    def inherit(self, predecessor: TargetEvaluator) -> None:
        """Take on the lives of the pod this one replaced (same workload), before its own."""
        self.lives.ended[:0] = predecessor.lives.ended
        del self.lives.ended[: max(0, len(self.lives.ended) - MAX_LIVES)]

    def _resumes(self, pod: PodIdentity) -> bool:
        """The same life seen again after a rest: only its start time is new."""
        old = self.pod
        return (
            old is not None and old.started_at is None and (old.uid, old.restarts) == (pod.uid, pod.restarts)
        )

    def _end_life(self, pod: PodIdentity, now: float) -> None:
        """Judge the life that ended (and note those that began and ended unseen), then reset."""
        old = self.pod
        assert old is not None
        if pod.uid != old.uid:  # another pod: the old one's life ended with it
            if old.started_at is not None:
                self._close(old.started_at, self._last_time() or now, Termination.DELETED, None, now)
            self._reset()
            return
        ended, last = max(1, pod.restarts - old.restarts), pod.last
        if old.started_at is not None:  # after a rest, that life was closed already
            if ended == 1 and last is not None:
                self._close(old.started_at, last.finished_at or now, last.end, last.exit_code, now)
            else:
                self._close(old.started_at, self._last_time() or now, Termination.UNKNOWN, None, now)
            ended -= 1
        # The rest began and ended between two looks; the kubelet's account is of the last of them.
        for i in range(ended):
            told = last if i == ended - 1 else None
            if told is None:
                self.lives.add(Life(None, None, Termination.UNKNOWN))
            else:
                self.lives.add(Life(told.started_at, told.finished_at, told.end, told.exit_code))
        self.lives.trim(now, self.config.window_seconds)
        self._reset()

    def _close(
        self, started: float, ended: float, end: Termination, exit_code: int | None, now: float
    ) -> None:
        channels = (self.goroutines, self.heap)
        judged = {
            kind: signal
            for kind, channel in zip(KINDS, channels, strict=True)
            if (signal := judge_life(channel, self.config, self.rules, now)) is not None
        }
        samples = max(len(c.tracker) for c in channels)
        enough = any(judgeable(c.tracker, self.config) for c in channels)
        self.lives.add(Life(started, ended, end, exit_code, samples, enough, judged))

    def _current(self, channel: Channel, now: float) -> LifeSignal | bool | None:
        """The current life judged like an ended one (only when there are lives to compare it with)."""
        if not any(life.judged for life in self.lives.ended) or not judgeable(channel.tracker, self.config):
            return None
        return judge_life(channel, self.config, self.rules, now) or False

    def _last_time(self) -> float | None:
        times = self.goroutines.tracker.times or self.heap.tracker.times
        return times[-1] if times else None

    def _with_lives(self, signals: list[Signal], now: float, *, between: bool) -> list[Signal]:
        """The window's signals, with the lives' verdict where it says more (a confirmation the
        window has not reached yet, or a signal the window does not have)."""
        out = list(signals)
        for kind, channel in zip(KINDS, (self.goroutines, self.heap), strict=True):
            verdict = self.lives.verdict(kind, None if between else self._current(channel, now))
            if verdict is None:
                self.lives_since.pop(kind, None)
                continue
            since = self.lives_since.setdefault(kind, now)
            ours = lives_signal(kind, verdict, since, self.lives.ended)
            window = next((i for i, s in enumerate(out) if s.kind is kind), None)
            if window is None:
                out.append(ours)
            elif out[window].state is LeakState.SUSPECTED and ours.state is LeakState.CONFIRMED:
                out[window] = ours
        return out

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
