"""debug=0: profile.proto (goroutine, goroutineleak and heap) into the one model.

Hot path at ~4,000 stacks: what a signature needs (user function names, wait kind) is resolved
once per location id; then every step runs over all samples at once as C-level map/filter/join
(no Python code per sample or per frame). `Frame` objects are built only for the groups someone
reads, through lazy `Frames` (see `_Table.frames_of`).
"""

from __future__ import annotations

import operator
from itertools import chain, repeat
from operator import attrgetter, itemgetter

from google.protobuf.message import DecodeError

from leakpatrol.profiles import flat
from leakpatrol.profiles import profile_pb2 as pb
from leakpatrol.profiles.errors import (
    MalformedProfileError,
    NotAProfileError,
    ProfileTooLargeError,
)
from leakpatrol.profiles.groups import (
    MAX_FRAMES_TOTAL,
    SIGNATURE_PREFIX,
    GroupBuilder,
    new_stack,
    ordered,
    user_frames_of,
)
from leakpatrol.profiles.model import (
    Frame,
    Frames,
    HeapValues,
    Profile,
    ProfileFormat,
    ProfileKind,
    StackGroup,
    WaitKind,
    lazy_frames,
)
from leakpatrol.profiles.waits import PARK_FUNCTIONS, frame_wait_kind, is_runtime_function

STAGE = "protobuf"
_HEAP_TYPES = ("alloc_objects", "alloc_space", "inuse_objects", "inuse_space")
_COUNT_KINDS = {"goroutine": ProfileKind.GOROUTINE, "goroutineleak": ProfileKind.GOROUTINELEAK}
_SAMPLE_TYPE_TAG = 0x0A  # field 1 (sample_type), length-delimited: how Go starts every profile
# Slicing a upb repeated field copies it to a list in C; tuple()/list() would iterate in Python.
_ALL = itemgetter(slice(None))
_LOCATION_IDS = attrgetter("location_id")
_VALUES = attrgetter("value")
_LABELS = attrgetter("label")


def _malformed(field: str, detail: str) -> MalformedProfileError:
    return MalformedProfileError(STAGE, field, detail)


def _unknown_location(exc: KeyError) -> MalformedProfileError:
    return _malformed("Sample.location_id", f"unknown location {exc.args[0]}")


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


class _Table:
    """Per location id: its user function names ("f;g;", "" if none) and the wait kind it
    proves. Frames are kept as (function id, line) pairs until someone reads a group."""

    def __init__(self, msg: pb.Profile) -> None:
        self.strings = [s.decode("utf-8", "replace") for s in msg.string_table]
        self.functions = {
            f.id: (self.string(f.name, "Function.name"), self.string(f.filename, "Function.filename"))
            for f in msg.function
        }
        self.lines: dict[int, list[tuple[int, int]]] = {}
        self.addresses: dict[int, int] = {}
        self.names: dict[int, str] = {}
        self.wait: dict[int, WaitKind | None] = {}
        self.parks: set[int] = set()
        self.tokens: dict[int, str] = {}  # for flat.stacks: a wait char, then the user names
        self.flat_ok = True
        self.sizes: dict[int, int] = {}  # frames per location (inlining), when any has several
        self._frames: dict[int, tuple[Frame, ...]] = {}
        for loc in msg.location:
            self._add_location(loc)

    def string(self, index: int, field: str) -> str:
        if not 0 <= index < len(self.strings):
            raise _malformed(field, f"string_table index {index} out of range")
        return self.strings[index]

    def _add_location(self, loc: pb.Location) -> None:
        lines = [(line.function_id, line.line) for line in loc.line]  # innermost inlined first
        names = []
        for fid, _ in lines:
            fn = self.functions.get(fid)
            if fn is None:
                raise _malformed("Location.line.function_id", f"unknown function {fid}")
            names.append(fn[0])
        if not names:  # unsymbolized: the address is all there is
            names.append(f"0x{loc.address:x}")
        self.lines[loc.id] = lines
        self.addresses[loc.id] = loc.address
        # "f;g;" with the separator after each name: a stack's names are then one plain join
        # over its locations (no filter pass), minus the last ";".
        self.names[loc.id] = "".join(n + ";" for n in names if not is_runtime_function(n))
        self.wait[loc.id] = next(filter(None, map(frame_wait_kind, names)), None)
        parks = not PARK_FUNCTIONS.isdisjoint(names)
        if parks:
            self.parks.add(loc.id)
        wait = self.wait[loc.id]
        char = flat.WAIT_CHARS[wait] if wait else flat.PARK if parks else flat.NOTHING
        self.tokens[loc.id] = char + self.names[loc.id]
        # flat.stacks marks locations with control chars and splits samples at NUL.
        self.flat_ok = self.flat_ok and self.names[loc.id].isprintable()
        self.sizes[loc.id] = len(names)

    def frame_count(self, ids: list[list[int]], separator: int | None = None) -> int:
        """Frames the stacks expand to; `separator` (flat.py's 0) counts as one."""
        if max(self.sizes.values(), default=1) <= 1:
            return sum(map(len, ids))
        sizes = self.sizes if separator is None else {**self.sizes, separator: 1}
        try:  # crafted inlining can expand a few bytes into millions of frames
            return sum(sum(map(sizes.__getitem__, key)) for key in ids)
        except KeyError as exc:
            raise _unknown_location(exc) from None

    def idle_kind(self, key: list[int]) -> WaitKind:
        """No location proved a wait kind: parked for an unknown reason, or running."""
        return WaitKind.RUNNING if self.parks.isdisjoint(key) else WaitKind.UNKNOWN

    def location_frames(self, loc_id: int) -> tuple[Frame, ...]:
        frames = self._frames.get(loc_id)
        if frames is None:
            fns = self.functions
            lines = self.lines[loc_id]
            if lines:
                frames = tuple(Frame(*fns[fid], line) for fid, line in lines)
            else:
                frames = (Frame(f"0x{self.addresses[loc_id]:x}"),)
            self._frames[loc_id] = frames
        return frames

    def frames_of(self, key: list[int]) -> tuple[Frame, ...]:
        return tuple(chain.from_iterable(map(self.location_frames, key)))

    def user_frames_of(self, key: list[int]) -> tuple[Frame, ...]:
        return user_frames_of(self.frames_of(key))


def _kind(types: list[str]) -> ProfileKind:
    if len(types) == 1 and types[0] in _COUNT_KINDS:
        return _COUNT_KINDS[types[0]]
    if all(t in types for t in _HEAP_TYPES):
        return ProfileKind.HEAP
    raise _malformed("Profile.sample_type", f"unsupported sample types {types}")


def _labels(table: _Table, sample: pb.Sample) -> dict[str, str] | None:
    if not sample.label:
        return None
    return {
        table.string(lb.key, "Label.key"): table.string(lb.str, "Label.str")
        for lb in sample.label
        if lb.str  # numeric labels (heap "bytes") are per-sample sizes, not group properties
    }


def _signatures(
    table: _Table, ids: list[list[int]], heap: bool
) -> tuple[list[str], list[WaitKind], list[str]]:
    """Per sample, from location ids alone: the signature, the wait kind, the user names."""
    try:
        joined = map("".join, map(map, repeat(table.names.__getitem__), ids))
        names = list(map(str.removesuffix, joined, repeat(";")))
    except KeyError as exc:
        raise _unknown_location(exc) from None
    if heap:  # an allocation site waits on nothing: heap groups are keyed by frames alone
        waits: list[WaitKind] = [WaitKind.UNKNOWN] * len(ids)
    else:  # leaf first, the first location that proves a wait kind decides
        found = list(
            map(next, map(filter, repeat(None), map(map, repeat(table.wait.__getitem__), ids)), repeat(None))
        )
        waits = [w or table.idle_kind(key) for w, key in zip(found, ids, strict=True)]
    return list(map(operator.add, map(SIGNATURE_PREFIX.__getitem__, waits), names)), waits, names


def parse(msg: pb.Profile, *, max_samples: int, raw: bytes | None = None) -> Profile:
    """`raw`: the bytes `msg` was decoded from, for the all-samples-at-once path (flat.py)."""
    if len(msg.sample) > max_samples:
        raise ProfileTooLargeError(f"{len(msg.sample)} samples, over the cap of {max_samples}")
    table = _Table(msg)
    types = [table.string(t.type, "ValueType.type") for t in msg.sample_type]
    kind = _kind(types)
    samples = flat.read(raw, len(msg.sample), len(types)) if raw is not None and table.flat_ok else None
    fast = _flat_groups(table, samples, types, kind) if samples is not None else None
    groups, total = fast if fast is not None else _sample_groups(table, msg, types, kind)
    return Profile(kind, ProfileFormat.PROTO, ordered(groups), total, msg.time_nanos or None)


def _counts(
    values: list[list[int]], types: list[str], kind: ProfileKind
) -> tuple[list[int], list[HeapValues] | None, int]:
    """Per sample: goroutines (inuse objects for heap) and heap values; and the total."""
    if kind is not ProfileKind.HEAP:
        return values[0], None, sum(values[0])
    heaps = list(map(HeapValues, *(values[types.index(t)] for t in _HEAP_TYPES)))
    return [h.inuse_objects for h in heaps], heaps, sum(h.inuse_space for h in heaps)


def _flat_groups(
    table: _Table, samples: flat.Samples, types: list[str], kind: ProfileKind
) -> tuple[list[StackGroup], int] | None:
    """Go's one sample per distinct stack without labels: every step over all samples in C."""
    if table.frame_count([samples.ids], separator=0) - samples.n > MAX_FRAMES_TOTAL:
        raise ProfileTooLargeError(f"more than {MAX_FRAMES_TOTAL} frames over distinct stacks")
    try:
        found = flat.stacks(samples, table.tokens)
    except KeyError as exc:
        raise _unknown_location(exc) from None
    if found is None:
        return None
    names, waits = found
    if kind is ProfileKind.HEAP:  # an allocation site waits on nothing: keyed by frames alone
        waits = [WaitKind.UNKNOWN] * samples.n
    signatures = list(map(operator.add, map(SIGNATURE_PREFIX.__getitem__, waits), names))
    if len(set(signatures)) != len(signatures):
        return None

    def frames_of(sample: int) -> tuple[Frame, ...]:
        return table.frames_of(samples.ids_of(sample))

    def user_frames_of(sample: int) -> tuple[Frame, ...]:
        return table.user_frames_of(samples.ids_of(sample))

    indexes = range(samples.n)
    frames = map(Frames, repeat(frames_of), indexes, repeat(None))  # None: empty only if read so
    user = lazy_frames(user_frames_of, indexes, map(bool, names))
    counts, heaps, total = _counts(samples.values, types, kind)
    extra = [heaps] if heaps is not None else []
    return list(map(StackGroup, signatures, waits, frames, user, counts, *extra)), total


def _sample_groups(
    table: _Table, msg: pb.Profile, types: list[str], kind: ProfileKind
) -> tuple[list[StackGroup], int]:
    """Sample by sample: labels, merged stacks, and the exact error for broken input."""
    samples = list(msg.sample)
    ids = list(map(_ALL, map(_LOCATION_IDS, samples)))
    if table.frame_count(ids) > MAX_FRAMES_TOTAL:  # before anything is built per frame
        raise ProfileTooLargeError(f"more than {MAX_FRAMES_TOTAL} frames over distinct stacks")
    values = list(map(_ALL, map(_VALUES, samples)))
    if set(map(len, values)) - {len(types)}:
        bad = next(v for v in values if len(v) != len(types))
        raise _malformed("Sample.value", f"{len(bad)} values for {len(types)} sample types")
    signatures, waits, names = _signatures(table, ids, kind is ProfileKind.HEAP)
    frames = list(lazy_frames(table.frames_of, ids, map(bool, ids)))
    user = list(lazy_frames(table.user_frames_of, ids, map(bool, names)))
    per_type = [list(map(itemgetter(i), values)) for i in range(len(types))]
    counts, heaps, total = _counts(per_type, types, kind)
    builder = GroupBuilder()
    for i, sample in enumerate(samples):
        stack = new_stack(signatures[i], waits[i], frames[i], user[i])
        builder.add(stack, counts[i], heap=heaps[i] if heaps else None, labels=_labels(table, sample))
    return builder.groups(), total
