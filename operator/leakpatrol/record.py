"""Record pprof profiles from a live Go target into files, one per sample and kind.

The recorded series is what the CLI reads and what tests/corpus holds. Every sample is one
`<stamp>.<kind>.<ext>` file in the destination directory:

    <stamp>.goroutine.pb.gz     <path>/goroutine?debug=0 (gzipped profile.proto)
    <stamp>.goroutine.txt       <path>/goroutine?debug=1 (with text=True, instead of the above)
    <stamp>.heap.pb.gz          <path>/heap?debug=0 (post-GC inuse and alloc)
    final.goroutineleak.txt     <path>/goroutineleak?debug=1, once (fetch_final_goroutineleak)
    recording.json              when it began, the process start if the target said it, what is missing

`<path>` is `/debug/pprof` unless told otherwise. `<stamp>` is unix seconds: the wall clock, or
`stamp_start + i * stamp_step` for a time-dilated target (one second of real time standing for one
minute of program time).

The first sample must arrive whole (else the error is raised: a wrong URL, path or token would
otherwise cost a whole recording of nothing); after it, a fetch that fails is recorded as missing
in `recording.json` and the recording goes on. Responses are streamed with a byte cap, so a
misbehaving target cannot make us buffer without bound; a file appears only once it is complete
(written aside, then renamed).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from leakpatrol import __version__
from leakpatrol.core import Temporary
from leakpatrol.kube.errors import FetchError, PprofNotExposed
from leakpatrol.kube.fetch import fetch_profile

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_PATH",
    "RECORDING_JSON",
    "Missing",
    "Recording",
    "SampleResult",
    "fetch_final_goroutineleak",
    "read_process_start",
    "record_series",
    "sample_filename",
    "save_profile",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 64 << 20  # debug=1 of 4k distinct stacks is ~4.5 MB; 64 MiB is far beyond sane
DEFAULT_PATH = "/debug/pprof"
RECORDABLE_KINDS = frozenset({"goroutine", "heap"})
FINAL_GOROUTINELEAK = "final.goroutineleak.txt"
RECORDING_JSON = "recording.json"
# client_golang's process collector: the process's start, unix seconds (a float).
PROCESS_START_METRIC = "process_start_time_seconds"
_METRICS_MAX_BYTES = 4 << 20
T = TypeVar("T")


def sample_filename(stamp: int, kind: str, *, text: bool = False) -> str:
    """The file name of one sample: `<stamp>.<kind>.pb.gz`, or `<stamp>.goroutine.txt` for text."""
    if text and kind == "goroutine":
        return f"{stamp}.goroutine.txt"
    return f"{stamp}.{kind}.pb.gz"


@dataclass(frozen=True, slots=True)
class Missing:
    """One profile of one sample that did not arrive, and why."""

    time: int
    kind: str
    error: str

    def to_json(self) -> dict[str, Any]:
        return {"time": self.time, "kind": self.kind, "error": self.error}


@dataclass(frozen=True, slots=True)
class SampleResult:
    """What one sample got: the files saved and the profiles missing (progress reports this)."""

    index: int
    count: int
    time: int
    saved: Mapping[str, Path]
    missing: tuple[Missing, ...]


@dataclass(slots=True)
class Recording:
    """A recording as `recording.json` keeps it. `process_start` is the target's own word (its
    `process_start_time_seconds` metric) or None; `recording_start` is the first sample's stamp."""

    url: str
    interval_seconds: float
    recording_start: float | None = None
    process_start: float | None = None
    process_start_from: str | None = None
    planned: int = 0
    samples: int = 0  # samples with at least one profile saved
    missing: list[Missing] = field(default_factory=list)
    ended: str = "recording"  # "complete" | "interrupted" once it is over

    def to_json(self) -> dict[str, Any]:
        return {
            "recorded_by": f"leakpatrol {__version__}",
            "url": self.url,
            "interval_seconds": self.interval_seconds,
            "recording_start": self.recording_start,
            "process_start": self.process_start,
            "process_start_from": self.process_start_from,
            "planned": self.planned,
            "samples": self.samples,
            "missing": [m.to_json() for m in self.missing],
            "ended": self.ended,
        }

    def write(self, dest: Path) -> None:
        _write_atomically(dest / RECORDING_JSON, (json.dumps(self.to_json(), indent=2) + "\n").encode())


async def save_profile(
    client: httpx.AsyncClient,
    url: str,
    path: Path,
    *,
    params: dict[str, str | int] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> int:
    """GET `url` into `path` with the operator's own capped fetch. Returns the size written.

    Raises leakpatrol.kube.errors.FetchError subclasses (TooLarge past `max_bytes`,
    PprofNotExposed on a 404, ...). On any error no file is left behind.
    """
    full = str(httpx.URL(url, params=params or {}))
    data = await fetch_profile(client, full, max_bytes=max_bytes, timeout=client.timeout)
    await asyncio.to_thread(_write_atomically, path, data)
    return len(data)


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.part")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _profile_request(base_url: str, path: str, kind: str, text: bool) -> tuple[str, dict[str, str | int]]:
    debug = 1 if text and kind == "goroutine" else 0
    return f"{base_url.rstrip('/')}/{path.strip('/')}/{kind}", {"debug": debug}


async def read_process_start(client: httpx.AsyncClient, url: str) -> float | None:
    """`process_start_time_seconds` from a Prometheus text exposition at `url`, or None when the
    target serves no such metric (no answer, another status, no such line)."""
    try:
        body = await fetch_profile(client, url, max_bytes=_METRICS_MAX_BYTES, timeout=client.timeout)
    except FetchError:
        return None
    for line in body.decode("utf-8", "replace").splitlines():
        name, _, value = line.partition(" ")
        if name == PROCESS_START_METRIC:
            with suppress(ValueError):
                start = float(value.split()[0])
                return start if start > 0 else None
    return None


async def record_series(
    base_url: str,
    dest: Path,
    *,
    interval: float,
    count: int,
    kinds: Sequence[str] = ("goroutine", "heap"),
    text: bool = False,
    stamp_start: int | None = None,
    stamp_step: int | None = None,
    timeout: float = 10.0,  # noqa: ASYNC109 - per HTTP request (httpx), not for the whole series
    max_bytes: int = DEFAULT_MAX_BYTES,
    client: httpx.AsyncClient | None = None,
    path: str = DEFAULT_PATH,
    headers: Mapping[str, str] | None = None,
    metrics_path: str | None = None,
    wait_ready: float = 0.0,
    stop: asyncio.Event | None = None,
    on_sample: Callable[[SampleResult], None] | None = None,
) -> Recording:
    """Take `count` samples of each kind, one every `interval` seconds, into `dest`.

    Samples are scheduled on a fixed grid (no drift); a slow fetch delays the next one rather
    than overlapping it. With `stamp_start`/`stamp_step` sample i is stamped
    `stamp_start + i * stamp_step`; otherwise with the wall clock's unix seconds, which then
    needs `interval >= 1` so names don't collide.

    The first sample must arrive whole: its first error is raised, after retrying a `Temporary`
    one (refused, timeout, 5xx) for up to `wait_ready` seconds. Later failures are recorded as
    missing and the recording goes on. `stop` ends it early (what was taken is kept);
    `on_sample` hears of every sample. `metrics_path` (e.g. "/metrics", or a whole URL when the
    metrics are served on another port): where to read the
    process's start. `recording.json` is written when the first sample is in and at the end.
    """
    unknown = set(kinds) - RECORDABLE_KINDS
    if unknown or not kinds:
        raise ValueError(f"kinds must be a non-empty subset of {sorted(RECORDABLE_KINDS)}: {list(kinds)}")
    if (stamp_start is None) != (stamp_step is None):
        raise ValueError("stamp_start and stamp_step go together")
    if stamp_step is None and interval < 1:
        raise ValueError("wall-clock stamps are whole seconds: use interval >= 1 or stamp_start/stamp_step")
    await asyncio.to_thread(dest.mkdir, parents=True, exist_ok=True)
    stop = stop or asyncio.Event()
    recording = Recording(
        url=f"{base_url.rstrip('/')}/{path.strip('/')}", interval_seconds=interval, planned=count
    )
    async with _open_client(client, timeout, headers) as http:
        if metrics_path and stamp_start is None:  # a dilated clock's stamps would not match it
            metrics_url = (
                metrics_path
                if metrics_path.startswith(("http://", "https://"))
                else f"{base_url.rstrip('/')}/{metrics_path.strip('/')}"
            )
            recording.process_start = await read_process_start(http, metrics_url)
            recording.process_start_from = metrics_url if recording.process_start is not None else None
        loop = asyncio.get_running_loop()
        start = loop.time()
        clock = _Stamps(stamp_start, stamp_step)
        for i in range(count):
            if not await _wait_until(stop, start + i * interval, loop):
                break
            fetch = _Sample(http, base_url, path, dest, clock.next(i), text, max_bytes)
            missing: list[Missing] = []
            if i == 0:
                saved = await fetch.first(kinds, wait_ready, interval, stop, lambda: clock.next(0))
                if saved is None:  # stopped while waiting for the target
                    break
                start = loop.time()  # the grid starts when the target first answered
                recording.recording_start = float(fetch.stamp)
            else:
                got = await _unless_stopped(fetch.each(kinds), stop)
                if got is None:  # stopped while fetching: that sample is not taken
                    break
                saved, failed = got
                missing = [Missing(fetch.stamp, kind, str(error)) for kind, error in failed]
            recording.samples += bool(saved)
            recording.missing += missing
            if i == 0:
                await asyncio.to_thread(recording.write, dest)
            if on_sample is not None:
                on_sample(SampleResult(i, count, fetch.stamp, saved, tuple(missing)))
    recording.ended = "interrupted" if stop.is_set() else "complete"
    if recording.recording_start is not None:
        await asyncio.to_thread(recording.write, dest)
    return recording


class _Stamps:
    """Sample i's stamp: `start + i * step` on a dilated clock, else the wall clock's unix
    seconds, never the same twice."""

    def __init__(self, start: int | None, step: int | None) -> None:
        self.start, self.step = start, step
        self.last: int | None = None

    def next(self, i: int) -> int:
        if self.start is not None and self.step is not None:
            return self.start + i * self.step
        stamp = int(time.time())
        if self.last is not None and stamp <= self.last:
            stamp = self.last + 1
        self.last = stamp
        return stamp


async def _unless_stopped(work: Coroutine[Any, Any, T], stop: asyncio.Event) -> T | None:
    """`work`'s result, or None (it cancelled) if `stop` is set first."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task
    return None


async def _wait_until(stop: asyncio.Event, when: float, loop: asyncio.AbstractEventLoop) -> bool:
    """Sleep until loop time `when`; False if `stop` was set first."""
    delay = when - loop.time()
    if delay > 0:
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
    return not stop.is_set()


@dataclass(slots=True)
class _Sample:
    """The fetches of one sample, one per kind, run together."""

    http: httpx.AsyncClient
    base_url: str
    path: str
    dest: Path
    stamp: int
    text: bool
    max_bytes: int

    async def one(self, kind: str) -> Path:
        url, params = _profile_request(self.base_url, self.path, kind, self.text)
        target = self.dest / sample_filename(self.stamp, kind, text=self.text)
        await save_profile(self.http, url, target, params=params, max_bytes=self.max_bytes)
        return target

    async def each(self, kinds: Sequence[str]) -> tuple[dict[str, Path], list[tuple[str, FetchError]]]:
        """Every kind independently: what failed is missing, the rest is kept."""
        results = await asyncio.gather(*(self.one(k) for k in kinds), return_exceptions=True)
        saved: dict[str, Path] = {}
        failed: list[tuple[str, FetchError]] = []
        for kind, result in zip(kinds, results, strict=True):
            if isinstance(result, FetchError):
                failed.append((kind, result))
            elif isinstance(result, BaseException):
                raise result
            else:
                saved[kind] = result
        return saved, failed

    async def first(
        self,
        kinds: Sequence[str],
        wait_ready: float,
        interval: float,
        stop: asyncio.Event,
        stamp: Callable[[], int],
    ) -> dict[str, Path] | None:
        """The first sample, whole or raised; a Temporary error is retried until `wait_ready`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_ready
        while True:
            saved, failed = await self.each(kinds)
            if not failed:
                return saved
            for path in saved.values():  # all or nothing: a retry takes them again
                path.unlink(missing_ok=True)
            error = failed[0][1]
            retry = min(max(interval, 0.5), 5.0)
            if not isinstance(error, Temporary) or loop.time() + retry > deadline:
                raise error
            log.info("waiting for the target: %s", error)
            if not await _wait_until(stop, loop.time() + retry, loop):
                return None
            self.stamp = stamp()


async def fetch_final_goroutineleak(
    base_url: str,
    dest: Path,
    *,
    timeout: float = 60.0,  # noqa: ASYNC109 - per HTTP request (httpx)
    max_bytes: int = DEFAULT_MAX_BYTES,
    client: httpx.AsyncClient | None = None,
    path: str = DEFAULT_PATH,
    headers: Mapping[str, str] | None = None,
) -> Path | None:
    """Fetch the goroutineleak profile (debug=1) once into `dest/final.goroutineleak.txt`.

    The endpoint runs a special GC on the target (tens of ms, more with many sync waiters), so
    this is for the end of a recording, not every sample. Returns None, writing nothing, when
    the target has no such profile (404: Go < 1.26 or the experiment off).
    """
    await asyncio.to_thread(dest.mkdir, parents=True, exist_ok=True)
    target = dest / FINAL_GOROUTINELEAK
    async with _open_client(client, timeout, headers) as http:
        try:
            await save_profile(
                http,
                f"{base_url.rstrip('/')}/{path.strip('/')}/goroutineleak",
                target,
                params={"debug": 1},
                max_bytes=max_bytes,
            )
        except PprofNotExposed:
            log.info("%s has no goroutineleak profile (404)", base_url)
            return None
    return target


@asynccontextmanager
async def _open_client(
    given: httpx.AsyncClient | None, request_timeout: float, headers: Mapping[str, str] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The caller's client as is, or one of our own (no proxies from the environment: targets are
    pods; no redirects: a pprof endpoint has no business sending us to a login page)."""
    if given is not None:
        yield given
        return
    own = httpx.AsyncClient(timeout=request_timeout, trust_env=False, headers=dict(headers or {}))
    async with own:
        yield own
