"""How long until the container reaches its memory limit, at the rate the leak grows. Pure.

The memory the leak adds is estimated from the pod's own series:

    memory(t) = heap inuse_space(t) + goroutines(t) x STACK_BYTES

- `inuse_space` is the heap profile's post-GC live heap: it already holds what the leaking
  goroutines keep on the heap (a leaked connection's bufio buffers, a cache's blobs), so a
  goroutine leak's heap share is counted there, measured, not assumed.
- Goroutine stacks are not in any pprof profile (they live in stack spans, not the heap), so each
  goroutine is charged STACK_BYTES: Go starts a stack at 2 KiB and doubles it as it deepens; a
  goroutine parked in net/http or a deep call chain typically holds 4-8 KiB. 8 KiB is the
  assumption, on the side of an earlier ETA.
- Not counted: GC headroom. With GOGC=100 the process may hold up to twice its live heap between
  collections, so the RSS can reach the limit before inuse_space does; the forecast is of the live
  memory reaching the limit (what a leak, unlike garbage, makes inevitable), and its range says so.

The rate is the Theil-Sen slope of that series; its range comes from the spread of the pairwise
slopes (the 10th and 90th percentiles), so a noisy series gives a wide range, never a false point.
Everything shown is rounded to two significant figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from leakpatrol.detect.evaluator import Sample

STACK_BYTES = 8 * 1024
MIN_POINTS = 4  # fewer samples than this give no rate worth a forecast
MAX_PAIRS_POINTS = 120  # pairwise slopes are O(n^2): thin longer series first
_QUARTILES = (0.1, 0.5, 0.9)  # the range: the 10th and 90th percentile slopes


@dataclass(frozen=True, slots=True)
class Forecast:
    """`eta_seconds` is None when there is no limit, or memory does not grow at the rate."""

    limit: int | None  # bytes; None: the container has no memory limit
    current: int  # estimated live memory now, bytes
    rate_per_hour: int  # bytes per hour (median slope)
    eta_seconds: float | None  # at the median rate
    eta_min_seconds: float | None  # at the fastest plausible rate (90th percentile of slopes)
    eta_max_seconds: float | None  # at the slowest (10th percentile); None: may never reach it

    def to_json(self) -> dict[str, float | int | None]:
        return {
            "current_bytes": self.current,
            "rate_bytes_per_hour": self.rate_per_hour,
            "eta_seconds": self.eta_seconds,
            "eta_min_seconds": self.eta_min_seconds,
            "eta_max_seconds": self.eta_max_seconds,
        }


def memory_series(
    heap: Sequence[tuple[float, float]], goroutines: Sequence[tuple[float, float]]
) -> list[tuple[float, float]]:
    """(time, bytes) at the times both profiles were taken; with no heap profile, stacks only."""
    if not heap:
        return [(t, g * STACK_BYTES) for t, g in goroutines]
    if not goroutines:
        return list(heap)
    counts = dict(goroutines)
    return [(t, h + counts[t] * STACK_BYTES) for t, h in heap if t in counts]


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    pos = q * (len(sorted_values) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _slopes(points: Sequence[tuple[float, float]]) -> list[float]:
    step = max(1, math.ceil(len(points) / MAX_PAIRS_POINTS))
    pts = points[::step]
    return sorted(
        (y2 - y1) / (t2 - t1) for i, (t1, y1) in enumerate(pts) for t2, y2 in pts[i + 1 :] if t2 > t1
    )


def forecast(points: Sequence[tuple[float, float]], limit: int | None, now: float) -> Forecast | None:
    """The forecast from a (time, bytes) series; None with too few points to say anything."""
    if len(points) < MIN_POINTS:
        return None
    slopes = _slopes(points)
    if not slopes:
        return None
    slow, mid, fast = (_quantile(slopes, q) for q in _QUARTILES)
    # The level now, from the fit rather than the last sample (one GC-timed sample can be off).
    current = sorted(y - mid * (t - now) for t, y in points)[len(points) // 2]
    current = max(0.0, current)

    def eta(rate: float) -> float | None:
        if limit is None or rate <= 0:
            return None
        return max(0.0, (limit - current) / rate)

    return Forecast(
        limit=limit,
        current=round(current),
        rate_per_hour=round(mid * 3600),
        eta_seconds=eta(mid),
        eta_min_seconds=eta(fast),
        eta_max_seconds=eta(slow),
    )


def samples_forecast(samples: Sequence[Sample], limit: int | None) -> Forecast | None:
    """A recorded series' forecast, from its last sample (the CLI's `analyze --memory-limit`)."""
    heap = [(s.time, float(s.heap.total)) for s in samples if s.heap is not None]
    goroutines = [(s.time, float(s.goroutine.total)) for s in samples if s.goroutine is not None]
    points = memory_series(heap, goroutines)
    return forecast(points, limit, points[-1][0]) if points else None


def forecast_words(fc: Forecast, limit_text: str | None) -> str:
    """The sentence for an Event, the status and the CLI."""
    if fc.limit is None:
        return "no memory limit set: no OOM forecast"
    if fc.eta_seconds is None:
        return f"live memory is not growing toward its {limit_text} limit"
    if fc.eta_seconds == 0:
        return f"live memory is already at its {limit_text} limit"
    return f"at this rate the container reaches its {limit_text} limit in {human_range(fc)}"


def round_seconds(seconds: float) -> float:
    """Two significant figures in the unit a person would use: 47s, 13m, 3.5h, 2.1d."""
    for unit in (86400.0, 3600.0, 60.0):
        if seconds >= 2 * unit:
            return _two_figures(seconds / unit) * unit
    return _two_figures(seconds)


def _two_figures(x: float) -> float:
    if x <= 0:
        return 0.0
    digits = 1 - math.floor(math.log10(x))
    return round(x, max(0, digits))


def human(seconds: float) -> str:
    """`~3h`, `~3.5h`, `~45m`, `~2.1d`: an order of magnitude, not a clock."""
    s = round_seconds(seconds)
    for unit, name in ((86400.0, "d"), (3600.0, "h"), (60.0, "m")):
        if s >= 2 * unit:
            return f"{s / unit:g}{name}"
    return f"{s:g}s"


def human_range(f: Forecast) -> str:
    """`~3h (2.5h-4h)`; an open upper end when the slowest plausible rate does not grow."""
    if f.eta_seconds is None:
        return ""
    low = human(f.eta_min_seconds) if f.eta_min_seconds is not None else human(f.eta_seconds)
    high = human(f.eta_max_seconds) if f.eta_max_seconds is not None else "never"
    return f"~{human(f.eta_seconds)} ({low}-{high})"
