"""Golden pasted dumps (tests/golden/pasted, see its README): real dumps of our Go programs,
transformed the ways copies arrive, must parse to what the untouched dump says."""

from __future__ import annotations

from pathlib import Path

import pytest

from leakpatrol.profiles import Frame, Profile, ProfileError, ProfileFormat, WaitKind, load

PASTED = Path(__file__).parent / "golden" / "pasted"
SOURCE = PASTED / "source"
TEXT, DUMP = ProfileFormat.TEXT, ProfileFormat.DUMP
NO_HEADER = "no 'goroutine profile: total N' header: the total is the sum of the records"


def parsed(name: str) -> Profile:
    return load((PASTED / name).read_bytes())


def source(name: str) -> Profile:
    return load((SOURCE / name).read_bytes())


def groups(p: Profile) -> dict[str, int]:
    return {g.signature: g.count for g in p.groups}


# A whole dump in a changed shape: the same groups and counts as the source, these warnings.
WHOLE = {
    "d1-no-header.txt": ("profilegen-debug1.txt", (NO_HEADER,)),
    "d1-no-trailing-blank.txt": ("profilegen-debug1.txt", ()),
    "d1-tabs-to-spaces.txt": ("profilegen-debug1.txt", ()),
    "d1-hash-lost.txt": ("profilegen-debug1.txt", ()),
    "d1-leading-blank-lines.txt": ("profilegen-debug1.txt", ()),
    "d1-crlf.txt": ("profilegen-debug1.txt", ()),
    "d1-k8s-log-prefix.txt": (
        "profilegen-debug1.txt",
        ("a line prefix like '2026-11-30T07:59:12.000000Z stderr F' stripped from every line",),
    ),
    "d2-ancestors.txt": ("profilegen-debug2-ancestors.txt", ()),
    "d2-indented.txt": ("profilegen-debug2-ancestors.txt", ()),
    "d2-no-blank-lines.txt": ("profilegen-debug2-ancestors.txt", ()),
    "d2-syslog-011.txt": (
        "profilegen-debug2-ancestors.txt",
        (
            "'#011' escapes read as tabs",
            "a line prefix like 'Nov  9 07:59:12 node-3 app[4242]:' stripped from every line",
        ),
    ),
}


@pytest.mark.parametrize("name", WHOLE)
def test_whole_dump_in_another_shape(name: str) -> None:
    origin, warnings = WHOLE[name]
    p, want = parsed(name), source(origin)
    assert (p.format, p.kind, p.total) == (want.format, want.kind, want.total)
    assert groups(p) == groups(want)
    assert p.warnings == warnings
    assert [g.user_frames for g in p.groups] == [g.user_frames for g in want.groups]


def test_top_records_keep_the_header_total_with_a_warning() -> None:
    p, whole = parsed("d1-top-records.txt"), source("profilegen-debug1.txt")
    assert (p.total, sum(g.count for g in p.groups), len(p.groups)) == (61, 35, 5)
    assert p.warnings == ("the records hold 35 of the header's 61 goroutines: the rest were cut off",)
    assert groups(p).items() <= groups(whole).items()


def test_log_prefix_and_top_records_of_a_leaking_service() -> None:
    p, whole = parsed("d1-compose-prefix-top-records.txt"), source("transport-per-request-debug1.txt")
    kept = sum(g.count for g in p.groups)
    assert p.total == whole.total > kept == sum(g.count for g in whole.groups[:3])
    assert p.warnings == (
        "a line prefix like 'app-1  |' stripped from every line",
        f"the records hold {kept} of the header's {whole.total} goroutines: the rest were cut off",
    )
    assert groups(p).items() <= groups(whole).items()
    readloop = next(g for g in p.groups if "(*persistConn).readLoop" in g.signature)
    assert readloop.wait_kind is WaitKind.IO_WAIT  # the netpoll hook survives in debug=1


def test_debug1_never_guesses_a_channel_wait() -> None:
    writeloop = next(g for g in parsed("d1-hash-lost.txt").groups if g.signature.endswith("writeLoop"))
    assert writeloop.wait_kind is WaitKind.UNKNOWN  # a select, but debug=1 cannot tell


def test_frame_cut_after_its_function() -> None:
    p, whole = parsed("d1-cut-frame.txt"), source("profilegen-debug1.txt")
    assert (p.total, groups(p), p.warnings) == (61, groups(whole), ())
    cut = p.groups[0].frames[-1]
    assert cut.file == "" and cut.line == 0 and cut.function == whole.groups[0].frames[-1].function


@pytest.mark.parametrize(
    ("name", "warning"),
    [
        (
            "d2-journald.txt",
            "a line prefix like 'Nov 30 07:59:12 node-3 app[4242]:' stripped from every line",
        ),
        ("d2-markdown-quote.txt", "a line prefix like '>' stripped from every line"),
    ],
)
def test_first_goroutines_of_a_big_dump_with_a_prefix(name: str, warning: str) -> None:
    p, whole = parsed(name), source("transport-per-request-debug2.txt")
    assert (p.format, p.total, p.warnings) == (DUMP, 40, (warning,))
    assert all(g.signature in groups(whole) for g in p.groups)


def test_single_indented_goroutine_is_counted() -> None:
    """The worst case before: one indented debug=2 goroutine parsed as 'total 0 goroutines'."""
    p = parsed("d2-single-indented.txt")
    (g,) = p.groups
    assert (p.format, p.total, g.count, g.wait_kind) == (DUMP, 1, 1, WaitKind.CHAN_SEND)
    assert g.signature == "chan send|main.blockSend;main.startAll.func1"


def test_ancestor_sections_are_creation_context() -> None:
    """GODEBUG=tracebackancestors=3: `[originating from goroutine 1]:` after `created by`."""
    p = parsed("d2-ancestors.txt")
    send = next(g for g in p.groups if g.signature.startswith("chan send|main.blockSend"))
    assert send.created_by == "main.spawn"
    assert [f.function for f in send.ancestors] == ["main.spawn", "main.startAll", "main.main"]
    assert all("main.spawn" not in f.function for f in send.frames)  # not part of its own stack


def test_cut_paste_function_without_file_line() -> None:
    p = parsed("d2-cut-paste.txt")
    assert p.total == 3
    send = next(g for g in p.groups if "main.blockSend" in g.signature)
    assert send.frames[0] == Frame("main.blockSend")


@pytest.mark.parametrize("name", sorted(p.name for p in PASTED.glob("*.txt")))
def test_no_pasted_dump_reads_as_zero_goroutines(name: str) -> None:
    try:
        p = parsed(name)
    except ProfileError:
        return
    assert p.total > 0 and p.groups


@pytest.mark.parametrize(
    "data",
    [
        b"  goroutine 7 [chan send]:\n  main.f(",  # cut inside the only goroutine
        b"\n\n   goroutine 1 [running]",
    ],
)
def test_records_that_cannot_be_counted_fail_clearly(data: bytes) -> None:
    with pytest.raises(ProfileError):
        load(data)
