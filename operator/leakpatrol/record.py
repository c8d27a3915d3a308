"""Record pprof profiles from a live Go target into files, one per sample and kind.

The recorded series is what the CLI reads and what tests/corpus holds. Every sample is one
`<stamp>.<kind>.<ext>` file in the destination directory:

    <stamp>.goroutine.pb.gz     /debug/pprof/goroutine?debug=0 (gzipped profile.proto)
    <stamp>.goroutine.txt       /debug/pprof/goroutine?debug=1 (with text=True, instead of the above)
    <stamp>.heap.pb.gz          /debug/pprof/heap?debug=0 (post-GC inuse and alloc)
    final.goroutineleak.txt     /debug/pprof/goroutineleak?debug=1, once (fetch_final_goroutineleak)

`<stamp>` is unix seconds: the wall clock, or `stamp_start + i * stamp_step` for a time-dilated
target (one second of real time standing for one minute of program time).

Responses are streamed with a byte cap, so a misbehaving target cannot make us buffer without
bound; a file appears only once it is complete (written aside, then renamed).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Coroutine, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from leakpatrol.kube.errors import PprofNotExposed
from leakpatrol.kube.fetch import fetch_profile

__all__ = [
    "DEFAULT_MAX_BYTES",
    "fetch_final_goroutineleak",
    "record_series",
    "sample_filename",
    "save_profile",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 64 << 20  # debug=1 of 4k distinct stacks is ~4.5 MB; 64 MiB is far beyond sane
RECORDABLE_KINDS = frozenset({"goroutine", "heap"})
FINAL_GOROUTINELEAK = "final.goroutineleak.txt"


def sample_filename(stamp: int, kind: str, *, text: bool = False) -> str:
    """The file name of one sample: `<stamp>.<kind>.pb.gz`, or `<stamp>.goroutine.txt` for text."""
    if text and kind == "goroutine":
        return f"{stamp}.goroutine.txt"
    return f"{stamp}.{kind}.pb.gz"


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


def _profile_request(base_url: str, kind: str, text: bool) -> tuple[str, dict[str, str | int]]:
    debug = 1 if text and kind == "goroutine" else 0
    return f"{base_url.rstrip('/')}/debug/pprof/{kind}", {"debug": debug}


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
) -> None:
    """Take `count` samples of each kind, one every `interval` seconds, into `dest`.

    Samples are scheduled on a fixed grid (no drift); a slow fetch delays the next one rather
    than overlapping it. With `stamp_start`/`stamp_step` sample i is stamped
    `stamp_start + i * stamp_step`; otherwise with the wall clock's unix seconds, which then
    needs `interval >= 1` so names don't collide. Any failed fetch aborts the series.
    """
    unknown = set(kinds) - RECORDABLE_KINDS
    if unknown or not kinds:
        raise ValueError(f"kinds must be a non-empty subset of {sorted(RECORDABLE_KINDS)}: {list(kinds)}")
    if (stamp_start is None) != (stamp_step is None):
        raise ValueError("stamp_start and stamp_step go together")
    if stamp_step is None and interval < 1:
        raise ValueError("wall-clock stamps are whole seconds: use interval >= 1 or stamp_start/stamp_step")
    await asyncio.to_thread(dest.mkdir, parents=True, exist_ok=True)
    async with _open_client(client, timeout) as http:
        loop = asyncio.get_running_loop()
        start = loop.time()
        last_stamp: int | None = None
        for i in range(count):
            delay = start + i * interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif -delay > interval / 2:
                log.warning("sample %d is %.2fs late (target slow to answer?)", i, -delay)
            if stamp_start is not None and stamp_step is not None:
                stamp = stamp_start + i * stamp_step
            else:
                stamp = int(time.time())
                if last_stamp is not None and stamp <= last_stamp:
                    stamp = last_stamp + 1
            last_stamp = stamp
            await _all_or_nothing(
                [
                    _fetch_sample(
                        http, base_url, dest, stamp=stamp, kind=kind, text=text, max_bytes=max_bytes
                    )
                    for kind in kinds
                ]
            )


async def _all_or_nothing(fetches: Sequence[Coroutine[object, object, None]]) -> None:
    """Run the fetches of one sample together; on the first failure cancel the others, then raise it."""
    tasks = [asyncio.ensure_future(f) for f in fetches]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _fetch_sample(
    http: httpx.AsyncClient, base_url: str, dest: Path, *, stamp: int, kind: str, text: bool, max_bytes: int
) -> None:
    url, params = _profile_request(base_url, kind, text)
    path = dest / sample_filename(stamp, kind, text=text)
    await save_profile(http, url, path, params=params, max_bytes=max_bytes)


async def fetch_final_goroutineleak(
    base_url: str,
    dest: Path,
    *,
    timeout: float = 60.0,  # noqa: ASYNC109 - per HTTP request (httpx)
    max_bytes: int = DEFAULT_MAX_BYTES,
    client: httpx.AsyncClient | None = None,
) -> Path | None:
    """Fetch the goroutineleak profile (debug=1) once into `dest/final.goroutineleak.txt`.

    The endpoint runs a special GC on the target (tens of ms, more with many sync waiters), so
    this is for the end of a recording, not every sample. Returns None, writing nothing, when
    the target has no such profile (404: Go < 1.26 or the experiment off).
    """
    await asyncio.to_thread(dest.mkdir, parents=True, exist_ok=True)
    path = dest / FINAL_GOROUTINELEAK
    async with _open_client(client, timeout) as http:
        try:
            await save_profile(
                http,
                f"{base_url.rstrip('/')}/debug/pprof/goroutineleak",
                path,
                params={"debug": 1},
                max_bytes=max_bytes,
            )
        except PprofNotExposed:
            log.info("%s has no goroutineleak profile (404)", base_url)
            return None
    return path


@asynccontextmanager
async def _open_client(
    given: httpx.AsyncClient | None, request_timeout: float
) -> AsyncIterator[httpx.AsyncClient]:
    """The caller's client as is, or one of our own (no proxies from the environment: targets are pods)."""
    if given is not None:
        yield given
        return
    async with httpx.AsyncClient(timeout=request_timeout, trust_env=False) as own:
        yield own
