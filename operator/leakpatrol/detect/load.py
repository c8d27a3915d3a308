"""Load told apart from leaks by structure, not by function names.

A goroutine's *root* is its entry function (the outermost frame). Goroutines of one root in
several states (sleeping, waiting for a reply, in a select) whose counts move together are that
root's in-flight work: a dispatcher's `go d.handle(job)`, a consumer's `go c.process(m)`, a
server's per-connection goroutine. A group that only keeps its share of such a root while the
root grows follows load. A leak inside the same root does not: its leaked goroutines pile up in
one state, so the group outgrows what its siblings predict — its *excess* over its share keeps
rising, and keeps rising once the siblings stop (the ramp ends).

The load of the whole target is what those roots hold (plus the groups the profile itself marks
as request handlers); a group of a root of its own (a connection's readLoop, a pool) that tracks
that load closely follows it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import median

from leakpatrol.detect.stats import mann_kendall, pearson, quarters
from leakpatrol.detect.tracker import GroupTracker, Series

LOAD_CORRELATION = 0.8  # a group this correlated with a rising load follows the load
_LOAD_SIGNIFICANCE = 0.05
_COMOVE_CORRELATION = 0.6
_BLOCKS = 6  # states trade goroutines at sampling time; block medians show how they move
_SIBLING_SHARE = 0.1  # siblings grow by at least this share of the group's growth
_MIN_SIBLING_GROWTH = 5.0
_RECENT = 3  # the excess must outgrow the siblings over the last third of the window
_DRIFT = 0.5


def quick_growth(values: Sequence[float]) -> float:
    """O(n) growth: last quarter's median over the first's (a window slope costs O(n^2))."""
    if len(values) < 4:
        return values[-1] - values[0] if values else 0.0
    q = quarters(values)
    return median(q[3]) - median(q[0])


def comoving(values: Sequence[float], siblings: Sequence[float]) -> bool:
    """The root's other states grew, and moved with this group: the root is in-flight work and the
    group is judged by its share of it. A leak whose root runs a few goroutines in other states
    has siblings that stay flat. The group need not keep pace (a leak inside the root outgrows
    them); that is for `outgrows_siblings` to judge. Compared on block medians: at the moment of a
    sample, goroutines of one root trade places between states, which makes raw counts
    anti-correlate in the short run."""
    if quick_growth(siblings) < max(_MIN_SIBLING_GROWTH, _SIBLING_SHARE * quick_growth(values)):
        return False
    return pearson(block_medians(values), block_medians(siblings)) >= _COMOVE_CORRELATION


def block_medians(values: Sequence[float], blocks: int = _BLOCKS) -> list[float]:
    n = len(values)
    blocks = min(blocks, n)
    cuts = [round(n * k / blocks) for k in range(blocks + 1)]
    return [median(values[cuts[k] : cuts[k + 1]]) for k in range(blocks) if cuts[k + 1] > cuts[k]]


def excess(values: Sequence[float], siblings: Sequence[float]) -> list[float]:
    """What the group holds beyond its share: value - k * siblings, k being the group's size per
    sibling over the first quarter. Flat for a group that follows its root's load."""
    n = max(1, len(values) // 4)
    k = sum(values[:n]) / max(1.0, sum(siblings[:n]))
    return [v - k * s for v, s in zip(values, siblings, strict=True)]


def outgrows_siblings(values: Sequence[float], siblings: Sequence[float]) -> bool:
    """Over the recent third the group's excess grew by more than a share estimated early could
    drift by (half of its share of the siblings' recent growth): while a ramp is on, a healthy
    group's share may shift with the load; a group that piles up keeps outgrowing its share,
    and does so plainly once the siblings stop rising."""
    n = len(values)
    m = max(4, n // _RECENT)
    head = max(1, n // 4)
    k = sum(values[:head]) / max(1.0, sum(siblings[:head]))
    beyond = quick_growth(values[n - m :]) - k * quick_growth(siblings[n - m :])
    return beyond > 0 and beyond > _DRIFT * k * max(0.0, quick_growth(siblings[n - m :]))


def siblings_of(tracker: GroupTracker, series: Series) -> list[float]:
    """The series' root's other states, over the same samples as the series."""
    root = tracker.tail_root(series)
    return [r - v for r, v in zip(root, series.values, strict=True)]


def target_load(tracker: GroupTracker) -> list[float]:
    """In-flight work of the whole target: groups the profile marks as request handlers, plus
    every root whose biggest group moves with the root's other states (less the handlers in
    it, which are counted already)."""
    load = list(tracker.load) if tracker.load_aware else [0.0] * len(tracker.times)
    biggest: dict[str, Series] = {}
    for s in tracker.groups.values():
        if s.root not in biggest or s.values[-1] > biggest[s.root].values[-1]:
            biggest[s.root] = s
    for root, s in biggest.items():
        totals = tracker.roots.get(root)
        if totals is not None and comoving(s.values, siblings_of(tracker, s)):
            _add_root(load, tracker, root, totals)
    return load


def _add_root(load: list[float], tracker: GroupTracker, root: str, totals: Sequence[float]) -> None:
    offset = len(load) - len(totals)
    for i, v in enumerate(totals):
        load[offset + i] += v
    for s in tracker.groups.values():
        if s.is_load and s.root == root:
            offset = len(load) - len(s.values)
            for i, v in enumerate(s.values):
                load[offset + i] -= v


def follows_load(values: Sequence[float], load: Sequence[float], min_samples: int) -> bool:
    """The target's load (over the same samples as `values`) rises plainly and the group tracks it."""
    load = load[-len(values) :]
    if len(load) < min_samples:
        return False
    mk = mann_kendall(load)
    rising = mk.s > 0 and mk.p_value < _LOAD_SIGNIFICANCE and max(load) > 1.2 * max(1.0, min(load))
    return rising and pearson(values, load) >= LOAD_CORRELATION
