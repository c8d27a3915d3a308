"""Write the pasted-dump golden inputs: real Go dumps (source/), transformed the ways people's
copies arrive (issue threads, log pipelines). See README.md for what each file is.

    .venv/bin/python tests/golden/pasted/make_pasted.py                     # source/ -> the cases
    .venv/bin/python tests/golden/pasted/make_pasted.py --regenerate        # run the Go programs first
    .venv/bin/python tests/golden/pasted/make_pasted.py --regenerate-pastes # only the issue-23 sources

--regenerate runs tests/programs/profilegen (with GODEBUG=tracebackancestors=3, so its debug=2
dump has `[originating from goroutine N]:` sections) and tests/programs/scenarios
(transport-per-request, 1 s at -minute 100ms), and saves their debug=1 and debug=2 output; then
what --regenerate-pastes does: tests/programs/pastes' SIGQUIT dump, its "all goroutines are asleep"
deadlock, its leaked signal.NotifyContext goroutines, and two debug=1 snapshots of a fresh
transport-per-request process, 1 s apart.
Every transformation is deterministic: re-running without --regenerate gives the same files.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "source"
sys.path.insert(0, str(HERE.parent.parent))  # tests/, for gobuild

# Sources: (file in source/, what made it)
PROFILEGEN_TEXT = "profilegen-debug1.txt"  # profilegen -out DIR: goroutine.txt
PROFILEGEN_DUMP = "profilegen-debug2-ancestors.txt"  # the same run's goroutine-dump.txt
SCENARIO_TEXT = "transport-per-request-debug1.txt"  # scenarios: /debug/pprof/goroutine?debug=1
SCENARIO_DUMP = "transport-per-request-debug2.txt"  # scenarios: /debug/pprof/goroutine?debug=2
SIGQUIT_DUMP = "pastes-sigquit.txt"  # pastes -mode sigquit: its stderr after SIGQUIT
DEADLOCK_DUMP = "pastes-deadlock-rows.txt"  # pastes -mode deadlock-rows: its stderr
NOTIFYCTX_DUMP = "pastes-notifyctx-debug2.txt"  # pastes -mode notifyctx -n 40: goroutine-dump.txt
SNAPSHOT_1S = "snapshot-1s-debug1.txt"  # scenarios transport-per-request, 1 s in: debug=1
SNAPSHOT_2S = "snapshot-2s-debug1.txt"  # the same process, 1 s later


def regenerate() -> None:
    import gobuild  # noqa: PLC0415 - only needed here

    SOURCE.mkdir(exist_ok=True)
    out = SOURCE / "profilegen"
    env = {**os.environ, "GODEBUG": "tracebackancestors=3"}
    subprocess.run([str(gobuild.build("profilegen")), "-out", str(out)], env=env, check=True, timeout=120)
    (SOURCE / PROFILEGEN_TEXT).write_bytes((out / "goroutine.txt").read_bytes())
    (SOURCE / PROFILEGEN_DUMP).write_bytes((out / "goroutine-dump.txt").read_bytes())
    for f in out.iterdir():
        f.unlink()
    out.rmdir()
    args = [str(gobuild.build("scenarios")), "-scenario", "transport-per-request", "-listen", "127.0.0.1:0"]
    proc = subprocess.Popen([*args, "-minute", "100ms"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        address = proc.stdout.readline().split()[-1]
        time.sleep(1)
        for debug, name in ((1, SCENARIO_TEXT), (2, SCENARIO_DUMP)):
            url = f"http://{address}/debug/pprof/goroutine?debug={debug}"
            with urllib.request.urlopen(url, timeout=30) as resp:
                (SOURCE / name).write_bytes(resp.read())
    finally:
        proc.kill()
        proc.wait()


def regenerate_pastes() -> None:
    import gobuild  # noqa: PLC0415 - only needed here

    SOURCE.mkdir(exist_ok=True)
    pastes = str(gobuild.build("pastes"))
    proc = subprocess.Popen([pastes, "-mode", "sigquit"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"ready"
    proc.send_signal(signal.SIGQUIT)
    _, err = proc.communicate(timeout=30)
    (SOURCE / SIGQUIT_DUMP).write_bytes(err)
    dead = subprocess.run([pastes, "-mode", "deadlock-rows"], capture_output=True, timeout=30, check=False)
    assert b"all goroutines are asleep" in dead.stderr, dead.stderr
    (SOURCE / DEADLOCK_DUMP).write_bytes(dead.stderr)
    out = SOURCE / "notifyctx"
    subprocess.run([pastes, "-mode", "notifyctx", "-n", "40", "-out", str(out)], check=True, timeout=60)
    (SOURCE / NOTIFYCTX_DUMP).write_bytes((out / "goroutine-dump.txt").read_bytes())
    for f in out.iterdir():
        f.unlink()
    out.rmdir()
    args = [str(gobuild.build("scenarios")), "-scenario", "transport-per-request", "-listen", "127.0.0.1:0"]
    proc = subprocess.Popen([*args, "-minute", "100ms"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        address = proc.stdout.readline().split()[-1]
        for name in (SNAPSHOT_1S, SNAPSHOT_2S):
            time.sleep(1)
            url = f"http://{address}/debug/pprof/goroutine?debug=1"
            with urllib.request.urlopen(url, timeout=30) as resp:
                (SOURCE / name).write_bytes(resp.read())
    finally:
        proc.kill()
        proc.wait()


def records(text: str) -> list[str]:
    """debug=1 records (or debug=2 goroutines) without the header, each ending in its newline."""
    body = text.split("\n", 1)[1] if text.startswith("goroutine profile:") else text
    return [r + "\n" for r in body.strip("\n").split("\n\n")]


def prefix_lines(text: str, prefix: Callable[[int], str]) -> str:
    return "".join(prefix(i) + line for i, line in enumerate(text.splitlines(keepends=True)))


def k8s_prefix(i: int) -> str:  # CRI log format, as `kubectl logs`-less node files show it
    return f"2026-11-30T07:59:{12 + i // 100:02d}.{i * 7919 % 1000000:06d}Z stderr F "


def syslog_prefix(i: int) -> str:  # rsyslog: day padded with a blank, pid in brackets
    return f"Nov  9 07:59:{12 + i // 100:02d} node-3 app[4242]: "


def journald_prefix(i: int) -> str:
    return f"Nov 30 07:59:{12 + i // 100:02d} node-3 app[4242]: "


def first_goroutines(text: str, n: int = 40) -> str:
    """What fits in an issue comment: the first n goroutines of a big dump."""
    return "\n".join(records(text)[:n])


def cut_frame(text: str) -> str:
    """The last frame of the first record loses its file:line (a cut selection), no final blank."""
    first, *rest = records(text)
    lines = first.rstrip("\n").split("\n")
    lines[-1] = lines[-1].rsplit("\t", 1)[0]
    return text.split("\n", 1)[0] + "\n" + "\n".join(lines) + "\n\n" + "\n".join(rest).rstrip("\n")


def cut_dump(text: str) -> str:
    """Three goroutines; in the second a function line lost its file line."""
    blocks = records(text)[:3]
    lines = blocks[1].split("\n")
    del lines[2]  # the file line of the first function
    blocks[1] = "\n".join(lines)
    return "\n".join(blocks)


def parked(text: str) -> list[str]:
    """The goroutines of a dump that wait (a leak checker's findings), not the one that wrote it."""
    return [r for r in records(text) if "[running]" not in r.split("\n", 1)[0]]


def single_record(indent: str) -> Callable[[str], str]:
    """One goroutine of a dump, its file lines indented with `indent` instead of a tab."""

    def make(text: str) -> str:
        return records(text)[1].replace("\n\t", "\n" + indent)

    return make


def test_log(indent: str) -> Callable[[str], str]:
    """The first 6 parked goroutines as a leak checker in a test reports them: `Found leaked goroutine:`
    and the test's log prefix on each header line, the rest indented (`indent`), between `go test`'s
    own lines."""

    def make(text: str) -> str:
        out = ["=== RUN   TestFetchPrices", "--- FAIL: TestFetchPrices (1.02s)"]
        for record in parked(text)[:6]:
            header, *rest = record.rstrip("\n").split("\n")
            out.append(f"    prices_test.go:27: Found leaked goroutine: {header}")
            out += [indent + line for line in rest]
        out += ["FAIL", "FAIL\texample.com/prices\t1.031s"]
        return "\n".join(out) + "\n"

    return make


def goleak_records(text: str, n: int = 6) -> str:
    """What goleak v1.3 (stacks.go, Stack.String) makes of the first n parked goroutines: each record as
    `Goroutine N in state S, with F on top of the stack:` and the stack without the runtime's
    header; the records printed as a Go slice, `[a b c]`."""
    items = []
    for record in parked(text)[:n]:
        header, body = record.split("\n", 1)
        number, _, state = header.removeprefix("goroutine ").partition(" [")
        state = state.rsplit("]", 1)[0]
        first = body.split("\n", 1)[0]
        function = first[: first.rfind("(")] if first.endswith(")") else first
        items.append(
            f"Goroutine {number.split()[0]} in state {state}, with {function} on top of the stack:\n{body}"
        )
    return "[" + "\n ".join(items) + "]"


def goleak_in_test(text: str) -> str:
    """goleak.VerifyNone(t) failing: t.Error's first line and the rest indented by 8 blanks."""
    lines = ("found unexpected goroutines:\n" + goleak_records(text)).split("\n")
    body = ["    prices_test.go:31: " + lines[0], *("        " + line for line in lines[1:])]
    return "\n".join(["--- FAIL: TestFetchPrices (0.45s)", *body, "FAIL"]) + "\n"


def goleak_in_main(text: str) -> str:
    """goleak.VerifyTestMain(m) failing after a successful run: what it prints on stderr."""
    return (
        "goleak: Errors on successful test run: found unexpected goroutines:\n" + goleak_records(text) + "\n"
    )


def two_snapshots(_: str) -> str:
    """Two fetches of debug=1, 1 s apart, pasted one after the other."""
    return (SOURCE / SNAPSHOT_1S).read_text() + (SOURCE / SNAPSHOT_2S).read_text()


def from_first_goroutine(text: str) -> str:
    """A SIGQUIT dump copied from its first goroutine header on, with what `go run` prints after it."""
    return text[text.index("goroutine ") :] + "exit status 2\n"


def wrapped(width: int, *, padded: bool = False) -> Callable[[str], str]:
    """As copied from a terminal `width` columns wide: every line longer than that cut into rows of
    `width` characters. `padded`: tabs shown as blanks (to the next multiple of 8) and every row
    filled with blanks to the full width, as a screen/tmux copy or a padded log viewer gives it."""

    def make(text: str) -> str:
        rows = []
        for raw in text.split("\n"):
            line = raw.expandtabs(8) if padded else raw
            cut = [line[i : i + width] for i in range(0, len(line), width)] or [""]
            rows += [r.ljust(width) if padded else r for r in cut]
        return "\n".join(rows)

    return make


def markdown_fences(text: str) -> str:
    """An issue comment: the dump in two fenced code blocks with words around and between them
    (debug=1: the header and first 5 records, then the rest; debug=2: the first 40 goroutines,
    split after the 20th)."""
    if text.startswith("goroutine profile:"):
        head, *rest = records(text)
        first, second = text.split("\n", 1)[0] + "\n" + "\n".join([head, *rest[:4]]), "\n".join(rest[4:])
    else:
        goroutines = first_goroutines(text).split("\n\n")
        first, second = "\n\n".join(goroutines[:20]), "\n\n".join(goroutines[20:])
    return (
        "The goroutine count keeps climbing, here is the dump:\n\n```\n" + first.rstrip("\n")
        + "\n```\n\nand the rest of it:\n\n```text\n" + second.rstrip("\n") + "\n```\n\nAny idea?\n"
    )  # fmt: skip


# name -> (source, transformation); the README explains each, tests/test_profiles_pasted.py
# states what each must parse to.
CASES: dict[str, tuple[str, Callable[[str], str]]] = {
    "d1-no-header.txt": (PROFILEGEN_TEXT, lambda t: "".join(r + "\n" for r in records(t))),
    "d1-no-trailing-blank.txt": (PROFILEGEN_TEXT, lambda t: t.rstrip("\n")),
    "d1-top-records.txt": (PROFILEGEN_TEXT, lambda t: t.split("\n", 1)[0] + "\n" + "\n".join(records(t)[:5])),
    "d1-tabs-to-spaces.txt": (PROFILEGEN_TEXT, lambda t: t.replace("\t", "    ")),
    "d1-hash-lost.txt": (PROFILEGEN_TEXT, lambda t: t.replace("\n#\t0x", "\n\t0x")),
    "d1-leading-blank-lines.txt": (PROFILEGEN_TEXT, lambda t: "\n\n\n" + t),
    "d1-crlf.txt": (PROFILEGEN_TEXT, lambda t: t.replace("\n", "\r\n")),
    "d1-k8s-log-prefix.txt": (PROFILEGEN_TEXT, lambda t: prefix_lines(t, k8s_prefix)),
    "d1-cut-frame.txt": (PROFILEGEN_TEXT, cut_frame),
    "d1-compose-prefix-top-records.txt": (
        SCENARIO_TEXT,
        lambda t: prefix_lines(t.split("\n", 1)[0] + "\n" + "\n".join(records(t)[:3]), lambda _: "app-1  | "),
    ),
    "d2-ancestors.txt": (PROFILEGEN_DUMP, lambda t: t),
    "d2-indented.txt": (PROFILEGEN_DUMP, lambda t: prefix_lines(t.replace("\t", "    "), lambda _: "    ")),
    "d2-single-indented.txt": (PROFILEGEN_DUMP, lambda t: prefix_lines(records(t)[1], lambda _: "  ")),
    "d2-syslog-011.txt": (PROFILEGEN_DUMP, lambda t: prefix_lines(t.replace("\t", "#011"), syslog_prefix)),
    "d2-journald.txt": (SCENARIO_DUMP, lambda t: prefix_lines(first_goroutines(t), journald_prefix)),
    "d2-no-blank-lines.txt": (PROFILEGEN_DUMP, lambda t: t.replace("\n\n", "\n")),
    "d2-markdown-quote.txt": (
        SCENARIO_DUMP,
        lambda t: prefix_lines(first_goroutines(t), lambda _: "> ").replace("> \n", ">\n"),
    ),
    "d2-cut-paste.txt": (PROFILEGEN_DUMP, cut_dump),
    # issue 23: shapes still refused or misread
    "d2-single-indented-4.txt": (PROFILEGEN_DUMP, single_record("    ")),
    "d2-single-indented-8.txt": (PROFILEGEN_DUMP, single_record("        ")),
    "d2-single-flat.txt": (PROFILEGEN_DUMP, single_record("")),
    "d2-test-log-2.txt": (SCENARIO_DUMP, test_log("  ")),
    "d2-test-log-4.txt": (SCENARIO_DUMP, test_log("    ")),
    "d2-goleak-test.txt": (SCENARIO_DUMP, goleak_in_test),
    "d2-goleak-main.txt": (SCENARIO_DUMP, goleak_in_main),
    "d1-no-blank-lines.txt": (PROFILEGEN_TEXT, lambda t: t.replace("\n\n", "\n").rstrip("\n") + "\n"),
    "d1-two-snapshots.txt": (SNAPSHOT_1S, two_snapshots),
    "d2-sigquit-exit-status.txt": (SIGQUIT_DUMP, lambda t: t + "exit status 2\n"),
    "d2-sigquit-from-first-goroutine.txt": (SIGQUIT_DUMP, from_first_goroutine),
    "d2-deadlock-rows.txt": (DEADLOCK_DUMP, lambda t: t),
    "d2-notifyctx.txt": (NOTIFYCTX_DUMP, lambda t: t),
    # long lines cut into rows by a terminal or a hard-wrapping editor
    "d1-wrapped-80.txt": (PROFILEGEN_TEXT, wrapped(80)),
    "d1-wrapped-120-padded.txt": (SCENARIO_TEXT, wrapped(120, padded=True)),
    "d2-wrapped-80.txt": (SCENARIO_DUMP, lambda t: wrapped(80)(first_goroutines(t))),
    "d2-wrapped-72-padded.txt": (PROFILEGEN_DUMP, wrapped(72, padded=True)),
    # a log viewer's lines (prefixed) cut by the terminal: the rows after the first lack the prefix
    "d1-k8s-log-prefix-wrapped-100.txt": (
        PROFILEGEN_TEXT,
        lambda t: wrapped(100)(prefix_lines(t, k8s_prefix)),
    ),
    "d1-markdown-fences.txt": (PROFILEGEN_TEXT, markdown_fences),
    "d2-markdown-fences.txt": (SCENARIO_DUMP, markdown_fences),
    "d2-journald-wrapped-110.txt": (
        SCENARIO_DUMP,
        lambda t: wrapped(110)(prefix_lines(first_goroutines(t), journald_prefix)),
    ),
}


def main(argv: list[str]) -> int:
    if "--regenerate" in argv:
        regenerate()
    if "--regenerate" in argv or "--regenerate-pastes" in argv:
        regenerate_pastes()
    for name, (source, transform) in CASES.items():
        text = (SOURCE / source).read_text()
        (HERE / name).write_bytes(transform(text).encode())
        print(f"wrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
