"""Is one series leaking? A pure verdict over (times, values) with every floor spelled out.

A series is *flagged* when all of these hold:
- Mann-Kendall (Hamed-Rao corrected) finds a rising trend at the configured significance;
- its growth over the window — the larger of the Theil-Sen fit and the rise of the floor (min of the
  last quarter minus max of the first, which catches step leaks where most pairwise slopes tie) —
  exceeds the absolute floor, the relative floor (share of the baseline) and the noise floor;
- it is *still rising*: the last quarter's floor is above the third quarter's by a tenth of the
  growth, so a warm-up fill or a ramp that has plateaued stops counting as soon as it flattens.
  Series that follow load must clear the noise floor there as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

from leakpatrol.detect.stats import mann_kendall, quarters, robust_noise, theil_sen_slope

STILL_RISING_SHARE = 0.1


@dataclass(frozen=True, slots=True)
class Floors:
    absolute: float
    relative: float
    noise_factor: float
    significance: float
    min_samples: int


@dataclass(frozen=True, slots=True)
class Trend:
    flagged: bool
    growth: float  # over the window, in the series' unit
    growth_per_hour: float
    p_value: float
    baseline: float
    current: float
    why_not: str = ""  # the first test that failed, for debugging and `--explain`


def _quick_growth(q: tuple[Sequence[float], ...]) -> float:
    return max(median(q[3]) - median(q[0]), min(q[3]) - max(q[0]))


def window_growth(times: Sequence[float], values: Sequence[float]) -> float:
    """Growth over the span: the Theil-Sen fit, or the rise of the floor where steps defeat it."""
    if len(values) < 4:
        return values[-1] - values[0] if values else 0.0
    q = quarters(values)
    return max(theil_sen_slope(times, values) * (times[-1] - times[0]), min(q[3]) - max(q[0]))


def assess(
    times: Sequence[float], values: Sequence[float], floors: Floors, *, follows_load: bool = False
) -> Trend:
    n = len(values)
    if n < max(floors.min_samples, 4):
        return Trend(False, 0.0, 0.0, 1.0, 0.0, values[-1] if n else 0.0, "too few samples")
    q = quarters(values)
    baseline, current = median(q[0]), median(q[3])
    span = times[-1] - times[0]
    quick = _quick_growth(q)

    def no(why: str, growth: float = quick, p: float = 1.0, per_hour: float = 0.0) -> Trend:
        return Trend(False, growth, per_hour, p, baseline, current, why)

    # Cheap gate first: most series of a healthy service stop here without the O(n²) tests.
    if quick <= 0 or quick < 0.5 * floors.absolute:
        return no("no material growth")
    slope = theil_sen_slope(times, values)
    growth = max(slope * span, min(q[3]) - max(q[0]))
    per_hour = slope * 3600 if slope > 0 else (growth / span * 3600 if span > 0 else 0.0)
    if growth <= floors.absolute:
        return no("below the absolute growth floor", growth, per_hour=per_hour)
    if growth <= floors.relative * baseline:
        return no("below the relative growth floor", growth, per_hour=per_hour)
    noise = robust_noise(times, values, slope)
    if growth <= floors.noise_factor * noise:
        return no("within the noise", growth, per_hour=per_hour)
    # A tenth of the window's growth is what a steady leak adds in well under a quarter; a pool that
    # filled and now only jitters by a goroutine or two does not clear it.
    margin = max(STILL_RISING_SHARE * growth, floors.noise_factor * noise if follows_load else 0.0)
    if min(q[3]) <= min(q[2]) + margin:
        return no("no longer rising", growth, per_hour=per_hour)
    mk = mann_kendall(values)
    if mk.s <= 0 or mk.p_value >= floors.significance:
        return no("trend not significant", growth, mk.p_value, per_hour)
    return Trend(True, growth, per_hour, mk.p_value, baseline, current)
