"""`go tool pprof -traces` output, as people paste it: made by the real pprof (the Go wheel's) from
real profiles of our Go programs, it must read as the profile itself does."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path

import pytest

import gobuild
from leakpatrol.profiles import (
    MalformedProfileError,
    NotAProfileError,
    Profile,
    ProfileFormat,
    ProfileKind,
    WaitKind,
    load,
)

TESTS = Path(__file__).parent
GOLDEN = TESTS / "golden" / "profiles"
PROFILES = [
    GOLDEN / "goroutine.pb.gz",  # profilegen: 17 groups, one with pprof labels
    GOLDEN / "goroutineleak.pb.gz",  # Go 1.26's goroutineleak profile
    TESTS / "corpus-lib" / "sql-rows-not-closed" / "1800007140.goroutine.pb.gz",  # 4,221 goroutines
    TESTS / "corpus-lib" / "grpc-client-stream-open" / "1800007140.goroutine.pb.gz",
    TESTS / "corpus" / "transport-per-request" / "1800007140.goroutine.pb.gz",
]
NOTE = "read from `go tool pprof -traces` output: function names only, no files or lines"


@cache
def pprof(*args: str) -> str:
    go, env = gobuild.go_binary(), gobuild.go_env()
    done = subprocess.run(
        [str(go), "tool", "pprof", *args], env=env, capture_output=True, text=True, timeout=300, check=True
    )
    return done.stdout


def groups(p: Profile) -> dict[tuple[WaitKind, str, tuple[tuple[str, str], ...]], int]:
    """Stacks with their wait kind and labels → goroutines. A goroutine that no runtime frame
    proves parked reads as running from the profile but unknown from text (debug=1 does not guess);
    stacks with no frame at all are dropped by pprof's report."""
    out: dict[tuple[WaitKind, str, tuple[tuple[str, str], ...]], int] = {}
    for g in p.groups:
        functions = g.signature.partition("|")[2]
        if functions:
            kind = WaitKind.UNKNOWN if g.wait_kind is WaitKind.RUNNING else g.wait_kind
            key = (kind, functions, tuple(sorted(g.labels.items())))
            out[key] = out.get(key, 0) + g.count
    return out


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_traces_read_as_the_profile_they_were_made_from(path: Path) -> None:
    want, got = load(path.read_bytes()), load(pprof("-traces", str(path)).encode())
    assert (got.kind, got.format, got.warnings) == (want.kind, ProfileFormat.TEXT, (NOTE,))
    assert groups(got) == groups(want) and len(groups(want)) >= 3
    assert got.total == sum(groups(want).values()) > 0


def test_labels_and_wait_kinds_come_through() -> None:
    got = load(pprof("-traces", str(PROFILES[0])).encode())
    (labeled,) = [g for g in got.groups if g.labels]
    assert (labeled.labels, labeled.wait_kind) == ({"worker": "recv"}, WaitKind.CHAN_RECEIVE)
    assert labeled.user_frames[0].function == "main.blockRecv" and labeled.user_frames[0].file == ""


def shapes(text: str) -> dict[str, str]:
    body = text[text.index("-----------+") :]
    return {
        "crlf": text.replace("\n", "\r\n"),
        "no preamble": body,  # only the blocks were copied: no `Type:` line
        "interactive": "(pprof) traces\n" + text + "(pprof) \n",
        "last separator lost": text.rstrip("\n").rpartition("\n")[0] + "\n",
        "indented": "".join("    " + line + "\n" for line in text.splitlines()),
    }


@pytest.mark.parametrize("shape", ["crlf", "no preamble", "interactive", "last separator lost", "indented"])
def test_pasted_shapes_of_traces(shape: str) -> None:
    text = pprof("-traces", str(PROFILES[0]))
    want = load(text.encode())
    got = load(shapes(text)[shape].encode())
    assert (got.kind, got.total, groups(got)) == (ProfileKind.GOROUTINE, want.total, groups(want))


def test_a_heap_profiles_traces_are_refused_by_type() -> None:
    with pytest.raises(NotAProfileError, match=r"'inuse_space' profile.*profile\.proto"):
        load(pprof("-traces", str(GOLDEN / "heap.pb.gz")).encode())


def test_top_output_is_refused_with_what_to_give_instead() -> None:
    with pytest.raises(NotAProfileError, match=r"`go tool pprof -top` output holds no stacks.*-traces"):
        load(pprof("-top", str(PROFILES[0])).encode())


def test_a_block_that_is_no_stack_names_its_line() -> None:
    text = pprof("-traces", str(PROFILES[0]))
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("-----------+")) + 1
    lines[at] = "not a frame"
    with pytest.raises(MalformedProfileError, match=f"line {at + 1}"):
        load("\n".join(lines).encode())


@pytest.mark.parametrize("tables", [1, 2])
def test_psql_tables_beside_a_pasted_dump_are_not_taken_for_traces(tables: int) -> None:
    """psql draws `-----------+------…` too: with no block of pprof's under it (one table before
    the dump) or a block that is none (the dump between two tables), the dump is read."""
    table = " id | state\n-----------+---------------------\n 1 | idle\n(1 row)\n\n"
    dump = (TESTS / "golden" / "pasted" / "source" / "profilegen-debug1.txt").read_text()
    got, want = load((table + dump + table * (tables - 1)).encode()), load(dump.encode())
    assert (got.total, groups(got)) == (want.total, groups(want))
