"""Wait kinds and the runtime-frame rule, shared by every format.

Which frames tell the wait kind differs by format: debug=0 keeps the runtime's frames
(`runtime.selectgo`, `runtime.chansend1`, …), debug=1 drops them but keeps the linknamed hooks
(`internal/poll.runtime_pollWait`, `sync.runtime_Semacquire*`), and debug=2 prints the reason
in the header. The same table, scanned leaf first (first hit wins), serves the first two; with
runtime frames kept, a stack that never reached `runtime.gopark` was running.
"""

from __future__ import annotations

from leakpatrol.profiles.model import WaitKind

# Exact function names that decide the wait kind; checked leaf first, the first hit wins.
_FRAME_KINDS: dict[str, WaitKind] = {
    "runtime.chansend1": WaitKind.CHAN_SEND,
    "runtime.chanrecv1": WaitKind.CHAN_RECEIVE,
    "runtime.chanrecv2": WaitKind.CHAN_RECEIVE,
    "runtime.selectgo": WaitKind.SELECT,
    "reflect.rselect": WaitKind.SELECT,
    "runtime.block": WaitKind.SELECT_NO_CASES,
    "internal/poll.runtime_pollWait": WaitKind.IO_WAIT,
    "runtime.netpollblock": WaitKind.IO_WAIT,
    "time.Sleep": WaitKind.SLEEP,
    "sync.runtime_SemacquireMutex": WaitKind.MUTEX,
    "internal/sync.runtime_SemacquireMutex": WaitKind.MUTEX,
    "sync.runtime_SemacquireRWMutex": WaitKind.RWMUTEX,
    "sync.runtime_SemacquireRWMutexR": WaitKind.RWMUTEX,
    "sync.runtime_SemacquireWaitGroup": WaitKind.WAITGROUP,
    "sync.(*WaitGroup).Wait": WaitKind.WAITGROUP,
    "sync.runtime_notifyListWait": WaitKind.COND,
    "sync.runtime_Semacquire": WaitKind.SEMACQUIRE,
    "internal/sync.runtime_Semacquire": WaitKind.SEMACQUIRE,
}
_SYSCALL_PREFIXES = ("syscall.", "internal/runtime/syscall.")
# A goroutine stack without one of these was not parked when the profile was taken.
PARK_FUNCTIONS = frozenset({"runtime.gopark", "runtime.goparkunlock"})

# The runtime's own frames: not the user's code, so not part of a signature. Hooks the runtime
# implements under another package's name (go:linkname) count as runtime too.
_RUNTIME_PREFIXES = (
    "runtime.",
    "internal/runtime/",
    "internal/poll.runtime_",
    "sync.runtime_",
    "internal/sync.runtime_",
)


def is_runtime_function(name: str) -> bool:
    return name.startswith(_RUNTIME_PREFIXES)


def frame_wait_kind(name: str) -> WaitKind | None:
    """The wait kind one function name proves, or None."""
    kind = _FRAME_KINDS.get(name)
    if kind is None and name.startswith(_SYSCALL_PREFIXES):
        return WaitKind.SYSCALL
    return kind


_BY_VALUE = {kind.value: kind for kind in WaitKind}
_REASON_ALIASES = {
    "runnable": WaitKind.RUNNING,
    "sync.RWMutex.RLock": WaitKind.RWMUTEX,  # the model keeps one RWMutex kind for both lock modes
}
# Status decorations the runtime appends inside the reason; they do not change what is awaited.
# What the runtime prints after the wait reason, in this order (traceback.go goroutineheader):
# " (leaked)", " (scan)", " (durable)"; stripped from the end, so the last one first.
_DECORATIONS = (" (durable)", " (scan)", " (leaked)")


def reason_wait_kind(status: str) -> WaitKind:
    """Map a debug=2 header status ("chan send (leaked)", "IO wait", …) to a WaitKind."""
    for suffix in _DECORATIONS:
        status = status.removesuffix(suffix)
    return _BY_VALUE.get(status) or _REASON_ALIASES.get(status) or WaitKind.UNKNOWN
