"""`ApiClient`: JSON requests to the API server over one aiohttp session, errors as `kube.errors`.

One session means one connection pool and one TLS context for the whole operator, shared by
plain requests and the port-forward websockets. Every call has a deadline and every response a
size cap, so a slow or misbehaving API server can stall or bloat one call, never the operator.
"""

from __future__ import annotations

import asyncio
import enum
import json
import time
from collections.abc import Mapping, Sequence
from email.utils import parsedate_to_datetime
from types import TracebackType

import aiohttp

from leakpatrol.core import Obj
from leakpatrol.kube.auth import HeaderSource
from leakpatrol.kube.errors import ApiError, ApiUnavailable, Rejected, ServerError, api_error
from leakpatrol.reasons import Reason

Params = Mapping[str, str]

DEFAULT_TIMEOUT = 30.0
# A list of every pod in a big namespace is a few MB; anything near this is a bug or an attack.
DEFAULT_MAX_RESPONSE_BYTES = 64 << 20
# A websocket close is one round trip; a peer that has not answered in 2 s is gone: stop waiting.
WS_CLOSE_TIMEOUT = 2.0


class PatchType(enum.StrEnum):
    MERGE = "application/merge-patch+json"
    JSON = "application/json-patch+json"
    STRATEGIC = "application/strategic-merge-patch+json"


class ApiClient:
    def __init__(
        self,
        server: str,
        session: aiohttp.ClientSession,
        auth: HeaderSource | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.server = server.rstrip("/")
        self.session = session
        self.auth = auth or HeaderSource()
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        # time.monotonic() of the last answer from the API server (any status: it is reachable).
        # The liveness probe reads it: an operator that hears nothing for minutes is stuck.
        self.last_answer: float | None = None
        # The API server's clock less ours, from the last answer's `Date` header (1 s resolution):
        # remediation judges its cooldowns on the server's clock, which every replica shares.
        self.clock_offset: float | None = None

    def server_now(self) -> float | None:
        """The API server's time now (seconds since the epoch), as its last answer said it; None
        before any answer with a `Date` header."""
        return None if self.clock_offset is None else time.time() + self.clock_offset

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.session.close()

    async def headers(self, content_type: str | None = None, accept: str | None = None) -> dict[str, str]:
        headers = {"Accept": accept or "application/json"}
        if (value := await self.auth.header()) is not None:
            headers["Authorization"] = value
        if content_type is not None:
            headers["Content-Type"] = content_type
        return headers

    # Every call is bounded by `self.timeout`; wrap one in `asyncio.timeout()` for a tighter deadline.

    async def get(self, path: str, params: Params | None = None, *, accept: str | None = None) -> Obj:
        """`accept`: another media type to ask for (say, a metadata-only list), JSON all the same."""
        return await self.request("GET", path, params, accept=accept)

    async def post(self, path: str, body: Obj, params: Params | None = None) -> Obj:
        return await self.request("POST", path, params, body, "application/json")

    async def put(self, path: str, body: Obj, params: Params | None = None) -> Obj:
        """Replace; with `metadata.resourceVersion` in `body` the server refuses (409) a stale write."""
        return await self.request("PUT", path, params, body, "application/json")

    async def patch(
        self,
        path: str,
        body: Obj | Sequence[Obj],
        *,
        content_type: PatchType = PatchType.MERGE,
        params: Params | None = None,
    ) -> Obj:
        return await self.request("PATCH", path, params, body, content_type.value)

    async def delete(self, path: str, body: Obj | None = None, params: Params | None = None) -> Obj:
        return await self.request("DELETE", path, params, body, "application/json")

    async def request(
        self,
        method: str,
        path: str,
        params: Params | None = None,
        body: Obj | Sequence[Obj] | None = None,
        content_type: str | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - aiohttp's own deadline: a timeout is ApiUnavailable
        accept: str | None = None,
    ) -> Obj:
        data = None if body is None else json.dumps(body).encode()
        headers = await self.headers(content_type if data is not None else None, accept)
        deadline = aiohttp.ClientTimeout(total=timeout or self.timeout)
        try:
            async with self.session.request(
                method, self.server + path, params=params, data=data, headers=headers, timeout=deadline
            ) as response:
                raw = await self._read(response)
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise ApiUnavailable(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        if response.status < 500:
            self.last_answer = time.monotonic()
        if (offset := _clock_offset(response.headers.get("Date"), time.time())) is not None:
            self.clock_offset = offset
        if response.status >= 400:
            raise _status_error(response, raw)
        try:
            decoded = json.loads(raw)
        except ValueError as exc:
            raise ServerError(
                response.status, Reason.INVALID_RESPONSE, f"{method} {path}: not JSON: {exc}"
            ) from exc
        if not isinstance(decoded, dict):
            raise ServerError(response.status, Reason.INVALID_RESPONSE, f"{method} {path}: not a JSON object")
        return decoded

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        limit = self.max_response_bytes
        if (response.content_length or 0) > limit:
            raise _too_large(response, limit)
        raw = bytearray()
        async for chunk in response.content.iter_chunked(256 << 10):
            raw += chunk
            if len(raw) > limit:  # chunked bodies have no length up front: count as they come
                raise _too_large(response, limit)
        return bytes(raw)

    async def websocket(
        self, path: str, params: Params, protocols: Sequence[str]
    ) -> aiohttp.ClientWebSocketResponse:
        """Open a websocket (e.g. pods/portforward) with this client's credentials.

        aiohttp drops the body of a refused upgrade, so a refusal carries the status alone;
        callers that can explain it better (the pod is gone, not running) do so.
        """
        headers = await self.headers()
        try:
            async with asyncio.timeout(self.timeout):
                return await self.session.ws_connect(
                    self.server + path,
                    params=params,
                    protocols=protocols,
                    headers=headers,
                    timeout=aiohttp.ClientWSTimeout(ws_close=WS_CLOSE_TIMEOUT),
                )
        except aiohttp.WSServerHandshakeError as exc:
            raise api_error(
                exc.status, Reason.UPGRADE_FAILED, f"websocket upgrade of {path} refused"
            ) from exc
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise ApiUnavailable(f"websocket {path}: {type(exc).__name__}: {exc}") from exc


def _status_error(response: aiohttp.ClientResponse, raw: bytes) -> ApiError:
    """A Kubernetes `Status` body names reason and message; a proxy's HTML page does not."""
    word, message = response.reason or "Unknown", raw[:500].decode(errors="replace")
    try:
        status = json.loads(raw)
        if isinstance(status, dict):
            word, message = status.get("reason") or word, status.get("message") or message
    except ValueError:
        pass
    return api_error(response.status, word, message, _retry_after(response.headers.get("Retry-After")))


def _clock_offset(date: str | None, local: float) -> float | None:
    """The server's clock less `local`, from an HTTP `Date` header; None if there is none we can read.
    The header counts whole seconds, so the server's time is under-, never overestimated."""
    try:
        server = parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError):
        return None
    if server is None or server.tzinfo is None:
        return None
    return server.timestamp() - local


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None  # an HTTP date: the server's own back-off is a better default than parsing it


def _too_large(response: aiohttp.ClientResponse, limit: int) -> ApiError:
    path = response.url.path
    return Rejected(response.status, Reason.RESPONSE_TOO_LARGE, f"{path}: the response is over {limit} bytes")
