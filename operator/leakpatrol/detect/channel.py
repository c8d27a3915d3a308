"""One signal (goroutines or heap) of one target: tracker + trend tests + confirmations -> Signal.

Per group, in order:
1. a group that was confirmed (flagged for `confirmations` evaluations running) stays flagged
   while its own trend keeps rising significantly: the floors that guard *confirming* (relative
   growth, the load defences) do not un-confirm a leak that keeps its rate;
2. the trend path or the floor path (`trend.py`) flags a growing series;
3. the load defences (`load.py`) then explain growth away: a state shift inside its root; a group
   whose root's other states grow with it follows that root's load unless it outgrows its share;
   a group that tracks the target's load must grow over a whole window.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import median

from leakpatrol.core import LeakState, SignalKind
from leakpatrol.detect.config import DetectionConfig
from leakpatrol.detect.culprits import CulpritPicker, Scored
from leakpatrol.detect.load import comoving, excess, outgrows_siblings, quick_growth
from leakpatrol.detect.signals import Signal
from leakpatrol.detect.stats import mann_kendall, pearson, quarters
from leakpatrol.detect.tracker import GroupTracker, Series
from leakpatrol.detect.trend import (
    FLOOR_ABSOLUTE_SHARE,
    Floors,
    Trend,
    assess_any,
    floor_rise,
    window_growth,
)
from leakpatrol.diagnose.rules import RuleSet

_LOAD_CORRELATION = 0.8  # a group this correlated with a rising load follows the load
_LOAD_SIGNIFICANCE = 0.05
_HOLD_SIGNIFICANCE = 0.05  # a confirmed leak stays confirmed while its rise is this significant
_ROOT_SHARE = 0.5  # the root must grow by at least half of what the group grew
_QUIET = 5.0  # an early verdict needs the group's root siblings to grow by less than this


def _not(trend: Trend, why: str) -> Trend:
    return Trend(
        False, trend.growth, trend.growth_per_hour, trend.p_value, trend.baseline, trend.current, why
    )


class Channel:
    def __init__(self, kind: SignalKind, config: DetectionConfig, rules: RuleSet) -> None:
        self.kind = kind
        # The floor path rests on leaked goroutines never exiting; retained heap follows load too.
        self.floor_path = kind is not SignalKind.HEAP
        self.tracker = GroupTracker(config.top_groups, load_aware=kind is SignalKind.GOROUTINES)
        self.streak = 0
        self.since: float | None = None
        self.last: Signal | None = None  # carried over samples that lack this signal's profile
        self._load: list[float] | None = None
        self.reconfigure(config, rules)

    def reconfigure(self, config: DetectionConfig, rules: RuleSet) -> None:
        """New thresholds and rules for the series already gathered: nothing is thrown away."""
        self.config = config
        self.rules = rules
        self.picker = CulpritPicker(self.kind.value, rules)
        absolute = (
            config.min_growth_heap_bytes if self.kind is SignalKind.HEAP else config.min_growth_goroutines
        )
        self.floors = Floors(
            absolute, config.relative_growth, config.noise_factor, config.significance, config.min_samples
        )
        # A quiet target's plainest leaks may be flagged from two thirds of min_samples (see _early).
        self.early_samples = max(4, 2 * config.min_samples // 3)
        self.tracker.top_groups = config.top_groups
        self.tracker.trim(config.window_seconds, config.max_samples)

    # --- load --------------------------------------------------------------------------------
    def _siblings(self, series: Series) -> list[float]:
        root = self.tracker.tail_root(series)
        return [r - v for r, v in zip(root, series.values, strict=True)]

    def _target_load(self) -> list[float]:
        """In-flight work of the whole target: groups the profile marks as request handlers, plus
        every root whose biggest group moves with the root's other states (less the handlers in
        it, which are counted already)."""
        if self._load is None:
            t = self.tracker
            load = list(t.load) if t.load_aware else [0.0] * len(t.times)
            biggest: dict[str, Series] = {}
            for s in t.groups.values():
                if s.root not in biggest or s.values[-1] > biggest[s.root].values[-1]:
                    biggest[s.root] = s
            for root, s in biggest.items():
                totals = t.roots.get(root)
                if totals is not None and comoving(s.values, self._siblings(s)):
                    self._add_root(load, root, totals)
            self._load = load
        return self._load

    def _add_root(self, load: list[float], root: str, totals: Sequence[float]) -> None:
        offset = len(load) - len(totals)
        for i, v in enumerate(totals):
            load[offset + i] += v
        for s in self.tracker.groups.values():
            if s.is_load and s.root == root:
                offset = len(load) - len(s.values)
                for i, v in enumerate(s.values):
                    load[offset + i] -= v

    def _follows_load(self, series: Series) -> bool:
        if series.is_load:
            return True
        load = self._target_load()[-len(series.values) :]
        if len(load) < self.floors.min_samples:
            return False
        mk = mann_kendall(load)
        rising = mk.s > 0 and mk.p_value < _LOAD_SIGNIFICANCE and max(load) > 1.2 * max(1.0, min(load))
        return rising and pearson(series.values, load) >= _LOAD_CORRELATION

    def _total_trend(self) -> Trend:
        """The total less the in-flight work that structure recognises as load: what is left is
        what load does not explain (a daily cycle of request handlers cannot raise it). If the rest
        still tracks the load (connection pools, the client side of requests), it must grow over a
        whole window like any load follower."""
        t = self.tracker
        if not t.load_aware:
            return assess_any(t.times, t.total, self.floors, floor_path=self.floor_path)
        load = self._target_load()
        rest = [a - b for a, b in zip(t.total, load, strict=True)]
        trend = assess_any(t.times, rest, self.floors, floor_path=self.floor_path)
        if not trend.flagged or quick_growth(load) <= 0 or pearson(rest, load) < _LOAD_CORRELATION:
            return trend
        if t.times[-1] - t.times[0] < 0.9 * self.config.window_seconds:
            return _not(trend, "follows load; needs a full window")
        return assess_any(t.times, rest, self.floors, follows_load=True, floor_path=self.floor_path)

    # --- one series --------------------------------------------------------------------------
    def _held(self, times: Sequence[float], values: Sequence[float]) -> Trend | None:
        """A confirmed group keeps its verdict while it still rises significantly, over the window
        and in its recent half; a missed or noisy sample cannot resolve it."""
        if len(values) < self.floors.min_samples:
            return None
        # Plain Mann-Kendall: a step leak's staircase is all autocorrelation, which is exactly what
        # a leak that keeps its course looks like; the correction guards confirming, not holding.
        mk = mann_kendall(values, autocorrelation=False)
        half = len(values) // 2
        if mk.s <= 0 or mk.p_value >= _HOLD_SIGNIFICANCE or quick_growth(values[half:]) < 0:
            return None
        q = quarters(values)  # O(n): holding is checked every evaluation, a Theil-Sen fit is O(n^2)
        growth = max(quick_growth(values), min(q[3]) - max(q[0]))
        if growth <= FLOOR_ABSOLUTE_SHARE * self.floors.absolute:
            return None
        span = times[-1] - times[0]
        per_hour = growth / span * 3600 if span > 0 else 0.0
        return Trend(
            True, growth, per_hour, mk.p_value, median(values[: max(1, len(values) // 4)]), values[-1]
        )

    def _judge(self, series: Series) -> Trend:
        times = self.tracker.tail_times(series)
        values = series.values
        siblings = self._siblings(series) if self.tracker.load_aware else []
        if series.flagged_streak >= self.config.confirmations:
            # Inside a root under load, what must keep rising is its excess over its share.
            in_load = bool(siblings) and comoving(values, siblings)
            held = self._held(times, excess(values, siblings) if in_load else values)
            if held is not None:
                return held
        if len(values) < self.floors.min_samples:
            return self._early(times, values, siblings)
        trend = assess_any(times, values, self.floors, floor_path=self.floor_path)
        if not self.tracker.load_aware or not (trend.flagged or trend.why_not == "no longer rising"):
            return trend
        return self._defend(series, times, values, siblings, trend)

    def _defend(
        self,
        series: Series,
        times: Sequence[float],
        values: Sequence[float],
        siblings: list[float],
        trend: Trend,
    ) -> Trend:
        """The load defences, for a series the trend or floor path flagged."""
        if window_growth(times, self.tracker.tail_root(series)) < _ROOT_SHARE * trend.growth:
            return _not(trend, "a state shift within its root")
        if self._state_shift_recent(times, values, siblings):
            return _not(trend, "a state shift within its root")
        if comoving(values, siblings):
            return self._inside_load(times, values, siblings, trend)
        if not self._follows_load(series):
            return trend
        # Growth that follows load must hold over a whole window and still rise above the noise:
        # a ramp or a daily cycle flattens or turns within one, a leak does not.
        if times[-1] - times[0] < 0.9 * self.config.window_seconds:
            return _not(trend, "follows load; needs a full window")
        return assess_any(times, values, self.floors, follows_load=True, floor_path=self.floor_path)

    def _early(self, times: Sequence[float], values: Sequence[float], siblings: Sequence[float]) -> Trend:
        """Before min_samples, only the plainest goroutine leak of a quiet target: a significant
        rise whose floor never fell and rose clear of the noise, while nothing in the target's load
        moves and the group's own root's other states stay put. Whatever could be load waits for
        the full minimum."""
        too_few = Trend(False, 0.0, 0.0, 1.0, 0.0, values[-1] if values else 0.0, "too few samples")
        if not (self.tracker.load_aware and self.floor_path) or len(values) < self.early_samples:
            return too_few
        rise, spread = floor_rise(values)
        if rise <= max(FLOOR_ABSOLUTE_SHARE * self.floors.absolute, self.floors.noise_factor * spread):
            return too_few
        mk = mann_kendall(values)
        if mk.s <= 0 or mk.p_value >= self.floors.significance:
            return too_few
        load = self._target_load()[-len(values) :]
        if max(load) - min(load) > 0.5 * self.floors.absolute or quick_growth(siblings) >= _QUIET:
            return too_few
        span = times[-1] - times[0]
        per_hour = rise / span * 3600 if span > 0 else 0.0
        return Trend(True, rise, per_hour, mk.p_value, values[0], values[-1])

    @staticmethod
    def _state_shift_recent(
        times: Sequence[float], values: Sequence[float], siblings: Sequence[float]
    ) -> bool:
        """Over the recent half the root did not grow with the group: goroutines moved between
        states of one pool (busy -> idle as load falls), the pool itself did not grow."""
        half = len(values) // 2
        recent = window_growth(times[half:], values[half:])
        root = [s + v for s, v in zip(siblings[half:], values[half:], strict=True)]
        return recent > 0 and window_growth(times[half:], root) < _ROOT_SHARE * recent

    def _inside_load(
        self, times: Sequence[float], values: Sequence[float], siblings: Sequence[float], trend: Trend
    ) -> Trend:
        """The root's other states grew with it: only what it holds beyond its share can leak."""
        if not outgrows_siblings(values, siblings):
            return _not(trend, "keeps its share of a root under load")
        beyond = assess_any(times, excess(values, siblings), self.floors, floor_path=self.floor_path)
        return beyond if beyond.flagged else _not(beyond, "keeps its share of a root under load")

    # --- evaluation ---------------------------------------------------------------------------
    def evaluate(self, now: float) -> Signal | None:
        self._load = None
        scored: list[Scored] = []
        for series in self.tracker.groups.values():
            trend = self._judge(series)
            series.flagged_streak = series.flagged_streak + 1 if trend.flagged else 0
            scored.append(Scored(series, trend))
        total = self._total_trend()
        over_ceiling = (
            self.kind is SignalKind.GOROUTINES
            and self.config.goroutine_ceiling is not None
            and bool(self.tracker.total)
            and self.tracker.total[-1] > self.config.goroutine_ceiling
        )
        flagged = [s for s in scored if s.trend.flagged]
        if not (flagged or total.flagged or over_ceiling):
            self.streak, self.since, self.last = 0, None, None
            return None
        self.streak += 1
        self.since = self.since if self.since is not None else now
        self.last = self._signal(scored, flagged, total)
        return self.last

    def _signal(self, scored: list[Scored], flagged: list[Scored], total: Trend) -> Signal:
        positive = sum(max(0.0, s.trend.growth) for s in scored) or 1.0
        pool = flagged or sorted((s for s in scored if s.trend.growth > 0), key=lambda s: -s.trend.growth)
        if not pool:  # only the ceiling or the total tripped: name the largest groups
            pool = sorted(scored, key=lambda s: -s.series.values[-1])[:1]
        pool = sorted(pool, key=lambda s: -s.trend.growth)
        culprits: list[Scored] = []
        covered = 0.0
        for s in pool:
            culprits.append(s)
            covered += max(0.0, s.trend.growth)
            if covered >= self.config.culprit_share * positive:
                break
        growing = [s for s in scored if s.trend.growth > 0]
        lead, groups = self.picker.groups(culprits, growing, positive)
        basis = culprits[lead].trend if flagged else total
        state = LeakState.CONFIRMED if self.streak >= self.config.confirmations else LeakState.SUSPECTED
        if state is LeakState.CONFIRMED:
            # The groups named are what must stop growing before the leak is resolved, even when
            # the total confirmed it (see _held).
            for c in culprits:
                if c.trend.growth > 0:
                    c.series.flagged_streak = max(c.series.flagged_streak, self.config.confirmations)
        return Signal(
            kind=self.kind,
            state=state,
            culprit=groups[lead],
            related=tuple(g for i, g in enumerate(groups) if i != lead),
            rule=groups[lead].rule,
            growth_per_hour=basis.growth_per_hour,
            p_value=basis.p_value,
            baseline=self._total_at(0),
            current=self._total_at(3),
            since=self.since if self.since is not None else 0.0,
        )

    def _total_at(self, quarter: int) -> float:
        """The total's median over a quarter of the window: what the signal reports as from/to."""
        total = self.tracker.total
        if len(total) < 4:
            return total[0 if quarter == 0 else -1] if total else 0.0
        return median(quarters(total)[quarter])
