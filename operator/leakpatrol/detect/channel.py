"""One signal (goroutines or heap) of one target: its tracker and what it carries from one
evaluation to the next, the confirmation streak, the time since and the last signal.

Each evaluation judges the tracked groups and the total (`judge.py`). While a group or the total
is flagged, or the goroutine ceiling is passed, the streak runs and the signal names culprits: the
flagged groups (else the growing ones, else the largest), fastest first, until they cover
`culprit_share` of all growth. After `confirmations` evaluations running it is confirmed.

Each signal says what raised it this evaluation (`basis`): a trend over at least `min_samples`
samples (a group's or the total's), the early path of a quiet target, or the ceiling alone.
Remediation acts only on the first: a ceiling or an early rise is reported, never acted on.
"""

from __future__ import annotations

from dataclasses import replace
from statistics import median

from leakpatrol.core import FindingBasis, LeakState, SignalKind
from leakpatrol.detect.config import DetectionConfig
from leakpatrol.detect.culprits import CulpritPicker, Scored
from leakpatrol.detect.judge import Judge
from leakpatrol.detect.persist import keeps_growing, persistence_span
from leakpatrol.detect.signals import GROWTH_OF_CULPRIT, GROWTH_OF_TOTAL, Signal
from leakpatrol.detect.stats import quarters, theil_sen_slope
from leakpatrol.detect.tracker import GroupTracker
from leakpatrol.detect.trend import Trend
from leakpatrol.diagnose.rules import RuleSet


class Channel:
    def __init__(self, kind: SignalKind, config: DetectionConfig, rules: RuleSet) -> None:
        self.kind = kind
        self.tracker = GroupTracker(config.top_groups, load_aware=kind is SignalKind.GOROUTINES)
        self.streak = 0
        self.since: float | None = None
        self.held = False  # confirmed in this streak: a heap finding, once confirmed, stays so
        self.last: Signal | None = None  # carried over samples that lack this signal's profile
        self.reconfigure(config, rules)

    def reconfigure(self, config: DetectionConfig, rules: RuleSet) -> None:
        """New thresholds and rules for the series already gathered: nothing is thrown away."""
        self.config = config
        self.rules = rules
        self.picker = CulpritPicker(self.kind.value, rules)
        self.tracker.top_groups = config.top_groups
        self.tracker.trim(config.window_seconds, config.max_samples)

    def evaluate(self, now: float) -> Signal | None:
        judge = Judge(self.kind, self.config, self.tracker)
        scored: list[Scored] = []
        for series in self.tracker.groups.values():
            trend = judge.group(series)
            series.flagged_streak = series.flagged_streak + 1 if trend.flagged else 0
            scored.append(Scored(series, trend))
        total = judge.total()
        over_ceiling = (
            self.kind is SignalKind.GOROUTINES
            and self.config.goroutine_ceiling is not None
            and bool(self.tracker.total)
            and self.tracker.total[-1] > self.config.goroutine_ceiling
        )
        flagged = [s for s in scored if s.trend.flagged]
        if not (flagged or total.flagged or over_ceiling):
            self.streak, self.since, self.last, self.held = 0, None, None, False
            return None
        self.streak += 1
        self.since = self.since if self.since is not None else now
        basis, samples = self._basis(flagged, total)
        self.last = replace(self._signal(scored, flagged, total), basis=basis, samples=samples)
        return self.last

    def _basis(self, flagged: list[Scored], total: Trend) -> tuple[FindingBasis, int]:
        """What raised it, and the samples of the series whose trend did (0: no trend did)."""
        lengths = [len(s.series.values) for s in flagged]
        trend = [n for n in lengths if n >= self.config.min_samples]
        if total.flagged:  # judged over the whole tracker (assess needs min_samples)
            trend.append(len(self.tracker.total))
        if trend:
            return FindingBasis.TREND, max(trend)
        if lengths:  # only groups the early path flagged
            return FindingBasis.EARLY, max(lengths)
        return FindingBasis.CEILING, 0  # nothing flagged: the ceiling alone raised it

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
        confirmed = self.streak >= self.config.confirmations
        if confirmed and self.kind is SignalKind.HEAP and not self.held:
            confirmed = self._persists(culprits if flagged else [])
        self.held = confirmed
        state = LeakState.CONFIRMED if confirmed else LeakState.SUSPECTED
        if state is LeakState.CONFIRMED:
            # The groups named are what must stop growing before the leak is resolved, even when
            # the total confirmed it (see Judge._held).
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
            total_growth_per_hour=self._total_per_hour(),
            growth_of=GROWTH_OF_CULPRIT if flagged else GROWTH_OF_TOTAL,
        )

    def _persists(self, culprits: list[Scored]) -> bool:
        """Heap growth that kept on for a span after it was first flagged (`persist.py`): the
        culprits' sum, or the total where the total raised it."""
        t = self.tracker
        growing = [c.series.values for c in culprits if c.trend.growth > 0]
        n = min((len(v) for v in growing), default=len(t.total))
        values = [sum(v[i - n] for v in growing) for i in range(n)] if growing else list(t.total)
        span = persistence_span(self.config.window_seconds, t.times, self.config.min_samples)
        since = self.since if self.since is not None else t.times[-1]
        return keeps_growing(t.times[len(t.times) - n :], values, since, span)

    def _total_per_hour(self) -> float:
        """The total's rate over the window, as a person reading `baseline -> current` expects it
        (the verdict's own rate may be a culprit group's, or the total less its load)."""
        t = self.tracker
        return theil_sen_slope(t.times, t.total) * 3600 if len(t.total) >= 2 else 0.0

    def _total_at(self, quarter: int) -> float:
        """The total's median over a quarter of the window: what the signal reports as from/to."""
        total = self.tracker.total
        if len(total) < 4:
            return total[0 if quarter == 0 else -1] if total else 0.0
        return median(quarters(total)[quarter])
