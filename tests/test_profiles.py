"""Golden tests: real Go 1.27 profiles (tests/golden/profiles, see its README) parsed end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from leakpatrol.profiles import (
    Profile,
    ProfileFormat,
    ProfileKind,
    StackGroup,
    WaitKind,
    load,
)

GOLDEN = Path(__file__).parent / "golden" / "profiles"
MiB = 1 << 20


def golden(name: str) -> Profile:
    return load((GOLDEN / name).read_bytes())


def group_with(profile: Profile, function: str) -> StackGroup:
    """The one group whose user frames contain `function`."""
    found = [g for g in profile.groups if any(f.function == function for f in g.user_frames)]
    assert len(found) == 1, [g.signature for g in found]
    return found[0]


# user function in the stack -> (goroutines, wait kind from debug=0, from debug=2 header, from debug=1)
STATES = {
    "main.blockSend": (3, WaitKind.CHAN_SEND, WaitKind.CHAN_SEND, WaitKind.UNKNOWN),
    "main.blockRecv": (4, WaitKind.CHAN_RECEIVE, WaitKind.CHAN_RECEIVE, WaitKind.UNKNOWN),
    # debug=0 cannot tell a nil channel: runtime.chanrecv parks on it the same way
    "main.blockRecvNil": (1, WaitKind.CHAN_RECEIVE, WaitKind.CHAN_RECEIVE_NIL, WaitKind.UNKNOWN),
    "main.blockSelect": (5, WaitKind.SELECT, WaitKind.SELECT, WaitKind.UNKNOWN),
    "main.blockSelectNoCases": (2, WaitKind.SELECT_NO_CASES, WaitKind.SELECT_NO_CASES, WaitKind.UNKNOWN),
    "main.blockMutex": (6, WaitKind.MUTEX, WaitKind.MUTEX, WaitKind.MUTEX),
    "main.blockRWMutexRead": (2, WaitKind.RWMUTEX, WaitKind.RWMUTEX, WaitKind.RWMUTEX),
    "main.blockWaitGroup": (7, WaitKind.WAITGROUP, WaitKind.WAITGROUP, WaitKind.WAITGROUP),
    "main.blockCond": (8, WaitKind.COND, WaitKind.COND, WaitKind.COND),
    "main.blockSleep": (9, WaitKind.SLEEP, WaitKind.SLEEP, WaitKind.SLEEP),
    "main.blockLocked": (1, WaitKind.CHAN_RECEIVE, WaitKind.CHAN_RECEIVE, WaitKind.UNKNOWN),
    "main.blockRead": (2, WaitKind.IO_WAIT, WaitKind.IO_WAIT, WaitKind.IO_WAIT),
    "net/http.(*persistConn).readLoop": (3, WaitKind.IO_WAIT, WaitKind.IO_WAIT, WaitKind.IO_WAIT),
    "net/http.(*persistConn).writeLoop": (3, WaitKind.SELECT, WaitKind.SELECT, WaitKind.UNKNOWN),
    "net/http.(*conn).serve": (3, WaitKind.IO_WAIT, WaitKind.IO_WAIT, WaitKind.IO_WAIT),
}
FORMATS = {"goroutine.pb.gz": 1, "goroutine-dump.txt": 2, "goroutine.txt": 3}


@pytest.mark.parametrize("file", FORMATS)
def test_goroutine_totals_and_formats(file: str) -> None:
    p = golden(file)
    assert p.kind is ProfileKind.GOROUTINE
    assert p.format is {1: ProfileFormat.PROTO, 2: ProfileFormat.DUMP, 3: ProfileFormat.TEXT}[FORMATS[file]]
    assert p.total == 61 == sum(g.count for g in p.groups)
    assert len(p.groups) == 17
    assert not p.truncated
    assert (p.time_nanos is not None) == (file == "goroutine.pb.gz")


@pytest.mark.parametrize("file", FORMATS)
@pytest.mark.parametrize("function", STATES)
def test_goroutine_states(file: str, function: str) -> None:
    count, *kinds = STATES[function]
    group = group_with(golden(file), function)
    assert group.count == count
    assert group.wait_kind is kinds[FORMATS[file] - 1]
    names = [f.function for f in group.user_frames]
    assert group.signature == f"{group.wait_kind.value}|" + ";".join(names)
    assert not any(n.startswith(("runtime.", "internal/poll.runtime_", "sync.runtime_")) for n in names)


def test_signatures_debug0() -> None:
    sigs = {g.signature for g in golden("goroutine.pb.gz").groups}
    assert "chan send|main.blockSend;main.startAll.func1" in sigs
    assert "sleep|time.Sleep;main.blockSleep" in sigs
    assert "select|net/http.(*persistConn).writeLoop" in sigs
    assert (
        "sync.Mutex.Lock|internal/sync.(*Mutex).lockSlow;internal/sync.(*Mutex).Lock;"
        "sync.(*Mutex).Lock;main.blockMutex"
    ) in sigs
    assert (
        "IO wait|internal/poll.(*pollDesc).wait;internal/poll.(*pollDesc).waitRead;"
        "internal/poll.(*FD).Read;net.(*netFD).Read;net.(*conn).Read;net/http.(*persistConn).Read;"
        "bufio.(*Reader).fill;bufio.(*Reader).Peek;net/http.(*persistConn).readLoop"
    ) in sigs


def test_same_user_frames_in_every_format() -> None:
    """One process, three formats: every parked stack has the same user frames in each."""
    by_format = [{g.user_frames[-1].function: g for g in golden(f).groups} for f in FORMATS]
    roots = set(by_format[0]) - {"main.main"}  # the goroutine writing the profile differs per call
    assert len(roots) == 16
    for root in roots:
        lists = [[f.function for f in fmt[root].user_frames] for fmt in by_format]
        assert lists[0] == lists[1] == lists[2], root


def test_debug0_keeps_runtime_frames_and_expands_inlining() -> None:
    group = group_with(golden("goroutine.pb.gz"), "main.blockMutex")
    names = [f.function for f in group.frames]
    assert names == [
        "runtime.gopark",
        "runtime.goparkunlock",
        "runtime.semacquire1",
        "internal/sync.runtime_SemacquireMutex",
        "internal/sync.(*Mutex).lockSlow",
        "internal/sync.(*Mutex).Lock",
        "sync.(*Mutex).Lock",
        "main.blockMutex",
    ]
    # sync.(*Mutex).Lock is inlined into main.blockMutex: one Location, two Lines, leaf first
    i = names.index("sync.(*Mutex).Lock")
    assert names[i + 1] == "main.blockMutex"
    assert group.frames[i + 1].file.endswith("profilegen/main.go")
    assert group.frames[i + 1].line > 0


def test_debug0_labels() -> None:
    group = group_with(golden("goroutine.pb.gz"), "main.blockRecv")
    assert group.labels == {"worker": "recv"}
    assert group_with(golden("goroutine.txt"), "main.blockRecv").labels == {"worker": "recv"}
    assert group_with(golden("goroutine-dump.txt"), "main.blockRecv").labels == {"worker": "recv"}
    assert group_with(golden("goroutine.pb.gz"), "main.blockSend").labels == {}


def test_debug1_frames_have_file_and_line() -> None:
    group = group_with(golden("goroutine.txt"), "main.blockSleep")
    assert [f.function for f in group.frames] == ["time.Sleep", "main.blockSleep"]
    assert group.frames[1].file.endswith("tests/programs/profilegen/main.go")
    assert group.frames[0].file.endswith("src/runtime/time.go")


def test_debug2_created_by_minutes_and_running() -> None:
    p = golden("goroutine-dump.txt")
    assert group_with(p, "main.blockSend").created_by == "main.spawn"
    assert group_with(p, "net/http.(*persistConn).readLoop").created_by == "net/http.(*Transport).dialConn"
    assert group_with(p, "net/http.(*persistConn).writeLoop").created_by == "net/http.(*Transport).dialConn"
    assert group_with(p, "net/http.(*conn).serve").created_by == "net/http.(*Server).Serve"
    assert group_with(p, "main.blockRead").created_by == "main.startIOWait"
    # profilegen -minutes waited 61 s: every parked goroutine reports "1 minutes"
    assert group_with(p, "main.blockSleep").wait_minutes == (1,) * 9
    assert group_with(p, "main.blockCond").wait_minutes == (1,) * 8
    running = group_with(p, "main.main")
    assert running.wait_kind is WaitKind.RUNNING
    assert running.created_by is None
    assert running.wait_minutes == ()


def test_goroutineleak_sees_only_unreachable_waits() -> None:
    for file, kinds in [
        ("goroutineleak.pb.gz", (WaitKind.SELECT, WaitKind.CHAN_SEND, WaitKind.SELECT_NO_CASES)),
        ("goroutineleak.txt", (WaitKind.UNKNOWN,) * 3),
    ]:
        p = golden(file)
        assert p.kind is ProfileKind.GOROUTINELEAK
        assert p.total == 11
        assert [(g.count, g.user_frames[0].function) for g in p.groups] == [
            (5, "main.blockSelect"),
            (3, "main.blockSend"),
            (2, "main.blockSelectNoCases"),
            (1, "main.blockRecvNil"),
        ]
        assert tuple(g.wait_kind for g in p.groups[:3]) == kinds


def test_heap_profile() -> None:
    p = golden("heap.pb.gz")
    assert p.kind is ProfileKind.HEAP
    assert p.format is ProfileFormat.PROTO
    site = group_with(p, "main.allocSite")
    assert site.heap is not None
    assert site.count == site.heap.inuse_objects == site.heap.alloc_objects == 16
    # 16 × 1 MiB sampled at 64 KiB: the runtime's unsampling scale adds at most a few bytes
    assert 16 * MiB <= site.heap.inuse_space < 16 * MiB + 64
    assert site.signature == "unknown|main.allocSite;main.main"
    assert p.groups[0] is site  # heap groups are ordered by in-use bytes
    assert p.total == p.inuse_space == sum(g.heap.inuse_space for g in p.groups if g.heap)
    assert p.total > 16 * MiB
