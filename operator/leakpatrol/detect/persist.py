"""Heap growth that persists: what confirms a heap finding, beyond the floors that raise it.

Retained heap rises for many healthy reasons that end by themselves: a read-through cache filling
to its bound, a pool or a buffer sized by the first hour's traffic. While such a curve rises, it
is the curve of a leak (a cache whose lookups all miss grows exactly as fast as a leak of the same
rate), and no profile field tells the two apart until the bound is reached. What does: a leak
keeps growing, a fill stops. So a heap finding is Suspected when it crosses the floors and is
Confirmed only once it has kept growing for a span after that, at 3/4 or more of its rate before
the span. A fill that stops within the span stays Suspected, then turns into a plateau and resolves
(`judge._plateau`); a leak is confirmed one span later than the floors alone would. Goroutine
findings do not wait: a leaked goroutine never exits, and a bounded pool is told by structure.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from leakpatrol.detect.stats import theil_sen_slope
from leakpatrol.detect.trend import window_growth

# The span a heap rise must keep up after it was first flagged: an eighth of the window (15 min of
# 2 h), or the time the last 2 x min_samples samples took if that is shorter: a CI run sampled every
# few seconds, its window longer than the run, needs a span it can see.
SPAN_OF_WINDOW = 1 / 8
SPAN_SAMPLES = 2  # x min_samples
KEEP_RATE = 0.75  # ... at this share of its rate before the span, or more
_MIN_RECENT = 4  # samples in the span, for a fit


def persistence_span(window_seconds: float, times: Sequence[float], min_samples: int) -> float:
    recent = times[-SPAN_SAMPLES * min_samples :]
    sampled = recent[-1] - recent[0] if recent else 0.0
    return min(window_seconds * SPAN_OF_WINDOW, sampled)


def keeps_growing(times: Sequence[float], values: Sequence[float], since: float, span: float) -> bool:
    """Flagged since `since`, at least `span` seconds ago, and over the last `span` seconds still
    rising at KEEP_RATE of its Theil-Sen rate before that span. The recent rise is the larger of its own
    fit and the rise of its floor, as for any window (`trend.window_growth`): the heap profile
    moves in GC steps, and a fit over a few steps can read a step as a halt."""
    if not values or times[-1] - since < span:
        return False
    start = bisect_left(times, times[-1] - span)
    recent_times, recent = times[start:], values[start:]
    if start < _MIN_RECENT or len(recent) < _MIN_RECENT:
        return False
    rate = theil_sen_slope(times[:start], values[:start])
    if rate <= 0:
        return False
    return window_growth(recent_times, recent) >= KEEP_RATE * rate * (recent_times[-1] - recent_times[0])
