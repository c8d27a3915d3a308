"""Unit tests for each parser path and error, on small hand-made inputs."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from leakpatrol.profiles import (
    DecompressionError,
    Frame,
    MalformedProfileError,
    NotAProfileError,
    ProfileFormat,
    ProfileKind,
    ProfileMemoryError,
    ProfileTooLargeError,
    TruncatedProfileError,
    WaitKind,
    load,
    loader,
    parser,
    proto,
)
from leakpatrol.profiles import profile_pb2 as pb

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "operator" / "leakpatrol" / "profiles"

DUMP = """\
goroutine 7 gp=0xc000007 m=nil [chan send (leaked), 5 minutes, locked to thread] {worker: a, "k 2": "v 2"}:
main.send(...)
\t/src/main.go:10
main.run(0x1?)
\t/src/main.go:20 +0x1e
created by main.spawn in goroutine 1
\t/src/main.go:30 +0x25

goroutine 8 [chan send, 12 minutes]:
main.send(...)
\t/src/main.go:11
...additional frames elided...
main.run(0x2)
\t/src/main.go:21 +0x1e
created by main.other in goroutine 3
\t/src/main.go:31 +0x25

goroutine 9 [runnable]:
main.run(0x2)
\t/src/main.go:21 +0x1e
"""


def test_dump_header_parts_merge_and_created_by() -> None:
    p = load(DUMP.encode())
    assert p.format is ProfileFormat.DUMP and p.total == 3 and not p.truncated
    send, running = p.groups
    assert send.signature == "chan send|main.send;main.run"
    assert send.count == 2
    assert send.wait_minutes == (5, 12)
    assert send.created_by == "main.spawn"  # the first block's, for display
    assert [(f.file, f.line) for f in send.frames] == [("/src/main.go", 10), ("/src/main.go", 20)]
    assert send.labels == {}  # the second goroutine has no labels: none is group-wide
    assert running.wait_kind is WaitKind.RUNNING


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        # traceback.go prints " (leaked)", then " (scan)", then " (durable)" after the reason
        ("select (leaked) (scan)", WaitKind.SELECT),
        ("chan send (leaked) (scan) (durable)", WaitKind.CHAN_SEND),
        ("chan receive (durable)", WaitKind.CHAN_RECEIVE),  # synctest's own reason string
        ("sync.WaitGroup.Wait (durable)", WaitKind.WAITGROUP),
    ],
)
def test_dump_header_decorations_after_the_wait_reason(status: str, kind: WaitKind) -> None:
    header = f"goroutine 7 [{status}, 3 minutes, locked to thread]:\n"
    (g,) = load((header + "main.f(...)\n\t/src/main.go:3 +0x1d\n").encode()).groups
    assert (g.wait_kind, g.wait_minutes) == (kind, (3,))


def test_dump_labels_of_one_goroutine() -> None:
    p = load(DUMP.split("\n\n", maxsplit=1)[0].encode() + b"\n")
    assert p.groups[0].labels == {"worker": "a", "k 2": "v 2"}


@pytest.mark.parametrize(
    "cut", [DUMP.index("main.send(...)\n\t/src/main.go:11") + 20, DUMP.rindex("main.run") + 4]
)
def test_dump_truncated_mid_block_keeps_complete_blocks(cut: int) -> None:
    p = load(DUMP[:cut].encode())
    assert p.truncated
    assert p.total == DUMP[:cut].count("\n\ngoroutine ")
    assert p.total == sum(g.count for g in p.groups)
    assert p.warnings == ("the dump was cut: its last, incomplete goroutine is left out",)


@pytest.mark.parametrize("cut", [30, 100, 200])
def test_dump_cut_inside_its_first_goroutine_is_refused(cut: int) -> None:
    """Never "0 goroutines" for text that holds a goroutine record."""
    with pytest.raises(TruncatedProfileError):
        load(DUMP[:cut].encode())


def test_dump_without_final_newline_is_complete() -> None:
    p = load(DUMP.rstrip("\n").encode())
    assert (p.total, p.truncated, p.warnings) == (3, False, ())


def test_dump_at_runtime_limit_is_truncated() -> None:
    block = DUMP.split("\n\n", maxsplit=1)[0] + "\n\n"
    data = (block * ((64 << 20) // len(block) + 1)).encode()[: 64 << 20]
    p = load(data, max_decompressed_bytes=64 << 20)
    assert p.truncated
    assert p.total == data.count(b"\n\ngoroutine ")  # every block but the cut one


def test_dump_bad_function_line() -> None:
    with pytest.raises(MalformedProfileError) as err:
        load(b"goroutine 1 [running]:\nnot a call\n\t/x.go:1\n")
    assert err.value.stage == "debug=2" and err.value.field == "line 2"


TEXT = """\
goroutine profile: total 5
3 @ 0x1 0x2 0x3
# labels: {"a":"b"}
#\t0x1\tinternal/poll.runtime_pollWait+0x84\t/go/src/runtime/netpoll.go:351
#\t0x2\tmain.read+0x4c\t/src/main.go:181

2 @ 0x4 0x3
#\t0x4\tmain.worker+0x1d\t/src/main.go:121
#\t0x5

"""


def test_text_blocks() -> None:
    p = load(TEXT.encode())
    assert (p.kind, p.format, p.total) == (ProfileKind.GOROUTINE, ProfileFormat.TEXT, 5)
    io, worker = p.groups
    assert io.signature == "IO wait|main.read" and io.count == 3 and io.labels == {"a": "b"}
    assert io.frames[0].function == "internal/poll.runtime_pollWait"
    assert io.frames[1].line == 181
    assert worker.signature == "unknown|main.worker;0x5" and worker.count == 2


def test_text_errors_name_the_line() -> None:
    with pytest.raises(MalformedProfileError) as err:
        load(TEXT.replace("#\t0x4\tmain.worker+0x1d", "garbage").encode())
    assert err.value.field == "line 8"
    with pytest.raises(MalformedProfileError, match="line 1"):
        load(b"goroutine profile: total x\n")
    with pytest.raises(MalformedProfileError, match="line 2"):
        load(TEXT.replace("3 @", "3 x").encode())


def test_text_totals_that_do_not_add_up_are_kept_with_a_warning() -> None:
    more = load(TEXT.replace("2 @", "4 @").encode())
    assert (more.total, sum(g.count for g in more.groups)) == (7, 7)
    assert more.warnings == ("the records hold 7 goroutines, more than the header's total 5",)
    top = load(TEXT.split("2 @", maxsplit=1)[0].encode())  # the poster kept the top record
    assert (top.total, sum(g.count for g in top.groups)) == (5, 3)
    assert top.warnings == ("the records hold 3 of the header's 5 goroutines: the rest were cut off",)


def test_text_without_trailing_blank_line_or_header() -> None:
    assert load(TEXT.rstrip("\n").encode()).warnings == ()
    headless = load(TEXT.split("\n", 1)[1].encode())
    assert (headless.format, headless.total, len(headless.groups)) == (ProfileFormat.TEXT, 5, 2)
    assert headless.warnings == (
        "no 'goroutine profile: total N' header: the total is the sum of the records",
    )
    assert load(b"goroutineleak profile: total 0\n").groups == []


def test_text_frame_cut_after_its_function() -> None:
    p = load(TEXT[:-30].encode())  # the last record's frame ends inside its file name
    worker = p.groups[1]
    assert worker.frames[0] == Frame("main.worker")
    assert (p.total, p.warnings) == (5, ())


def _proto(samples: list[tuple[list[int], int]], **extra: object) -> pb.Profile:
    strings = [
        "",
        "goroutine",
        "count",
        "runtime.gopark",
        "runtime.selectgo",
        "main.inner",
        "main.outer",
        "f.go",
    ]
    msg = pb.Profile(string_table=[s.encode() for s in strings], **extra)  # type: ignore[arg-type]
    msg.sample_type.add(type=1, unit=2)
    for i in range(3, 7):
        msg.function.add(id=i, name=i, filename=7)
    msg.location.add(id=1, line=[pb.Line(function_id=3, line=1)])
    msg.location.add(id=2, line=[pb.Line(function_id=4, line=2)])
    # one location, two inlined functions: Line[0] is the innermost
    msg.location.add(id=3, line=[pb.Line(function_id=5, line=5), pb.Line(function_id=6, line=6)])
    for locs, value in samples:
        msg.sample.add(location_id=locs, value=[value])
    return msg


def test_proto_inlined_lines_expand_leaf_first() -> None:
    p = load(gzip.compress(_proto([([1, 2, 3], 4), ([1, 2, 3], 6)], time_nanos=5).SerializeToString()))
    (g,) = p.groups
    assert [f.function for f in g.frames] == [
        "runtime.gopark",
        "runtime.selectgo",
        "main.inner",
        "main.outer",
    ]
    assert [f.line for f in g.frames] == [1, 2, 5, 6]
    assert g.signature == "select|main.inner;main.outer"
    assert (g.count, p.total, p.time_nanos) == (10, 10, 5)


def test_proto_errors() -> None:
    with pytest.raises(MalformedProfileError, match=r"at Sample\.location_id: unknown location 7"):
        load(_proto([([1, 7], 1)]).SerializeToString())
    bad = _proto([([1], 1)])
    bad.function[0].name = 99
    with pytest.raises(MalformedProfileError, match="string_table index 99 out of range") as err:
        load(bad.SerializeToString())
    assert (err.value.stage, err.value.field) == ("protobuf", "Function.name")
    cpu = _proto([([1], 1)])
    cpu.sample_type[0].type = 7
    with pytest.raises(MalformedProfileError, match="unsupported sample types"):
        load(cpu.SerializeToString())
    with pytest.raises(ProfileTooLargeError):
        load(_proto([([1], 1)] * 11).SerializeToString(), max_samples=10)
    with pytest.raises(MalformedProfileError, match="Profile"):
        load(_proto([([1], 1)]).SerializeToString()[:-3])


def test_not_a_profile() -> None:
    for data in [b"", b"<html>404</html>", b"\x00\x01\x02", pb.Profile().SerializeToString() + b"\x08\x01"]:
        with pytest.raises(NotAProfileError):
            load(data)
    with pytest.raises(NotAProfileError, match="debug=0"):
        load(b"heap profile: 1: 2 [3: 4] @ heap/1048576\n")


def test_gzip_errors() -> None:
    good = gzip.compress(TEXT.encode())
    with pytest.raises(TruncatedProfileError):
        load(good[:-20])
    with pytest.raises(DecompressionError):
        load(good[:12] + bytes(b ^ 0xFF for b in good[12:]))
    with pytest.raises(ProfileTooLargeError):
        load(good, max_decompressed_bytes=10)
    with pytest.raises(ProfileTooLargeError):
        load(TEXT.encode(), max_decompressed_bytes=10)


def gzip_bomb(size: int = 1 << 30) -> bytes:
    """`size` zero bytes as one valid gzip member, built in ~0.3 s from one repeated flushed chunk."""
    chunk = bytes(1 << 20)
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    body = comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH)  # identical after a full flush
    crc = 0
    for _ in range(size // len(chunk)):
        crc = zlib.crc32(chunk, crc)
    tail = comp.flush()
    trailer = crc.to_bytes(4, "little") + (size & 0xFFFFFFFF).to_bytes(4, "little")
    # the deflate end block from flush() carries gzip's trailer for 2 MiB; replace it with ours
    return head + body * (size // len(chunk) - 2) + tail[:-8] + trailer


def test_gzip_bomb_is_refused_quickly() -> None:
    bomb = gzip_bomb()
    assert len(bomb) < 2 << 20
    start = time.perf_counter()
    with pytest.raises(ProfileTooLargeError):
        load(bomb)
    assert time.perf_counter() - start < 2.0


def test_unexpected_errors_are_wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: object, **__: object) -> None:
        raise KeyError("bug")

    monkeypatch.setattr(loader.text, "parse", boom)
    with pytest.raises(MalformedProfileError) as err:
        load(TEXT.encode())
    assert err.value.stage == loader.UNEXPECTED_STAGE


def test_running_out_of_memory_is_recognised_by_type(monkeypatch: pytest.MonkeyPatch) -> None:
    """A MemoryError enters the tree in `load` as ProfileMemoryError: inline it reads as before (a
    malformed profile, in the same words); a capped parser worker calls it too large by its type."""

    def exhausted(*_: object) -> None:
        raise MemoryError("cannot allocate")

    monkeypatch.setattr(loader, "_load", exhausted)
    with pytest.raises(ProfileMemoryError) as oom:
        load(b"anything")
    assert isinstance(oom.value, MalformedProfileError) and oom.value.reason == "MalformedProfile"
    assert str(oom.value) == "malformed unexpected at MemoryError: cannot allocate"
    assert parser._parse_in_worker(b"anything", parser.ParseLimits()) == parser._Failed(True, str(oom.value))

    def says_memory(*_: object) -> None:  # the word in a message decides nothing
        raise MalformedProfileError("debug=1", "line 3", "MemoryError in a goroutine's function name")

    monkeypatch.setattr(loader, "_load", says_memory)
    failed = parser._parse_in_worker(b"anything", parser.ParseLimits())
    assert isinstance(failed, parser._Failed) and not failed.too_large


def test_generated_bindings_are_current(tmp_path: Path) -> None:
    """`make proto` output is committed; regenerating must give byte-identical files."""
    shutil.copy(PKG / "profile.proto", tmp_path / "profile.proto")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{tmp_path}",
            f"--python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            str(tmp_path / "profile.proto"),
        ],
        check=True,
        timeout=60,
    )
    for name in ("profile_pb2.py", "profile_pb2.pyi"):
        assert (tmp_path / name).read_bytes() == (PKG / name).read_bytes(), name


def test_inlining_explosion_hits_the_frame_budget() -> None:
    """A few KB of protobuf must not expand into millions of frames."""
    msg = _proto([])
    msg.location.add(id=9, line=[pb.Line(function_id=5, line=1)] * 2000)
    msg.sample.add(location_id=[9] * 2500, value=[1])
    data = msg.SerializeToString()
    assert len(data) < 20_000
    with pytest.raises(ProfileTooLargeError):
        load(data)


@pytest.mark.parametrize("name", ["goroutine.pb.gz", "goroutineleak.pb.gz", "heap.pb.gz"])
def test_proto_all_at_once_and_sample_by_sample_agree(name: str) -> None:
    """flat.py's path (raw bytes given) and the sample-by-sample one give the same groups."""
    raw = gzip.decompress((ROOT / "tests" / "golden" / "profiles" / name).read_bytes())
    fast = proto.parse(proto.decode(raw), max_samples=1000, raw=raw)
    slow = proto.parse(proto.decode(raw), max_samples=1000)
    assert fast == slow
    assert [(g.frames, g.user_frames) for g in fast.groups] == [
        (g.frames, g.user_frames) for g in slow.groups
    ]


def test_proto_sample_without_locations_and_location_id_zero() -> None:
    empty = load(_proto([([], 2), ([1, 2, 3], 1)]).SerializeToString())
    assert [(g.signature, g.count, len(g.frames)) for g in empty.groups] == [
        ("running|", 2, 0),
        ("select|main.inner;main.outer", 1, 4),
    ]
    with pytest.raises(MalformedProfileError, match="unknown location 0"):
        load(_proto([([1, 0, 2], 1)]).SerializeToString())
