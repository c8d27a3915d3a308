"""Write the pasted-dump golden inputs: real Go dumps (source/), transformed the ways people's
copies arrive (issue threads, log pipelines). See README.md for what each file is.

    .venv/bin/python tests/golden/pasted/make_pasted.py              # source/ -> the cases
    .venv/bin/python tests/golden/pasted/make_pasted.py --regenerate # run the Go programs first

--regenerate runs tests/programs/profilegen (with GODEBUG=tracebackancestors=3, so its debug=2
dump has `[originating from goroutine N]:` sections) and tests/programs/scenarios
(transport-per-request, 1 s at -minute 100ms), and saves their debug=1 and debug=2 output.
Every transformation is deterministic: re-running without --regenerate gives the same files.
"""

from __future__ import annotations

import os
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
}


def main(argv: list[str]) -> int:
    if "--regenerate" in argv:
        regenerate()
    for name, (source, transform) in CASES.items():
        text = (SOURCE / source).read_text()
        (HERE / name).write_bytes(transform(text).encode())
        print(f"wrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
