"""Reduce a parsed profile to the per-group points the trackers keep."""

from __future__ import annotations

from leakpatrol.detect.tracker import GroupPoint
from leakpatrol.profiles.model import Profile, StackGroup

# A request handler's goroutine count is the load itself (in-flight requests).
_LOAD_MARKERS = ("ServeHTTP", "processUnaryRPC", "processStreamingRPC")


def _point(group: StackGroup, value: float) -> GroupPoint:
    return GroupPoint(
        signature=group.signature,
        wait_kind=group.wait_kind.value,
        stack=group.user_frames or group.frames,
        value=value,
        is_load=any(m in group.signature for m in _LOAD_MARKERS),
    )


def goroutine_points(profile: Profile) -> list[GroupPoint]:
    return [_point(g, g.count) for g in profile.groups if g.count > 0]


def heap_points(profile: Profile) -> list[GroupPoint]:
    # Sites made only of runtime frames (e.g. goroutine stacks) grow *because of* a goroutine leak;
    # they are not a cause of their own.
    return [
        _point(g, g.heap.inuse_space)
        for g in profile.groups
        if g.heap is not None and g.heap.inuse_space > 0 and g.user_frames
    ]
