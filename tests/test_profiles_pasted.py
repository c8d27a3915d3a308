"""Golden pasted dumps (tests/golden/pasted, see its README): real dumps of our Go programs,
transformed the ways copies arrive, must parse to what the untouched dump says."""

from __future__ import annotations

from pathlib import Path

import pytest

from leakpatrol.profiles import Frame, Profile, ProfileError, ProfileFormat, WaitKind, load, load_all

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


# --- issue 23: pastes that were refused or misread ------------------------------------------------


def _make_pasted() -> object:
    """make_pasted.py's helpers (records, parked), to build what each case must equal."""
    import importlib.util  # noqa: PLC0415

    spec = importlib.util.spec_from_file_location("make_pasted", PASTED / "make_pasted.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKE = _make_pasted()


@pytest.mark.parametrize(
    "name", ["d2-single-indented-4.txt", "d2-single-indented-8.txt", "d2-single-flat.txt"]
)
def test_one_record_whose_file_lines_are_indented_with_spaces_or_not_at_all(name: str) -> None:
    """Once "ends inside its first goroutine record", though two such records were read."""
    p = parsed(name)
    (g,) = p.groups
    assert (p.format, p.total, g.count, g.wait_kind, p.warnings) == (DUMP, 1, 1, WaitKind.CHAN_SEND, ())
    assert g.signature == "chan send|main.blockSend;main.startAll.func1"
    assert [f.line for f in g.frames] == [121, 98]


def _first_parked(n: int = 6) -> Profile:
    text = (SOURCE / "transport-per-request-debug2.txt").read_text()
    return load("\n".join(MAKE.parked(text)[:n]).encode())  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["d2-test-log-2.txt", "d2-test-log-4.txt"])
def test_records_in_a_test_log(name: str) -> None:
    """`--- FAIL`, `Found leaked goroutine:` and a log prefix on each header, 2 or 4 blanks in."""
    p, want = parsed(name), _first_parked()
    assert (p.format, p.total, groups(p)) == (DUMP, 6, groups(want))
    assert p.warnings == (
        "2 line(s) before the first record ignored",
        "the first record's prefix 'prices_test.go:27: Found leaked goroutine:' stripped",
        "text before 5 goroutine header(s) cut (a log prefix)",
        "2 line(s) between or after the goroutine records left out: no part of a stack",
    )


@pytest.mark.parametrize("name", ["d2-goleak-test.txt", "d2-goleak-main.txt"])
def test_goleak_records_without_the_runtimes_header(name: str) -> None:
    """`[Goroutine N in state S, with F on top of the stack:` and the stack, in t.Error's
    indentation or as VerifyTestMain prints it."""
    p, want = parsed(name), _first_parked()
    assert (p.format, p.total, groups(p)) == (DUMP, 6, groups(want))
    assert [g.wait_kind for g in p.groups] == [g.wait_kind for g in want.groups]
    assert p.warnings[-1].endswith("left out: no part of a stack")  # goleak's closing `]`, `FAIL`


def test_debug1_records_not_separated_by_blank_lines() -> None:
    p, want = parsed("d1-no-blank-lines.txt"), source("profilegen-debug1.txt")
    assert (p.total, groups(p)) == (want.total, groups(want))
    assert p.warnings == ("16 record(s) not separated by a blank line, read apart",)


def test_two_snapshots_in_one_paste_are_both_read() -> None:
    data = (PASTED / "d1-two-snapshots.txt").read_bytes()
    first, last = load_all(data)
    assert groups(first) == groups(source("snapshot-1s-debug1.txt"))
    assert groups(last) == groups(source("snapshot-2s-debug1.txt"))
    assert last.warnings == (
        f"2 snapshots in this paste (totals {first.total}, {last.total}), each read: this is the last",
    )
    assert load(data).total == last.total > first.total


@pytest.mark.parametrize("name", ["d2-sigquit-exit-status.txt", "d2-sigquit-from-first-goroutine.txt"])
def test_a_whole_sigquit_dump_with_text_after_it_is_not_cut(name: str) -> None:
    """The register dump and `exit status 2` after the last goroutine: every goroutine is kept."""
    dump = (SOURCE / "pastes-sigquit.txt").read_text()
    p = parsed(name)
    assert p.total == dump.count("\ngoroutine ") == 27
    assert not p.truncated and not any("cut" in w for w in p.warnings)
    assert p.warnings[-1] == "22 line(s) " + (
        "after the last goroutine left out: no part of a stack"
        if "from-first" in name
        else "between or after the goroutine records left out: no part of a stack"
    )


def test_a_really_cut_dump_is_still_cut() -> None:
    dump = (SOURCE / "pastes-sigquit.txt").read_text()
    cut = dump[: dump.rindex("\ngoroutine ") + 60]  # inside the last goroutine's first frame
    p = load(cut.encode())
    assert p.total == 26 and p.warnings[-1] == "the dump was cut: its last, incomplete goroutine is left out"


def test_a_record_of_its_count_line_alone_has_no_frames() -> None:
    """`1 @ 0x490f41` (a goroutine caught at goexit), as in the 2 s snapshot: its frames are empty
    and say so (a worker's pickled result used to disagree with the parse)."""
    (g,) = [g for g in source("snapshot-2s-debug1.txt").groups if g.signature == "unknown|"]
    assert not g.frames and tuple(g.frames) == ()


# --- long lines cut into rows (a terminal's width, a hard-wrapping editor) -------------------------


def frames(p: Profile) -> dict[str, list[tuple[str, str, int]]]:
    return {g.signature: [(f.function, f.file, f.line) for f in g.frames] for g in p.groups}


def rows_joined(n: int) -> str:
    return f"{n} row(s) of lines wrapped at a terminal's width joined to the line above"


def cut_rows(text: str, width: int, *, padded: bool = False) -> int:
    """How many rows beyond the first each line takes at this width: what must be joined."""
    lines = (line.expandtabs(8) if padded else line for line in text.split("\n"))
    return sum(max(0, (len(line) - 1) // width) for line in lines)


@pytest.mark.parametrize(
    ("name", "origin", "width", "padded"),
    [
        ("d1-wrapped-80.txt", "profilegen-debug1.txt", 80, False),
        ("d1-wrapped-120-padded.txt", "transport-per-request-debug1.txt", 120, True),
        ("d2-wrapped-72-padded.txt", "profilegen-debug2-ancestors.txt", 72, True),
    ],
)
def test_a_wrapped_dump_reads_as_the_dump_it_was(name: str, origin: str, width: int, padded: bool) -> None:
    """Every frame's function, file and line back, not only the groups: a row joined wrongly
    (or not at all) changes a file name or a line number, or fails the parse."""
    p, want = parsed(name), source(origin)
    assert (p.format, p.total, groups(p)) == (want.format, want.total, groups(want))
    assert frames(p) == frames(want)
    joined = cut_rows((SOURCE / origin).read_text(), width, padded=padded)
    assert joined > 30 and p.warnings == (rows_joined(joined),)


def test_the_first_goroutines_of_a_dump_wrapped_at_80_columns() -> None:
    text = MAKE.first_goroutines((SOURCE / "transport-per-request-debug2.txt").read_text())  # type: ignore[attr-defined]
    p, want = parsed("d2-wrapped-80.txt"), load(text.encode())
    assert (p.total, groups(p), frames(p)) == (40, groups(want), frames(want))
    assert p.warnings == (rows_joined(cut_rows(text, 80)),)


# The shape of a dump pasted into m-lab/ndt-server#293: rows padded with blanks to the terminal's
# width, and one address list longer than it cut inside an address (0x55da0|d).
MLAB = (
    "goroutine profile: total 384" + " " * 120 + "\n"
    "328 @ 0x4379e0 0x43096a 0x42fed5 0x4c9825 0x4ca6bb 0x4ca69d 0x5a35df 0x5b5e1e 0x60be90 0x4f7311 "
    "0x60c0dc 0x60a695 0x60e7bb 0x60e7c6 0x6c5154 0x55ccf3 0x55da0\n"
    "d 0x55dc44 0x64a31c 0x6bf874 0x6bf8a3 0x6c6481 0x6ca984 0x467631" + " " * 90 + "\n"
    "#       0x42fed4        internal/poll.runtime_pollWait+0x54             "
    "/usr/local/go/src/runtime/netpoll.go:203" + " " * 40 + "\n"
    "#       0x4c9824        internal/poll.(*pollDesc).wait+0x44             "
    "/usr/local/go/src/internal/poll/fd_poll_runtime.go:87" + " " * 30 + "\n"
    "#       0x6c5153        net/http.(*conn).serve+0x53     /usr/local/go/src/net/http/server.go:1925\n"
    "\n"
    "56 @ 0x4379e0 0x4c9825\n"
    "#       0x4c9824        main.(*tick).loop+0x44          /src/tick.go:87\n"
)


def test_an_address_list_cut_inside_an_address_and_padded_rows() -> None:
    p = load(MLAB.encode())
    assert (p.format, p.total, [g.count for g in p.groups]) == (TEXT, 384, [328, 56])
    serve = Frame("net/http.(*conn).serve", "/usr/local/go/src/net/http/server.go", 1925)
    assert p.groups[0].frames[-1] == serve
    assert p.warnings == (rows_joined(1),)


@pytest.mark.parametrize(
    ("rows", "pcs"),
    [
        (["7 @ 0x1a 0x2b", "c 0x3d"], "0x1a 0x2bc 0x3d"),  # cut inside an address
        (["7 @ 0x1a 0x2b", "0x3d 0x4e"], "0x1a 0x2b 0x3d 0x4e"),  # cut at the blank, which was lost
        (["7 @ 0x1a 0x2b ", "0x3d"], "0x1a 0x2b 0x3d"),  # the blank kept at the row's end
    ],
)
def test_a_cut_address_list_is_joined_with_a_blank_only_where_one_was(rows: list[str], pcs: str) -> None:
    from leakpatrol.profiles import unwrap  # noqa: PLC0415

    lines, joined = unwrap.text_rows([*rows, "#\t0x1a\tmain.f+0x1\t/src/main.go:3", ""])
    assert (lines[0], joined) == (f"7 @ {pcs}", 1)


def test_a_header_cut_inside_its_state_keeps_its_minutes() -> None:
    text = "goroutine 7 [chan receive, 5\n minutes]:\nmain.f(0x1\n, 0x2)\n\t/src/main.go:3 +0x\n1d\n"
    p = load(text.encode())
    (g,) = p.groups
    assert (g.wait_kind, g.frames, p.warnings) == (
        WaitKind.CHAN_RECEIVE,
        (Frame("main.f", "/src/main.go", 3),),
        (rows_joined(3),),
    )
    assert g.wait_minutes == (5,)


def test_a_row_that_continues_nothing_is_left_for_the_parser_to_refuse() -> None:
    """Garbage in a record is not glued to the line above: the error names its own line."""
    with pytest.raises(ProfileError, match="line 3"):
        load(b"goroutine profile: total 1\n1 @ 0x1\nnot a frame at all\n#\t0x1\tmain.f+0x1\t/m.go:3\n")


def test_prefixed_log_lines_cut_by_a_terminal() -> None:
    """A log viewer's lines cut into rows: only the first row of each carries the prefix. Every
    row without it follows a row as long as the terminal is wide, so the prefix is still every
    line's, and the rows are joined back."""
    p, want = parsed("d1-k8s-log-prefix-wrapped-100.txt"), source("profilegen-debug1.txt")
    assert (p.total, groups(p), frames(p)) == (want.total, groups(want), frames(want))
    prefixed = MAKE.prefix_lines(  # type: ignore[attr-defined]
        (SOURCE / "profilegen-debug1.txt").read_text(),
        MAKE.k8s_prefix,  # type: ignore[attr-defined]
    )
    assert p.warnings == (
        "a line prefix like '2026-11-30T07:59:12.000000Z stderr F' stripped from every line that carries it",
        rows_joined(cut_rows(prefixed, 100)),
    )
    text = MAKE.first_goroutines((SOURCE / "transport-per-request-debug2.txt").read_text())  # type: ignore[attr-defined]
    p, want = parsed("d2-journald-wrapped-110.txt"), load(text.encode())
    assert (p.total, groups(p), frames(p)) == (40, groups(want), frames(want))


def test_a_prefix_on_the_first_line_only_is_not_taken_for_wrapped_rows() -> None:
    """Lines without the prefix after lines of many lengths are a log message's other lines."""
    p = parsed("d2-test-log-2.txt")
    assert "the first record's prefix 'prices_test.go:27: Found leaked goroutine:' stripped" in p.warnings


def test_a_dump_in_markdown_fences_with_words_between() -> None:
    """An issue comment: two fenced blocks, words before, between and after them."""
    p, want = parsed("d1-markdown-fences.txt"), source("profilegen-debug1.txt")
    assert (p.total, groups(p), frames(p)) == (want.total, groups(want), frames(want))
    assert p.warnings == (
        "3 line(s) before the first record ignored",
        "5 line(s) between the records left out: no part of a profile",
    )
    text = MAKE.first_goroutines((SOURCE / "transport-per-request-debug2.txt").read_text())  # type: ignore[attr-defined]
    p, want = parsed("d2-markdown-fences.txt"), load(text.encode())
    assert (p.total, groups(p), frames(p)) == (40, groups(want), frames(want))


def test_a_damaged_count_line_is_refused_not_taken_for_words() -> None:
    text = (SOURCE / "profilegen-debug1.txt").read_text().replace("\n8 @ ", "\n8 x ", 1)
    with pytest.raises(ProfileError, match=r"line 6: expected 'COUNT @ PC"):
        load(text.encode())


def test_zero_width_characters_from_a_chat_copy() -> None:
    text = (SOURCE / "profilegen-debug1.txt").read_text()
    p, want = (
        load(text.replace("\n", "\u200b\n").replace("main.", "main.\u2060").encode()),
        source("profilegen-debug1.txt"),
    )
    assert (p.total, groups(p), frames(p)) == (want.total, groups(want), frames(want))
    assert p.warnings == (f"{text.count(chr(10)) + text.count('main.')} zero-width character(s) removed",)


def test_a_labels_line_cut_into_rows_keeps_its_labels() -> None:
    labels = '{"path":"/api/v1/orders/with/a/long/route/name","tenant":"acme"}'
    text = (
        f"goroutine profile: total 3\n3 @ 0x1 0x2\n# labels: {labels}\n#\t0x1\tmain.f+0x1\t/src/main.go:3\n"
    )
    rows = "\n".join(line[i : i + 40] for line in text.split("\n") for i in range(0, max(len(line), 1), 40))
    (g,) = load(rows.encode()).groups
    assert (g.count, g.labels) == (3, {"path": "/api/v1/orders/with/a/long/route/name", "tenant": "acme"})


def test_a_call_whose_file_line_was_lost_is_not_joined_to_the_next_call() -> None:
    """Through the cleaner (a quote prefix): `main.blockSend(...)` then `main.startAll.func1()`
    are two frames, not one call cut in two."""
    quoted = "\n".join("> " + line for line in (PASTED / "d2-cut-paste.txt").read_text().split("\n"))
    p = load(quoted.encode())
    send = next(g for g in p.groups if "main.blockSend" in g.signature)
    assert [f.function for f in send.frames] == ["main.blockSend", "main.startAll.func1"]
    assert not any("wrapped" in w for w in p.warnings)
