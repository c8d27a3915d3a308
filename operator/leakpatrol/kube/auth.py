"""Where the `Authorization` header comes from, refreshed without blocking the event loop.

Bound service-account tokens rotate (the kubelet rewrites the file about every hour, and the old
token expires), and exec-plugin credentials in a kubeconfig expire too: a header read once at
startup would start failing with 401 after an hour. So a source re-reads after `refresh_after`
seconds, in a thread, and keeps the last good value if a re-read fails.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


class HeaderSource:
    """The value of the `Authorization` header, or None for an unauthenticated (e.g. sandbox) server."""

    async def header(self) -> str | None:
        return None


class StaticHeader(HeaderSource):
    def __init__(self, value: str | None) -> None:
        self._value = value

    async def header(self) -> str | None:
        return self._value


class RefreshingHeader(HeaderSource):
    """Calls a blocking `load()` in a thread at most every `refresh_after` seconds."""

    def __init__(self, load: Callable[[], str | None], refresh_after: float = 60.0) -> None:
        self._load = load
        self._refresh_after = refresh_after
        self._value: str | None = None
        self._loaded_at = -float("inf")
        self._lock = asyncio.Lock()  # one reload at a time; concurrent callers wait for it

    async def header(self) -> str | None:
        if time.monotonic() - self._loaded_at < self._refresh_after:
            return self._value
        async with self._lock:
            if time.monotonic() - self._loaded_at >= self._refresh_after:
                await self._reload()
        return self._value

    async def _reload(self) -> None:
        try:
            self._value = await asyncio.to_thread(self._load)
        except Exception as exc:  # a half-written token file: keep the old one, try again soon
            if self._value is None:
                raise
            log.warning("could not refresh API credentials, keeping the previous ones: %s", exc)
        self._loaded_at = time.monotonic()


def bearer_file(path: Path) -> Callable[[], str | None]:
    """A loader for a token file (the service account's, or a kubeconfig's `tokenFile`)."""

    def load() -> str | None:
        token = path.read_text().strip()
        return f"Bearer {token}" if token else None

    return load
