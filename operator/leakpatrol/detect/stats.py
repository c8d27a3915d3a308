"""Robust trend statistics, pure functions over short series (n ≤ a few hundred).

Mann-Kendall says *whether* a series rises (rank based, so bursts and outliers barely move it);
Theil-Sen says *how fast* (median of pairwise slopes); the MAD of the residuals says how noisy it is.
Hamed-Rao widens Mann-Kendall's variance for autocorrelated samples, which profiles sampled a
minute apart always are; without it, a slowly wandering healthy series looks "significant".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

_MAD_TO_SIGMA = 1.4826  # scales the median absolute deviation to a normal sigma


@dataclass(frozen=True, slots=True)
class MannKendall:
    s: int
    p_value: float  # two-sided
    corrected: bool  # Hamed-Rao correction applied


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _tie_term(values: Sequence[float]) -> float:
    counts: dict[float, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return sum(t * (t - 1) * (2 * t + 5) for t in counts.values() if t > 1)


def _s_statistic(values: Sequence[float]) -> int:
    s = 0
    n = len(values)
    for i in range(n - 1):
        xi = values[i]
        for j in range(i + 1, n):
            d = values[j] - xi
            s += (d > 0) - (d < 0)
    return s


def _ranks(values: Sequence[float]) -> list[float]:
    """Average ranks (1-based), ties sharing their mean rank."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _hamed_rao_factor(values: Sequence[float], slope: float) -> float:
    """n/n* of Hamed & Rao (1998): variance inflation from significant lag autocorrelations.

    NaN when the detrended ranks have no variance (a perfect staircase); the caller falls back to
    the plain test then.
    """
    n = len(values)
    detrended = [v - slope * i for i, v in enumerate(values)]
    ranks = _ranks(detrended)
    mean = sum(ranks) / n
    dev = [r - mean for r in ranks]
    var = sum(d * d for d in dev)
    if var == 0:
        return math.nan
    bound = 1.96 / math.sqrt(n)
    total = 0.0
    for k in range(1, n - 2):
        rho = sum(dev[i] * dev[i + k] for i in range(n - k)) / var
        if abs(rho) > bound:
            total += (n - k) * (n - k - 1) * (n - k - 2) * rho
    return 1 + 2 * total / (n * (n - 1) * (n - 2))


def mann_kendall(values: Sequence[float], *, autocorrelation: bool = True) -> MannKendall:
    n = len(values)
    if n < 3:
        return MannKendall(0, 1.0, False)
    s = _s_statistic(values)
    var = (n * (n - 1) * (2 * n + 5) - _tie_term(values)) / 18
    corrected = False
    if autocorrelation and n >= 8:
        factor = _hamed_rao_factor(values, theil_sen_slope(list(range(n)), values))
        # Only ever widen the variance: a negative autocorrelation must not make noise "significant".
        if math.isfinite(factor) and factor > 1:
            var *= factor
            corrected = True
    if var <= 0 or s == 0:
        return MannKendall(s, 1.0, corrected)
    z = (s - math.copysign(1, s)) / math.sqrt(var)
    return MannKendall(s, min(1.0, 2 * _normal_sf(abs(z))), corrected)


def theil_sen_slope(times: Sequence[float], values: Sequence[float]) -> float:
    """Median of pairwise slopes; pairs with equal times are skipped."""
    slopes: list[float] = []
    n = len(values)
    for i in range(n - 1):
        ti, vi = times[i], values[i]
        for j in range(i + 1, n):
            dt = times[j] - ti
            if dt > 0:
                slopes.append((values[j] - vi) / dt)
    return median(slopes) if slopes else 0.0


def robust_noise(times: Sequence[float], values: Sequence[float], slope: float) -> float:
    """1.4826 × MAD of the residuals around the Theil-Sen line: a sigma that ignores bursts."""
    intercept = median(v - slope * t for t, v in zip(times, values, strict=True))
    residuals = [v - (intercept + slope * t) for t, v in zip(times, values, strict=True)]
    center = median(residuals)
    return _MAD_TO_SIGMA * median(abs(r - center) for r in residuals)


def quarters(values: Sequence[float]) -> tuple[Sequence[float], ...]:
    """Four consecutive, near-equal slices (n ≥ 4)."""
    n = len(values)
    cuts = [round(n * k / 4) for k in range(5)]
    return tuple(values[cuts[k] : cuts[k + 1]] for k in range(4))


def pearson(a: Sequence[float], b: Sequence[float]) -> float:
    n = len(a)
    if n < 3:
        return 0.0
    ma, mb = sum(a) / n, sum(b) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True))
    va = sum((x - ma) ** 2 for x in a)
    vb = sum((y - mb) ** 2 for y in b)
    if va <= 0 or vb <= 0:
        return 0.0
    return cov / math.sqrt(va * vb)
