"""`leakpatrol record --url URL DIR`: record a live pprof endpoint into a series directory.

The first sample must arrive (else one line and exit 4: a wrong URL, path or token shows at once);
after it a failed fetch is recorded as missing and the recording goes on. Progress goes to stderr,
a line per sample; the summary to stdout. Ctrl-C or SIGTERM ends the recording early: what it got
is kept (exit 0). `recording.json` keeps when it began and, if the target serves
`process_start_time_seconds` (Prometheus' Go client), when the process started: `analyze` counts
the warm-up from there.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import signal
import sys
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from leakpatrol.cli.args import duration, positive_int
from leakpatrol.cli.exits import CliError, Exit, emit
from leakpatrol.kube.errors import FetchError, PprofNotExposed, Unauthorized, Unreachable
from leakpatrol.profiles import ProfileError, load
from leakpatrol.record import (
    DEFAULT_PATH,
    RECORDING_JSON,
    Recording,
    SampleResult,
    fetch_final_goroutineleak,
    record_series,
)
from leakpatrol.seriesdir import is_series_file

_DEFAULT_COUNT = 120


def url(text: str) -> httpx.URL:
    """An http(s) URL with a host; its path, if any, is the pprof path (see --path)."""
    try:
        parsed = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise argparse.ArgumentTypeError(f"not a URL: {text!r} ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise argparse.ArgumentTypeError(
            f"not an http(s) URL with a host: {text!r} (e.g. http://127.0.0.1:6060)"
        )
    return parsed


def header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    if not colon or not name.strip() or " " in name.strip():
        raise argparse.ArgumentTypeError(
            f"expected 'Name: value', got {text.split(':', maxsplit=1)[0][:40]!r}…"
        )
    return name.strip(), value.strip()


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--url",
        required=True,
        type=url,
        help="the service, e.g. http://127.0.0.1:6060 (a path in it, e.g. …/debug/pprof, sets --path)",
    )
    p.add_argument("--path", help=f"where net/http/pprof is served (default: {DEFAULT_PATH})")
    p.add_argument(
        "--header",
        type=header,
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="an HTTP header on every request, e.g. 'Authorization: Bearer …' (repeatable)",
    )
    p.add_argument(
        "--bearer-token-file",
        type=Path,
        metavar="FILE",
        help="send 'Authorization: Bearer <the file's content>' (keeps the token out of ps)",
    )
    p.add_argument("--interval", type=duration, default="60s", help="time between samples, e.g. 5s, 1m")
    when = p.add_mutually_exclusive_group()
    when.add_argument(
        "--count", type=positive_int, help=f"samples to take (default: {_DEFAULT_COUNT}, or from --duration)"
    )
    when.add_argument(
        "--duration",
        type=duration,
        help="record this long instead, e.g. 15m (count = duration / interval + 1)",
    )
    p.add_argument("--timeout", type=duration, default="10s", help="per request")
    p.add_argument(
        "--wait-ready",
        type=duration,
        default="0s",
        help="retry the first sample this long while the target is not up",
    )
    p.add_argument("--text", action="store_true", help="record goroutines as debug=1 text instead of debug=0")
    p.add_argument("--no-heap", action="store_true", help="goroutine profiles only")
    p.add_argument(
        "--no-goroutineleak",
        action="store_true",
        help="do not fetch the goroutineleak profile (Go 1.26+) after the last sample",
    )
    p.add_argument(
        "--metrics-path",
        default="/metrics",
        help="where to read process_start_time_seconds for the warm-up: a path, or a URL when metrics "
        "are served on another port ('' to skip)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines (the summary is still printed)")
    p.add_argument("dir", help="a new or empty directory for the series")
    p.set_defaults(run=cmd_record)


def cmd_record(a: argparse.Namespace) -> int:
    dest = Path(a.dir)
    if dest.is_dir() and any(is_series_file(e.name) or e.name == RECORDING_JSON for e in dest.iterdir()):
        raise CliError(Exit.USAGE, f"{dest} already holds a recording: give a new or empty directory")
    if a.interval < 1:
        raise CliError(
            Exit.USAGE, f"--interval {a.interval:g}s: samples are stamped in whole seconds, use 1s or more"
        )
    headers = dict(a.header)
    if a.bearer_token_file is not None:
        try:
            token = a.bearer_token_file.read_text().strip()
        except OSError as exc:
            raise CliError(
                Exit.INPUT, f"--bearer-token-file {a.bearer_token_file}: {exc.strerror or exc}"
            ) from None
        headers["Authorization"] = f"Bearer {token}"
    target: httpx.URL = a.url
    if target.userinfo:  # user:password@ goes into a header, never into recording.json or a message
        credentials = f"{target.username}:{target.password}".encode()
        headers.setdefault("Authorization", "Basic " + base64.b64encode(credentials).decode())
    path = a.path or (target.path if target.path not in ("", "/") else DEFAULT_PATH)
    base = str(target.copy_with(userinfo=b"", path="/", query=None, fragment=None)).rstrip("/")
    count = a.count or (int(a.duration // a.interval) + 1 if a.duration else _DEFAULT_COUNT)
    progress = _Progress(count, quiet=a.quiet)
    kinds = ("goroutine",) if a.no_heap else ("goroutine", "heap")
    existed = dest.exists()
    try:
        recording = asyncio.run(_record(a, _Plan(base, path, headers, dest, count, kinds), progress))
    except CliError:
        if not existed and dest.is_dir() and not any(dest.iterdir()):
            dest.rmdir()  # nothing recorded: leave no empty directory behind
        raise
    if not recording.samples:
        raise CliError(
            Exit.INTERRUPTED, f"record: stopped before the first sample from {base}/{path.strip('/')}"
        )
    emit(_summary(recording, dest, progress))
    return int(Exit.OK)


@dataclass(frozen=True, slots=True)
class _Plan:
    base: str
    path: str
    headers: dict[str, str]
    dest: Path
    count: int
    kinds: tuple[str, ...]


async def _record(a: argparse.Namespace, plan: _Plan, progress: _Progress) -> Recording:
    base, path, headers, dest = plan.base, plan.path, plan.headers, plan.dest
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if not stop.is_set():
            print("\nstopping: what was recorded is kept", file=sys.stderr)
        stop.set()
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second one stops for good
            with suppress(NotImplementedError, ValueError):
                loop.remove_signal_handler(sig)

    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError, ValueError):  # not on Windows, not off the main thread
            loop.add_signal_handler(sig, on_signal)
    where = f"{base}/{path.strip('/')}"
    progress.start(where, dest, a.interval)
    try:
        recording = await record_series(
            base,
            dest,
            interval=a.interval,
            count=plan.count,
            kinds=plan.kinds,
            text=a.text,
            timeout=a.timeout,
            path=path,
            headers=headers,
            metrics_path=a.metrics_path or None,
            wait_ready=a.wait_ready,
            stop=stop,
            on_sample=progress.sample,
        )
    except FetchError as exc:
        raise CliError(Exit.TARGET, f"record: no first sample from {exc}{_hint(exc)}") from None
    if not a.no_goroutineleak and recording.samples:
        with suppress(FetchError):  # best effort: the series stands without it
            got = await fetch_final_goroutineleak(
                base, dest, timeout=max(a.timeout, 30.0), path=path, headers=headers
            )
            progress.goroutineleak = got is not None
    return recording


def _hint(exc: FetchError) -> str:
    if isinstance(exc, Unreachable):
        return " (is the service running and listening there? --wait-ready waits for it)"
    if isinstance(exc, Unauthorized):
        return " (give --header 'Authorization: …' or --bearer-token-file)"
    if isinstance(exc, PprofNotExposed):
        return " (--path sets where pprof is served)"
    return ""


class _Progress:
    """A line per sample on stderr: its stamp, the goroutines and heap it saw, or what is missing."""

    def __init__(self, count: int, *, quiet: bool) -> None:
        self.count = count
        self.quiet = quiet
        self.totals: list[int] = []
        self.began = time.monotonic()
        self.goroutineleak = False

    def start(self, where: str, dest: Path, interval: float) -> None:
        if not self.quiet:
            print(
                f"recording {where} into {dest}: {self.count} samples, one every {interval:g}s",
                file=sys.stderr,
            )

    def sample(self, s: SampleResult) -> None:
        parts = [f"[{s.index + 1:>{len(str(s.count))}}/{s.count}] {s.time}"]
        for kind, path in s.saved.items():
            parts.append(self._seen(kind, path))
        parts += [f"{m.kind} MISSING: {m.error}" for m in s.missing]
        if not self.quiet:
            print("  ".join(parts), file=sys.stderr, flush=True)

    def _seen(self, kind: str, path: Path) -> str:
        try:
            profile = load(path.read_bytes())
        except (OSError, ProfileError) as exc:
            return f"{kind} saved, unreadable: {exc}"
        if kind == "heap":
            return f"heap {profile.inuse_space / (1 << 20):.1f} MiB"
        self.totals.append(profile.total)
        return f"goroutines {profile.total}"


def _summary(r: Recording, dest: Path, progress: _Progress) -> str:
    took = time.monotonic() - progress.began
    how = "stopped early" if r.ended == "interrupted" else "done"
    lines = [f"{how}: {r.samples} of {r.planned} samples recorded into {dest} in {took:.0f}s"]
    if r.missing:
        stamps = sorted({m.time for m in r.missing})
        lines.append(
            f"  {len(r.missing)} profile(s) missing in {len(stamps)} sample(s), kept in {RECORDING_JSON}; "
            f"first: {r.missing[0].kind} at {r.missing[0].time}: {r.missing[0].error}"
        )
    if progress.totals:
        lines.append(f"  goroutines {progress.totals[0]} -> {progress.totals[-1]}")
    if r.process_start is not None:
        lines.append(
            f"  process start {r.process_start:.0f} (from {r.process_start_from}): warm-up counts from it"
        )
    else:
        lines.append("  process start unknown: analyze counts the warm-up from the first sample")
    if progress.goroutineleak:
        lines.append("  final.goroutineleak.txt: the runtime's own leak profile after the last sample")
    lines.append(f"next: leakpatrol analyze {dest}")
    return "\n".join(lines)
