"""The one parsed-profile model every format is loaded into.

A profile is a list of stack groups. A group is keyed by its *signature*: the wait kind plus the
function names of the user frames, leaf first. `file:line` is carried for display only, so a
recompiled binary (shifted lines) still maps to the same group across samples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import repeat
from operator import call
from typing import Any, overload


class ProfileKind(StrEnum):
    GOROUTINE = "goroutine"
    HEAP = "heap"
    GOROUTINELEAK = "goroutineleak"


class ProfileFormat(StrEnum):
    PROTO = "debug=0"  # gzipped profile.proto
    TEXT = "debug=1"  # aggregated text, runtime frames dropped
    DUMP = "debug=2"  # one block per goroutine, with wait reason and minutes


class WaitKind(StrEnum):
    """Why a goroutine is parked. Values match the wait reasons Go prints in debug=2 dumps."""

    IO_WAIT = "IO wait"
    CHAN_SEND = "chan send"
    CHAN_RECEIVE = "chan receive"
    CHAN_SEND_NIL = "chan send (nil chan)"
    CHAN_RECEIVE_NIL = "chan receive (nil chan)"
    SELECT = "select"
    SELECT_NO_CASES = "select (no cases)"
    SLEEP = "sleep"
    MUTEX = "sync.Mutex.Lock"
    RWMUTEX = "sync.RWMutex.Lock"
    WAITGROUP = "sync.WaitGroup.Wait"
    COND = "sync.Cond.Wait"
    SEMACQUIRE = "semacquire"
    SYSCALL = "syscall"
    RUNNING = "running"
    UNKNOWN = "unknown"  # debug=1 with a user leaf: the runtime frames that would tell are gone


@dataclass(frozen=True, slots=True)
class Frame:
    function: str
    file: str = ""
    line: int = 0

    def display(self) -> str:
        return f"{self.function} {self.file}:{self.line}" if self.file else self.function


class Frames(Sequence[Frame]):
    """A stack's frames, built only when first read.

    Parsers know a stack's signature and wait kind from integer ids or line indexes; turning
    every stack into `Frame` objects costs more than the parse itself, while callers read the
    frames of a few dozen groups. `build(key)` makes the tuple; `nonempty` answers truthiness
    (`group.user_frames or group.frames`) without building anything (None: build to know).
    """

    __slots__ = ("_build", "_built", "_key", "_nonempty")

    def __init__(self, build: Callable[[Any], tuple[Frame, ...]], key: object, nonempty: bool | None) -> None:
        self._build = build
        self._key = key
        self._nonempty = nonempty
        self._built: tuple[Frame, ...] | None = None

    def _tuple(self) -> tuple[Frame, ...]:
        built = self._built
        if built is None:
            built = self._built = self._build(self._key)
            self._key = None  # the ids or lines may be large; the tuple is all that is needed now
        return built

    def __bool__(self) -> bool:
        return self._nonempty if self._nonempty is not None else bool(self._tuple())

    def __len__(self) -> int:
        return len(self._tuple())

    @overload
    def __getitem__(self, index: int) -> Frame: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Frame, ...]: ...
    def __getitem__(self, index: int | slice) -> Frame | tuple[Frame, ...]:
        return self._tuple()[index]

    def __iter__(self) -> Iterator[Frame]:
        return iter(self._tuple())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return self._tuple() == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # like a list: equal to tuples, so not hashable

    def __repr__(self) -> str:
        return repr(self._tuple())

    def __reduce__(self) -> tuple[Callable[[tuple[Frame, ...]], Frames], tuple[tuple[Frame, ...]]]:
        # A profile parsed in a worker process crosses back by pickle. `build` is often a closure
        # or a bound method of the parser's tables (a local function cannot be pickled; a table
        # would drag the whole body along), so the frames travel built: plain tuples of `Frame`,
        # shared per location, which pickle's memo stores once.
        return _built_frames, (self._tuple(),)


class _NonEmptyFrames(Frames):
    """Frames known to be non-empty. The evaluator tests `group.user_frames or group.frames` for
    every group of every sample; a Python `__bool__` would cost it 0.15 µs per group, True's own
    C-level one (a bound method-wrapper, called without arguments) a third of that."""

    __slots__ = ()
    __bool__ = True.__bool__


_FRAMES_CLASSES = (Frames, _NonEmptyFrames)


def _frames_as_built(built: tuple[Frame, ...]) -> tuple[Frame, ...]:
    return built


def _built_frames(built: tuple[Frame, ...]) -> Frames:
    """Unpickled `Frames`: already built, the same class a parser would have chosen."""
    frames = _FRAMES_CLASSES[bool(built)](_frames_as_built, built, bool(built))
    frames._built = built
    return frames


def lazy_frames(
    build: Callable[[Any], tuple[Frame, ...]], keys: Iterable[object], nonempty: Iterable[bool]
) -> Iterator[Frames]:
    """`Frames(build, key, flag)` per key, in C; the class by the flag (see `_NonEmptyFrames`)."""
    flags = list(nonempty)
    return map(call, map(_FRAMES_CLASSES.__getitem__, flags), repeat(build), keys, flags)


@dataclass(frozen=True, slots=True)
class HeapValues:
    """The four heap sample types, already scaled by the runtime (bytes and object counts)."""

    alloc_objects: int = 0
    alloc_space: int = 0
    inuse_objects: int = 0
    inuse_space: int = 0


@dataclass(slots=True)
class StackGroup:
    """Goroutines (or heap allocations) that share one signature.

    `frames` is the whole stack leaf first, runtime frames included where the format has them;
    `user_frames` drops the runtime's own frames and is what the signature is built from.
    Parsers fill both with lazy `Frames`; any sequence of `Frame` (a tuple) is fine too.
    """

    signature: str
    wait_kind: WaitKind
    frames: Sequence[Frame]
    user_frames: Sequence[Frame]
    count: int = 0  # goroutines; for heap profiles, inuse_objects
    heap: HeapValues | None = None
    created_by: str | None = None  # debug=2 only: "created by F" function
    wait_minutes: tuple[int, ...] = ()  # debug=2 only: one entry per goroutine that reported minutes
    labels: dict[str, str] = field(default_factory=dict)
    # debug=2 under GODEBUG=tracebackancestors=N: the creator's stack when it started this
    # goroutine ("[originating from goroutine N]:"), leaf first; context only, not in the signature.
    ancestors: tuple[Frame, ...] = ()
    # debug=1 goroutineleak with the wait kind unknown: the kinds its hidden runtime frames allow
    # (counted from the record's PCs): a select, or a channel send or receive. Empty otherwise.
    wait_candidates: tuple[WaitKind, ...] = ()

    @property
    def size(self) -> int:
        """What ranks the group: bytes in use for a heap site, else goroutines."""
        return self.heap.inuse_space if self.heap is not None else self.count


@dataclass(slots=True)
class Profile:
    kind: ProfileKind
    format: ProfileFormat
    groups: list[StackGroup]
    total: int  # goroutines; for heap profiles, inuse_space in bytes
    time_nanos: int | None = None  # when the runtime took it, where the format says
    # debug=2 only: the runtime cut the dump (at 64 MiB) and only the complete blocks were kept,
    # so counts are a lower bound.
    truncated: bool = False
    # What a tolerant read had to accept, for people to see: "records add up to 933 of the header's
    # 1055 goroutines", "a common line prefix was stripped", ... Empty for well-formed profiles.
    warnings: tuple[str, ...] = ()

    @property
    def inuse_space(self) -> int:
        return sum(g.heap.inuse_space for g in self.groups if g.heap is not None)
