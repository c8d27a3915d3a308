"""Is one series leaking? A pure verdict over (times, values) with every floor spelled out.

A series is *flagged* when all of these hold:
- Mann-Kendall (Hamed-Rao corrected) finds a rising trend at the configured significance;
- its growth over the window — the larger of the Theil-Sen fit and the rise of the floor (min of the
  last quarter minus max of the first, which catches step leaks where most pairwise slopes tie) —
  exceeds the absolute floor, the relative floor (share of the baseline) and the noise floor;
- it is *still rising*: the last quarter's floor is above the third quarter's by a tenth of the
  growth, so a warm-up fill or a ramp that has plateaued stops counting as soon as it flattens.
  Series that follow load must clear the noise floor there as well.

Or, the *floor path*: leaked goroutines never exit, so a leaking group's floor (the minimum of
each block of samples) only ever rises. When the block minima never fall, rise at least twice
(the last time in the recent half) and by more than the noise within blocks and a share of the
absolute floor, the series is flagged without waiting for the trend test or the relative floor:
a step leak is caught at its second step, a slow leak at a fraction of the absolute floor.
Healthy groups under noisy load rarely keep a never-falling floor over six blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

from leakpatrol.detect.stats import mann_kendall, quarters, robust_noise, theil_sen_slope

STILL_RISING_SHARE = 0.1
FLOOR_BLOCKS = 6
RECENT_FLOOR_SHARE = 0.25
FLOOR_ABSOLUTE_SHARE = 0.2  # the floor path needs this share of the absolute growth floor


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


def floor_rise(values: Sequence[float], blocks: int = FLOOR_BLOCKS) -> tuple[float, float]:
    """(rise of the block minima, median spread within a block) when the minima never fall, rose
    at least twice and still rise in the recent half; else (0, spread)."""
    n = len(values)
    blocks = min(blocks, n // 2)
    if blocks < 3:
        return 0.0, 0.0
    cuts = [round(n * k / blocks) for k in range(blocks + 1)]
    parts = [values[cuts[k] : cuts[k + 1]] for k in range(blocks)]
    minima = [min(p) for p in parts]
    spread = median(max(p) - min(p) for p in parts)
    rises = [k for k in range(1, blocks) if minima[k] > minima[k - 1]]
    if any(minima[k] < minima[k - 1] for k in range(1, blocks)) or len(rises) < 2:
        return 0.0, spread
    rise = minima[-1] - minima[0]
    # Still rising: a quarter of the rise came in the recent half (a ramp that plateaued, its
    # minima nudged up by noise, does not count).
    if rises[-1] < blocks // 2 or minima[-1] - minima[blocks // 2 - 1] < RECENT_FLOOR_SHARE * rise:
        return 0.0, spread
    return rise, spread


def assess_floor(times: Sequence[float], values: Sequence[float], floors: Floors, refused: Trend) -> Trend:
    """The floor path (see the module docstring), tried where the trend path refused a series."""
    rise, spread = floor_rise(values)
    if rise <= FLOOR_ABSOLUTE_SHARE * floors.absolute or rise <= floors.noise_factor * spread:
        return refused
    # Plain Mann-Kendall: a staircase is all autocorrelation, the very shape of a step leak.
    mk = mann_kendall(values, autocorrelation=False)
    if mk.s <= 0 or mk.p_value >= floors.significance:
        return refused
    span = times[-1] - times[0]
    per_hour = rise / span * 3600 if span > 0 else 0.0
    growth = max(rise, refused.growth)
    return Trend(
        True, growth, max(per_hour, refused.growth_per_hour), mk.p_value, refused.baseline, refused.current
    )


def assess_any(
    times: Sequence[float],
    values: Sequence[float],
    floors: Floors,
    *,
    follows_load: bool = False,
    floor_path: bool = True,
) -> Trend:
    """The trend path, else the floor path."""
    trend = assess(times, values, floors, follows_load=follows_load)
    if not floor_path or trend.flagged or trend.why_not == "too few samples" or trend.growth <= 0:
        return trend
    return assess_floor(times, values, floors, trend)
