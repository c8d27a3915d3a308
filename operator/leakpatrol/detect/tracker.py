"""Bounded per-group history for one signal of one target.

Only the `top_groups` largest groups get a history of their own; everything else is summed into the
total. A group enters when it reaches the top, so a leak that starts small is tracked from the
moment it matters; history is trimmed to the time window and to `max_samples`. A 4,000-stack
profile therefore costs the same memory per target as a 30-stack one.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from leakpatrol.detect.display import display_frames
from leakpatrol.profiles.model import Frame


@dataclass(frozen=True, slots=True)
class GroupPoint:
    """One group of one sample, reduced to what detection needs."""

    signature: str
    wait_kind: str
    stack: Sequence[Frame]  # leaf first, lazy; turned into display strings only if the group is tracked
    value: float  # goroutines, or inuse bytes
    is_load: bool = False  # a request handler: its count *is* the load


@dataclass(slots=True)
class Series:
    """A tracked group: identity and display facts, plus values aligned with the tracker's tail."""

    signature: str
    wait_kind: str
    frames: tuple[str, ...]
    is_load: bool
    values: array[float] = field(default_factory=lambda: array(VALUE_TYPE))
    flagged_streak: int = 0

    @property
    def root(self) -> str:
        return root_of(self.signature)

    @property
    def functions(self) -> list[str]:
        """Derived, not stored: the signature is the wait kind and these names (see profiles)."""
        names = self.signature.partition("|")[2]
        return names.split(";") if names else []


# float32: counts are exact to 16.7 million, bytes to a few parts in 10^8 — and half the memory.
VALUE_TYPE = "f"


def root_of(signature: str) -> str:
    """The goroutine's entry function (outermost user frame): groups under one root are one kind of
    goroutine in different states, e.g. a pool's workers busy or idle."""
    return signature.partition("|")[2].rpartition(";")[2] or signature


class GroupTracker:
    def __init__(self, top_groups: int, load_aware: bool) -> None:
        self.top_groups = top_groups
        self.load_aware = load_aware
        self.times: list[float] = []
        self.total: array[float] = array(VALUE_TYPE)
        self.load: array[float] = array(VALUE_TYPE)  # in-flight request handlers (load_aware only)
        self.groups: dict[str, Series] = {}
        self.roots: dict[str, array[float]] = {}  # per-root totals, for the roots of tracked groups

    def __len__(self) -> int:
        return len(self.times)

    def add(self, time: float, points: Sequence[GroupPoint], total: float) -> None:
        current = {p.signature: p for p in points}
        self._admit(heapq.nlargest(self.top_groups, points, key=lambda p: p.value))
        self.times.append(time)
        self.total.append(total)
        if self.load_aware:
            self.load.append(sum(p.value for p in points if p.is_load))
        for sig, series in self.groups.items():
            point = current.get(sig)
            series.values.append(point.value if point is not None else 0.0)
        self._add_roots(points)

    def _add_roots(self, points: Sequence[GroupPoint]) -> None:
        wanted = {s.root for s in self.groups.values()}
        for root in [r for r in self.roots if r not in wanted]:
            del self.roots[root]
        totals = dict.fromkeys(wanted, 0.0)
        for p in points:
            root = root_of(p.signature)
            if root in totals:
                totals[root] += p.value
        for root, value in totals.items():
            self.roots.setdefault(root, array(VALUE_TYPE)).append(value)

    def _admit(self, top: Iterable[GroupPoint]) -> None:
        for p in top:
            if p.signature not in self.groups:
                # Display strings are made here, for the few groups tracked, not for every group.
                frames = display_frames(p.stack)
                self.groups[p.signature] = Series(p.signature, p.wait_kind, frames, p.is_load)
        excess = len(self.groups) - self.top_groups
        if excess <= 0:
            return

        # Evict the least interesting: never a flagged group, then the smallest recent value + rise.
        def interest(s: Series) -> float:
            if s.flagged_streak or not s.values:
                return float("inf")
            return s.values[-1] + max(0.0, s.values[-1] - min(s.values))

        for series in sorted(self.groups.values(), key=interest)[:excess]:
            del self.groups[series.signature]

    def trim(self, window_seconds: float, max_samples: int) -> None:
        if not self.times:
            return
        horizon = self.times[-1] - window_seconds
        drop = 0
        while drop < len(self.times) and self.times[drop] < horizon:
            drop += 1
        drop = max(drop, len(self.times) - max_samples)
        if drop <= 0:
            return
        del self.times[:drop]
        del self.total[:drop]
        if self.load_aware:
            del self.load[:drop]
        keep = len(self.times)
        for values in [s.values for s in self.groups.values()] + list(self.roots.values()):
            if len(values) > keep:
                del values[: len(values) - keep]

    def tail_times(self, series: Series) -> list[float]:
        return self.times[len(self.times) - len(series.values) :]

    def tail_root(self, series: Series) -> Sequence[float]:
        """The series' root totals over the same samples as the series."""
        root = self.roots.get(series.root)
        return root[len(root) - len(series.values) :] if root is not None else series.values

    def tail_load(self, series: Series) -> Sequence[float]:
        return self.load[len(self.load) - len(series.values) :]
