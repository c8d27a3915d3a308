"""Fetching from a live target: a profile into a file (capped, streamed, whole or nothing), the
process's start from its metrics, the final goroutineleak profile; the HTTP client they share."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import httpx

from leakpatrol.kube.errors import FetchError, PprofNotExposed
from leakpatrol.kube.fetch import fetch_profile
from leakpatrol.record.files import DEFAULT_MAX_BYTES, FINAL_GOROUTINELEAK, write_atomically

log = logging.getLogger(__name__)

DEFAULT_PATH = "/debug/pprof"
# client_golang's process collector: the process's start, unix seconds (a float).
PROCESS_START_METRIC = "process_start_time_seconds"
_METRICS_MAX_BYTES = 4 << 20


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
    await asyncio.to_thread(write_atomically, path, data)
    return len(data)


def profile_request(base_url: str, path: str, kind: str, text: bool) -> tuple[str, dict[str, str | int]]:
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
    async with open_client(client, timeout, headers) as http:
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
async def open_client(
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
