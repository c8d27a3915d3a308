"""The recording loop: samples on a fixed grid, the first one whole (retried while the target is
not ready), later failures recorded as missing, stopped early on request."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from leakpatrol.core import Temporary
from leakpatrol.kube.errors import FetchError
from leakpatrol.record.fetching import (
    DEFAULT_PATH,
    open_client,
    profile_request,
    read_process_start,
    save_profile,
)
from leakpatrol.record.files import DEFAULT_MAX_BYTES, Missing, Recording, SampleResult, sample_filename

log = logging.getLogger(__name__)

RECORDABLE_KINDS = frozenset({"goroutine", "heap"})
T = TypeVar("T")


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
    async with open_client(client, timeout, headers) as http:
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
        url, params = profile_request(self.base_url, self.path, kind, self.text)
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
