"""debug=0: profile.proto (goroutine, goroutineleak and heap) into the one model.

Hot path at ~4,000 stacks: every function and location is resolved once up front (frames,
user frames, names, wait kind per location id); a sample's stack is then assembled by C-level
map/filter/join over its location ids, with no Python code running per frame.
"""

from __future__ import annotations

from itertools import chain

from google.protobuf.message import DecodeError

from leakpatrol.profiles import profile_pb2 as pb
from leakpatrol.profiles.errors import (
    MalformedProfileError,
    NotAProfileError,
    ProfileTooLargeError,
)
from leakpatrol.profiles.groups import SIGNATURE_PREFIX, GroupBuilder, Stack, new_stack, user_frames_of
from leakpatrol.profiles.model import Frame, HeapValues, Profile, ProfileFormat, ProfileKind, WaitKind
from leakpatrol.profiles.waits import PARK_FUNCTIONS, frame_wait_kind

STAGE = "protobuf"
_HEAP_TYPES = ("alloc_objects", "alloc_space", "inuse_objects", "inuse_space")
_COUNT_KINDS = {"goroutine": ProfileKind.GOROUTINE, "goroutineleak": ProfileKind.GOROUTINELEAK}
_SAMPLE_TYPE_TAG = 0x0A  # field 1 (sample_type), length-delimited: how Go starts every profile


def _malformed(field: str, detail: str) -> MalformedProfileError:
    return MalformedProfileError(STAGE, field, detail)


def decode(raw: bytes) -> pb.Profile:
    msg = pb.Profile()
    try:
        msg.ParseFromString(raw)
    except DecodeError as exc:
        if raw[:1] == bytes([_SAMPLE_TYPE_TAG]):
            raise _malformed("Profile", str(exc) or "undecodable") from exc
        raise NotAProfileError("not gzip, not pprof text, not profile.proto") from exc
    if not msg.sample_type:
        raise NotAProfileError("protobuf without sample types is no profile")
    return msg


class _Resolver:
    """Everything per location, computed once up front; stacks are then assembled by C-level
    map/chain/join over location ids, with no Python code per frame."""

    def __init__(self, msg: pb.Profile) -> None:
        self.strings = [s.decode("utf-8", "replace") for s in msg.string_table]
        functions = {
            f.id: (self.string(f.name, "Function.name"), self.string(f.filename, "Function.filename"))
            for f in msg.function
        }
        self.frames: dict[int, tuple[Frame, ...]] = {}
        self.sizes: dict[int, int] = {}
        self.user: dict[int, tuple[Frame, ...]] = {}
        self.names: dict[int, str] = {}  # ";"-joined user function names, "" if none
        self.wait: dict[int, WaitKind | None] = {}
        self.parks: dict[int, bool] = {}
        # Most locations hold one line (no inlining): stacks made only of those take a faster path.
        self.single: dict[int, Frame] = {}
        self.single_user: dict[int, Frame | None] = {}
        self.multi: set[int] = set()
        for loc in msg.location:
            self._add_location(loc, functions)

    def string(self, index: int, field: str) -> str:
        if not 0 <= index < len(self.strings):
            raise _malformed(field, f"string_table index {index} out of range")
        return self.strings[index]

    def _add_location(self, loc: pb.Location, functions: dict[int, tuple[str, str]]) -> None:
        frames = []
        for line in loc.line:  # line[0] is the innermost inlined call: already leaf first
            fn = functions.get(line.function_id)
            if fn is None:
                raise _malformed("Location.line.function_id", f"unknown function {line.function_id}")
            frames.append(Frame(fn[0], fn[1], line.line))
        if not frames:  # unsymbolized: the address is all there is
            frames.append(Frame(f"0x{loc.address:x}"))
        names = [f.function for f in frames]
        user = user_frames_of(tuple(frames))
        self.frames[loc.id] = tuple(frames)
        self.sizes[loc.id] = len(frames)
        self.user[loc.id] = user
        self.names[loc.id] = ";".join(f.function for f in user)
        self.wait[loc.id] = next(filter(None, map(frame_wait_kind, names)), None)
        self.parks[loc.id] = not PARK_FUNCTIONS.isdisjoint(names)
        if len(frames) == 1:
            self.single[loc.id] = frames[0]
            self.single_user[loc.id] = user[0] if user else None
        else:
            self.multi.add(loc.id)

    def stack(self, key: list[int], builder: GroupBuilder, *, heap: bool) -> Stack:
        try:
            frames, user = self._frames(key, builder)
        except KeyError as exc:
            raise _malformed("Sample.location_id", f"unknown location {exc.args[0]}") from None
        names = ";".join(filter(None, map(self.names.__getitem__, key)))
        if heap:  # an allocation site waits on nothing: heap groups are keyed by frames alone
            wait = WaitKind.UNKNOWN
        else:  # leaf first, the first location that proves a wait kind decides
            found = next(filter(None, map(self.wait.__getitem__, key)), None)
            wait = found or (WaitKind.UNKNOWN if any(map(self.parks.__getitem__, key)) else WaitKind.RUNNING)
        return new_stack(SIGNATURE_PREFIX[wait] + names, wait, frames, user)

    def _frames(self, key: list[int], builder: GroupBuilder) -> tuple[tuple[Frame, ...], tuple[Frame, ...]]:
        """All frames and the user frames; charged to the budget before anything is built."""
        if self.multi.isdisjoint(key):
            builder.charge(len(key))
            frames = tuple(map(self.single.__getitem__, key))
            return frames, tuple(filter(None, map(self.single_user.__getitem__, key)))
        builder.charge(sum(map(self.sizes.__getitem__, key)))  # crafted inlining can explode
        frames = tuple(chain.from_iterable(map(self.frames.__getitem__, key)))
        return frames, tuple(chain.from_iterable(map(self.user.__getitem__, key)))


def _kind(types: list[str]) -> ProfileKind:
    if len(types) == 1 and types[0] in _COUNT_KINDS:
        return _COUNT_KINDS[types[0]]
    if all(t in types for t in _HEAP_TYPES):
        return ProfileKind.HEAP
    raise _malformed("Profile.sample_type", f"unsupported sample types {types}")


def _labels(resolver: _Resolver, sample: pb.Sample) -> dict[str, str] | None:
    if not sample.label:
        return None
    return {
        resolver.string(lb.key, "Label.key"): resolver.string(lb.str, "Label.str")
        for lb in sample.label
        if lb.str  # numeric labels (heap "bytes") are per-sample sizes, not group properties
    }


def parse(msg: pb.Profile, *, max_samples: int) -> Profile:
    if len(msg.sample) > max_samples:
        raise ProfileTooLargeError(f"{len(msg.sample)} samples, over the cap of {max_samples}")
    resolver = _Resolver(msg)
    types = [resolver.string(t.type, "ValueType.type") for t in msg.sample_type]
    kind = _kind(types)
    heap_idx = [types.index(t) for t in _HEAP_TYPES] if kind is ProfileKind.HEAP else None
    builder = GroupBuilder()
    total = 0
    for sample in msg.sample:
        # Go writes one sample per distinct (stack, labels): stacks rarely repeat, so no cache
        # keyed by location ids (building its tuple keys would cost more than it saves).
        stack = resolver.stack(sample.location_id[:], builder, heap=heap_idx is not None)
        values = sample.value
        if len(values) != len(types):
            raise _malformed("Sample.value", f"{len(values)} values for {len(types)} sample types")
        labels = _labels(resolver, sample)
        if heap_idx is None:
            builder.add(stack, values[0], labels=labels)
            total += values[0]
        else:
            heap = HeapValues(*(values[i] for i in heap_idx))
            builder.add(stack, heap.inuse_objects, heap=heap, labels=labels)
            total += heap.inuse_space
    return Profile(kind, ProfileFormat.PROTO, builder.groups(), total, msg.time_nanos or None)
