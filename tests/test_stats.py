"""The trend statistics on series whose answer is known by construction."""

from __future__ import annotations

import math
import random

import pytest

from leakpatrol.detect.stats import mann_kendall, pearson, quarters, robust_noise, theil_sen_slope
from leakpatrol.detect.trend import Floors, assess

FLOORS = Floors(absolute=50, relative=0.1, noise_factor=3, significance=0.01, min_samples=12)


def test_mann_kendall_counts_every_rising_pair() -> None:
    mk = mann_kendall(list(range(10)), autocorrelation=False)
    assert mk.s == 45  # all 10·9/2 pairs rise
    assert mk.p_value < 0.001


def test_mann_kendall_constant_and_falling() -> None:
    assert mann_kendall([5.0] * 20).p_value == 1.0
    falling = mann_kendall([float(-i) for i in range(20)])
    assert falling.s < 0 and falling.p_value < 0.01


def test_white_noise_is_not_significant() -> None:
    rng = random.Random(7)
    hits = sum(mann_kendall([rng.gauss(0, 1) for _ in range(60)]).p_value < 0.01 for _ in range(200))
    assert hits <= 6  # ~1% expected


def test_hamed_rao_widens_variance_for_autocorrelated_noise() -> None:
    rng = random.Random(3)
    hits_plain = hits_corrected = 0
    for _ in range(150):
        x, series = 0.0, []
        for _ in range(60):  # AR(1), phi 0.9: wanders, looks trending to a naive test
            x = 0.9 * x + rng.gauss(0, 1)
            series.append(x)
        hits_plain += mann_kendall(series, autocorrelation=False).p_value < 0.01
        hits_corrected += mann_kendall(series).p_value < 0.01
    assert hits_corrected < hits_plain


def test_staircase_falls_back_to_plain_test() -> None:
    mk = mann_kendall([float(i // 5) for i in range(40)])
    assert math.isfinite(mk.p_value) and mk.p_value < 0.01


def test_theil_sen_ignores_outliers() -> None:
    times = [float(t) for t in range(30)]
    values = [2.0 * t + (500 if t % 7 == 0 else 0) for t in times]
    assert theil_sen_slope(times, values) == pytest.approx(2.0)


def test_robust_noise_of_a_clean_line_is_zero_and_of_noise_is_sigma() -> None:
    times = [float(t) for t in range(200)]
    assert robust_noise(times, [3 * t for t in times], 3.0) == pytest.approx(0.0)
    rng = random.Random(1)
    noisy = [rng.gauss(0, 10) for _ in times]
    assert 7 < robust_noise(times, noisy, 0.0) < 13


def test_quarters_cover_the_series() -> None:
    parts = quarters(list(range(10)))
    assert [len(p) for p in parts] == [2, 3, 3, 2]
    assert [x for p in parts for x in p] == list(range(10))


def test_pearson() -> None:
    assert pearson([1, 2, 3, 4], [2, 4, 6, 8]) == pytest.approx(1.0)
    assert pearson([1, 1, 1], [1, 2, 3]) == 0.0


def _minutes(n: int) -> list[float]:
    return [60.0 * i for i in range(n)]


def test_assess_flags_a_steady_leak() -> None:
    values = [100 + 4 * i for i in range(30)]
    trend = assess(_minutes(30), values, FLOORS)
    assert trend.flagged, trend.why_not
    assert trend.growth_per_hour == pytest.approx(240)


def test_assess_flags_a_step_leak_once_the_floor_has_risen_twice() -> None:
    values = [100 + 40 * (i // 15) for i in range(40)]
    assert assess(_minutes(40), values, FLOORS).flagged


@pytest.mark.parametrize(
    ("name", "values", "why"),
    [
        ("small growth", [100 + 1.5 * i for i in range(30)], "below the absolute growth floor"),
        ("warm-up fill then flat", [min(600, 60 * i) for i in range(40)], "no longer rising"),
        ("flat", [500] * 30, "no material growth"),
        ("too short", [1, 100, 200], "too few samples"),
    ],
)
def test_assess_rejects(name: str, values: list[float], why: str) -> None:
    trend = assess(_minutes(len(values)), values, FLOORS)
    assert not trend.flagged
    assert trend.why_not == why, name


def test_relative_floor_scales_with_the_baseline() -> None:
    values = [10_000 + 3 * i for i in range(40)]  # +117 on 10k: under 10 %
    assert assess(_minutes(40), values, FLOORS).why_not == "below the relative growth floor"
