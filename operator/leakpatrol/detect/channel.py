"""One signal (goroutines or heap) of one target: tracker + trend tests + confirmations -> Signal."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from leakpatrol.core import LeakState, SignalKind
from leakpatrol.detect.config import DetectionConfig
from leakpatrol.detect.findings import CulpritGroup, RuleRef, Signal
from leakpatrol.detect.stats import mann_kendall, pearson
from leakpatrol.detect.tracker import GroupTracker, Series
from leakpatrol.detect.trend import Floors, Trend, assess, window_growth
from leakpatrol.diagnose.rules import RuleSet

_LOAD_CORRELATION = 0.8  # a group this correlated with a rising load follows the load
_LOAD_SIGNIFICANCE = 0.05
_LOCKSTEP_CORRELATION = 0.9
_ROOT_SHARE = 0.5  # the root must grow by at least half of what the group grew


def _not(trend: Trend, why: str) -> Trend:
    return Trend(
        False, trend.growth, trend.growth_per_hour, trend.p_value, trend.baseline, trend.current, why
    )


@dataclass(slots=True)
class _Scored:
    series: Series
    trend: Trend


class Channel:
    def __init__(self, kind: SignalKind, config: DetectionConfig, rules: RuleSet) -> None:
        self.kind = kind
        self.tracker = GroupTracker(config.top_groups, load_aware=kind is SignalKind.GOROUTINES)
        self.streak = 0
        self.since: float | None = None
        self._load_rising: bool | None = None
        self.reconfigure(config, rules)

    def reconfigure(self, config: DetectionConfig, rules: RuleSet) -> None:
        """New thresholds and rules for the series already gathered: nothing is thrown away."""
        self.config = config
        self.rules = rules
        absolute = (
            config.min_growth_heap_bytes if self.kind is SignalKind.HEAP else config.min_growth_goroutines
        )
        self.floors = Floors(
            absolute, config.relative_growth, config.noise_factor, config.significance, config.min_samples
        )
        self.tracker.top_groups = config.top_groups
        self.tracker.trim(config.window_seconds, config.max_samples)

    # --- load defence -------------------------------------------------------------------------
    def _load_is_rising(self) -> bool:
        if self._load_rising is None:
            load = self.tracker.load
            mk = mann_kendall(load) if len(load) >= self.floors.min_samples else None
            self._load_rising = bool(
                mk and mk.s > 0 and mk.p_value < _LOAD_SIGNIFICANCE and max(load) > 1.2 * max(1.0, min(load))
            )
        return self._load_rising

    def _follows_load(self, series: Series | None) -> bool:
        if not self.tracker.load_aware:
            return False
        if series is not None and series.is_load:
            return True
        if not self._load_is_rising():
            return False
        values = self.tracker.total if series is None else series.values
        load = self.tracker.load if series is None else self.tracker.tail_load(series)
        return pearson(values, load) >= _LOAD_CORRELATION

    def _assess(self, times: Sequence[float], values: Sequence[float], series: Series | None) -> Trend:
        trend = assess(times, values, self.floors)
        if not (trend.flagged or trend.why_not == "no longer rising"):
            return trend
        if series is not None and self._state_shift(
            times, values, self.tracker.tail_root(series), trend.growth
        ):
            return _not(trend, "a state shift within its root")
        if not self._follows_load(series):
            return trend
        # Growth that follows load must hold over a whole window and still rise above the noise:
        # a ramp or a daily cycle flattens or turns within one, a leak does not.
        if times[-1] - times[0] < 0.9 * self.config.window_seconds:
            return _not(trend, "follows load; needs a full window")
        return assess(times, values, self.floors, follows_load=True)

    @staticmethod
    def _state_shift(
        times: Sequence[float], values: Sequence[float], root: Sequence[float], growth: float
    ) -> bool:
        """Its siblings under the same goroutine root shrank as it grew, over the window or over its
        recent half: a pool's goroutines moved from one state to another (busy -> idle, as load
        falls), the pool itself did not grow."""
        if window_growth(times, root) < _ROOT_SHARE * growth:
            return True
        half = len(values) // 2
        recent = window_growth(times[half:], values[half:])
        return recent > 0 and window_growth(times[half:], root[half:]) < _ROOT_SHARE * recent

    # --- evaluation ---------------------------------------------------------------------------
    def evaluate(self, now: float) -> Signal | None:
        self._load_rising = None
        scored: list[_Scored] = []
        for series in self.tracker.groups.values():
            trend = self._assess(self.tracker.tail_times(series), series.values, series)
            series.flagged_streak = series.flagged_streak + 1 if trend.flagged else 0
            scored.append(_Scored(series, trend))
        total = self._assess(self.tracker.times, self.tracker.total, None)
        over_ceiling = (
            self.kind is SignalKind.GOROUTINES
            and self.config.goroutine_ceiling is not None
            and bool(self.tracker.total)
            and self.tracker.total[-1] > self.config.goroutine_ceiling
        )
        flagged = [s for s in scored if s.trend.flagged]
        if not (flagged or total.flagged or over_ceiling):
            self.streak, self.since = 0, None
            return None
        self.streak += 1
        self.since = self.since if self.since is not None else now
        return self._signal(scored, flagged, total)

    def _signal(self, scored: list[_Scored], flagged: list[_Scored], total: Trend) -> Signal:
        positive = sum(max(0.0, s.trend.growth) for s in scored) or 1.0
        pool = flagged or sorted((s for s in scored if s.trend.growth > 0), key=lambda s: -s.trend.growth)
        if not pool:  # only the ceiling or the total tripped: name the largest groups
            pool = sorted(scored, key=lambda s: -s.series.values[-1])[:1]
        pool = sorted(pool, key=lambda s: -s.trend.growth)
        culprits: list[_Scored] = []
        covered = 0.0
        for s in pool:
            culprits.append(s)
            covered += max(0.0, s.trend.growth)
            if covered >= self.config.culprit_share * positive:
                break
        groups = [self._group(s, positive) for s in culprits]
        lead = self._lead(culprits, groups)
        basis = culprits[lead].trend if flagged else total
        state = LeakState.CONFIRMED if self.streak >= self.config.confirmations else LeakState.SUSPECTED
        return Signal(
            kind=self.kind,
            state=state,
            culprit=groups[lead],
            related=tuple(g for i, g in enumerate(groups) if i != lead),
            rule=groups[lead].rule,
            growth_per_hour=basis.growth_per_hour,
            p_value=basis.p_value,
            baseline=total.baseline,
            current=total.current,
            since=self.since if self.since is not None else 0.0,
        )

    def _group(self, s: _Scored, positive: float) -> CulpritGroup:
        rule = self.rules.match(self.kind.value, s.series.wait_kind, s.series.functions)
        return CulpritGroup(
            signature=s.series.signature,
            wait_kind=s.series.wait_kind,
            frames=s.series.frames,
            count=s.series.values[-1],
            growth=s.trend.growth,
            share=max(0.0, s.trend.growth) / positive,
            rule=None if rule is None else RuleRef(rule.id, rule.cause, rule.fix, rule.priority),
        )

    def _lead(self, culprits: list[_Scored], groups: list[CulpritGroup]) -> int:
        """Among groups in lockstep with the biggest grower, the one with the most specific rule leads
        (e.g. the client's persistConn.readLoop over the server's conn.serve it drags along)."""
        top = culprits[0]
        best, best_priority = 0, self._priority(groups[0])
        for i in range(1, len(culprits)):
            s = culprits[i]
            ratio = s.trend.growth / top.trend.growth if top.trend.growth > 0 else 0.0
            n = min(len(s.series.values), len(top.series.values))
            lockstep = (
                0.5 <= ratio <= 2.0
                and pearson(s.series.values[-n:], top.series.values[-n:]) >= _LOCKSTEP_CORRELATION
            )
            if lockstep and self._priority(groups[i]) > best_priority:
                best, best_priority = i, self._priority(groups[i])
        return best

    @staticmethod
    def _priority(group: CulpritGroup) -> int:
        return -1 if group.rule is None else group.rule.priority
