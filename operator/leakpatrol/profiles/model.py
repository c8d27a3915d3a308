"""The one parsed-profile model every format is loaded into.

A profile is a list of stack groups. A group is keyed by its *signature*: the wait kind plus the
function names of the user frames, leaf first. `file:line` is carried for display only, so a
recompiled binary (shifted lines) still maps to the same group across samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


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
    """

    signature: str
    wait_kind: WaitKind
    frames: tuple[Frame, ...]
    user_frames: tuple[Frame, ...]
    count: int = 0  # goroutines; for heap profiles, inuse_objects
    heap: HeapValues | None = None
    created_by: str | None = None  # debug=2 only: "created by F" function
    wait_minutes: tuple[int, ...] = ()  # debug=2 only: one entry per goroutine that reported minutes
    labels: dict[str, str] = field(default_factory=dict)

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

    @property
    def inuse_space(self) -> int:
        return sum(g.heap.inuse_space for g in self.groups if g.heap is not None)
