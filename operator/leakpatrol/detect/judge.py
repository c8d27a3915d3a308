"""One evaluation of one signal: each tracked group, and the total, judged against the floors.

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
from itertools import pairwise
from statistics import median

from leakpatrol.core import SignalKind
from leakpatrol.detect.config import DetectionConfig
from leakpatrol.detect.load import (
    LOAD_CORRELATION,
    comoving,
    excess,
    follows_load,
    outgrows_siblings,
    quick_growth,
    siblings_of,
    target_load,
)
from leakpatrol.detect.stats import mann_kendall, pearson, quarters
from leakpatrol.detect.tracker import GroupTracker, Series
from leakpatrol.detect.trend import (
    FLOOR_ABSOLUTE_SHARE,
    STILL_RISING_SHARE,
    Floors,
    Trend,
    assess_any,
    floor_rise,
    window_growth,
)

_HOLD_SIGNIFICANCE = 0.05  # a confirmed leak stays confirmed while its rise is this significant
_ROOT_SHARE = 0.5  # the root must grow by at least half of what the group grew
_QUIET = 5.0  # an early verdict needs the group's root siblings to grow by less than this
_RECENT_HEAP = 3  # heap is a plateau once flat over the last third of its window ...
_FLAT_SAMPLES = 12  # ... and 12 samples at least: the heap profile moves in GC steps
_RUNS = 2  # ... and this many times the longest run of equal samples (GC steps grow apart)


def _not(trend: Trend, why: str) -> Trend:
    return Trend(
        False, trend.growth, trend.growth_per_hour, trend.p_value, trend.baseline, trend.current, why
    )


class Judge:
    """The floors of one signal under one config, over its tracker as it stands: the target's
    load is worked out once, when first needed, for every group of this evaluation."""

    def __init__(self, kind: SignalKind, config: DetectionConfig, tracker: GroupTracker) -> None:
        self.config = config
        self.tracker = tracker
        # The floor path rests on leaked goroutines never exiting; retained heap follows load too.
        self.floor_path = kind is not SignalKind.HEAP
        absolute = config.min_growth_heap_bytes if kind is SignalKind.HEAP else config.min_growth_goroutines
        self.floors = Floors(
            absolute, config.relative_growth, config.noise_factor, config.significance, config.min_samples
        )
        # A quiet target's plainest leaks may be flagged before min_samples (see _early): from two
        # thirds of it, or six short of it if sooner, but never from fewer than six samples, the
        # fewest in which a steady rise is significant at 1%.
        self.early_samples = max(6, min(2 * config.min_samples // 3, config.min_samples - 6))
        self._load: list[float] | None = None

    def _target_load(self) -> list[float]:
        if self._load is None:
            self._load = target_load(self.tracker)
        return self._load

    def _short_of_window(self, times: Sequence[float]) -> bool:
        return times[-1] - times[0] < 0.9 * self.config.window_seconds

    def total(self) -> Trend:
        """The total less the in-flight work that structure recognises as load: what is left is
        what load does not explain (a daily cycle of request handlers cannot raise it). If the rest
        still tracks the load (connection pools, the client side of requests), it must grow over a
        whole window like any load follower."""
        t = self.tracker
        if not t.load_aware:
            trend = assess_any(t.times, t.total, self.floors, floor_path=self.floor_path)
            if trend.flagged and not self.floor_path and _plateau(t.total, trend.growth):
                return _not(trend, "a plateau")
            return trend
        load = self._target_load()
        rest = [a - b for a, b in zip(t.total, load, strict=True)]
        trend = assess_any(t.times, rest, self.floors, floor_path=self.floor_path)
        if not trend.flagged or quick_growth(load) <= 0 or pearson(rest, load) < LOAD_CORRELATION:
            return trend
        if self._short_of_window(t.times):
            return _not(trend, "follows load; needs a full window")
        return assess_any(t.times, rest, self.floors, follows_load=True, floor_path=self.floor_path)

    def group(self, series: Series) -> Trend:
        times = self.tracker.tail_times(series)
        values = series.values
        siblings = siblings_of(self.tracker, series) if self.tracker.load_aware else []
        if series.flagged_streak >= self.config.confirmations:
            # Inside a root under load, what must keep rising is its excess over its share.
            in_load = bool(siblings) and comoving(values, siblings)
            held = self._held(times, excess(values, siblings) if in_load else values)
            if held is not None:
                return held
        if len(values) < self.floors.min_samples:
            return self._early(times, values, siblings)
        trend = assess_any(times, values, self.floors, floor_path=self.floor_path)
        if trend.flagged and not self.floor_path and _plateau(values, trend.growth):
            return _not(trend, "a plateau")  # retained heap that turned flat: a bound was reached
        if not self.tracker.load_aware or not (trend.flagged or trend.why_not == "no longer rising"):
            return trend
        return self._defend(series, times, values, siblings, trend)

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
        if not self.floor_path and _plateau(values, growth):
            return None  # retained heap that turned flat: a bound was reached (a cache filled)
        span = times[-1] - times[0]
        per_hour = growth / span * 3600 if span > 0 else 0.0
        return Trend(
            True, growth, per_hour, mk.p_value, median(values[: max(1, len(values) // 4)]), values[-1]
        )

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
        if _state_shift_recent(times, values, siblings):
            return _not(trend, "a state shift within its root")
        if comoving(values, siblings):
            return self._inside_load(times, values, siblings, trend)
        load = self._target_load()[-len(values) :]
        if not series.is_load and not follows_load(values, load, self.floors.min_samples):
            return trend
        # A load follower that outgrows its share of the rest of the load (a handler that keeps
        # some of its requests forever, beside those in flight) leaks what it holds beyond it.
        rest = [x - v for x, v in zip(load, values, strict=True)] if series.is_load else load
        if comoving(values, rest) and outgrows_siblings(values, rest):
            beyond = assess_any(times, excess(values, rest), self.floors, floor_path=self.floor_path)
            if beyond.flagged:
                return beyond
        # Growth that follows load must hold over a whole window and still rise above the noise:
        # a ramp or a daily cycle flattens or turns within one, a leak does not.
        if self._short_of_window(times):
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
        # A load that moved by half the rise, and with it: the in-flight calls a client library
        # holds for its callers (a pool's connections, their watchers) wait for the full minimum.
        if max(load) - min(load) >= 0.5 * rise and pearson(values, load) >= LOAD_CORRELATION:
            return too_few
        span = times[-1] - times[0]
        per_hour = rise / span * 3600 if span > 0 else 0.0
        return Trend(True, rise, per_hour, mk.p_value, values[0], values[-1])

    def _inside_load(
        self, times: Sequence[float], values: Sequence[float], siblings: Sequence[float], trend: Trend
    ) -> Trend:
        """The root's other states grew with it: only what it holds beyond its share can leak."""
        if not outgrows_siblings(values, siblings):
            return _not(trend, "keeps its share of a root under load")
        beyond = assess_any(times, excess(values, siblings), self.floors, floor_path=self.floor_path)
        return beyond if beyond.flagged else _not(beyond, "keeps its share of a root under load")


def _plateau(values: Sequence[float], growth: float) -> bool:
    """Heap that has turned flat for a while: over the recent third it grew by less than a tenth
    of the window's growth. "A while" is 12 samples at least, and twice the longest run of equal
    samples in the window: the heap profile only moves when a GC completes, and GCs grow rarer as
    the heap grows. Goroutines keep the lenient hold (a step leak rests between steps); the retained
    heap of a leak grows with every request, while a bounded cache stops when full."""
    longest = run = 1
    for a, b in pairwise(values):
        if a == b:
            run += 1
        else:  # a GC step ends the run; the open run at the end may be the plateau itself
            longest, run = max(longest, run), 1
    recent = values[-max(_FLAT_SAMPLES, len(values) // _RECENT_HEAP, _RUNS * longest) :]
    return quick_growth(recent) < STILL_RISING_SHARE * growth


def _state_shift_recent(times: Sequence[float], values: Sequence[float], siblings: Sequence[float]) -> bool:
    """Over the recent half the root did not grow with the group: goroutines moved between
    states of one pool (busy -> idle as load falls), the pool itself did not grow."""
    half = len(values) // 2
    recent = window_growth(times[half:], values[half:])
    root = [s + v for s, v in zip(siblings[half:], values[half:], strict=True)]
    return recent > 0 and window_growth(times[half:], root) < _ROOT_SHARE * recent
