"""`fetch_profile()`: GET one pprof endpoint of a pod, bounded in size and time, failures as `FetchError`.

The bytes come from a pod we do not control, so the body is counted as it streams and the fetch
stops at the cap, before the rest is read; it is taken raw (no Content-Encoding decoding) because
`leakpatrol.profiles.load` decompresses under its own cap, which a gzip bomb cannot slip past.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl

import httpx

from leakpatrol.core import Obj, Transport
from leakpatrol.inflight import Share
from leakpatrol.kube.client import ApiClient
from leakpatrol.kube.errors import (
    ApiError,
    FetchError,
    FetchTimeout,
    NotFound,
    PodGone,
    PortForwardError,
    PprofNotExposed,
    Refused,
    TooLarge,
    Unauthorized,
    Unreachable,
    UpstreamError,
    UpstreamRejected,
)
from leakpatrol.kube.transport import DEFAULT_LIMITS, PortForwardTransport


async def fetch_profile(
    http: httpx.AsyncClient,
    url: str,
    *,
    max_bytes: int,
    timeout: httpx.Timeout,  # noqa: ASYNC109 - httpx's per-phase timeouts; `total` is the deadline
    total: float | None = None,
    share: Share | None = None,
) -> bytes:
    """The body of a 2xx answer. `timeout` bounds connect/read/write; `total` the whole fetch;
    `share` (the operator's, see `leakpatrol.inflight`) counts the body against the bytes the
    whole process may hold, and raises `ProfileBufferFull` when it would go over.

    A server that drips one byte just before each read timeout would never trip `timeout`;
    `total` is what stops it.
    """
    try:
        async with asyncio.timeout(total):
            return await _fetch(http, url, max_bytes, timeout, share)
    except TimeoutError:
        raise FetchTimeout(url, f"not complete within {total}s") from None
    except httpx.TimeoutException as exc:
        raise FetchTimeout(url, f"{type(exc).__name__}: {exc}") from exc
    except httpx.TransportError as exc:
        raise Unreachable(url, f"{type(exc).__name__}: {exc}") from exc
    except PortForwardError as exc:
        raise Unreachable(url, str(exc)) from exc
    except NotFound as exc:  # the pod was deleted between the list and the fetch: not a failure
        raise PodGone(url, f"the pod is gone: {exc}") from exc
    except ApiError as exc:  # refused by the API server: RBAC, an overloaded server
        message = f"the API server refused the port-forward: {exc}"
        raise (Unreachable if exc.retryable else Refused)(url, message) from exc


async def _fetch(
    http: httpx.AsyncClient, url: str, max_bytes: int, phases: httpx.Timeout, share: Share | None
) -> bytes:
    headers = {"Accept-Encoding": "identity"}
    async with http.stream("GET", url, headers=headers, timeout=phases) as response:
        if not response.is_success:
            raise _status_error(url, response.status_code, await _snippet(response))
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise TooLarge(url, f"Content-Length {declared} is over the {max_bytes}-byte cap")
        chunks, size = [], 0
        async for chunk in response.aiter_raw():
            size += len(chunk)
            if size > max_bytes:  # leaving the block closes the connection: no more is read
                raise TooLarge(url, f"the body is over the {max_bytes}-byte cap")
            if share is not None:
                await share.grow(len(chunk))
            chunks.append(chunk)
        # One copy, made once the chunks are complete (a growing bytearray and its final bytes()
        # held the body twice over for the whole download).
        return b"".join(chunks)


async def _snippet(response: httpx.Response, limit: int = 200) -> str:
    """The start of an error body (Go's pprof says e.g. "Unknown profile"); never the whole body."""
    async for chunk in response.aiter_raw():
        return chunk[:limit].decode(errors="replace").strip()
    return ""


def _status_error(url: str, status: int, snippet: str) -> FetchError:
    message = f"HTTP {status}" + (f": {snippet}" if snippet else "")
    if status == 404:
        return PprofNotExposed(url, f"{message} (is net/http/pprof registered on this port and path?)")
    if status in (401, 403):
        return Unauthorized(url, message)
    return (UpstreamError if status >= 500 or status == 429 else UpstreamRejected)(url, message)


def http_client_for(
    transport: Transport,
    api: ApiClient | None,
    *,
    limits: httpx.Limits = DEFAULT_LIMITS,
    verify: ssl.SSLContext | bool = True,
) -> httpx.AsyncClient:
    """An httpx client for `target_url()`s of that transport; the caller closes it.

    Neither follows redirects (a pprof endpoint has no business redirecting, e.g. to a login page)
    nor reads proxy settings from the environment (pod IPs are never behind the egress proxy).
    """
    if transport == Transport.PORT_FORWARD:
        if api is None:
            raise ValueError("a PortForward client needs an ApiClient")
        return httpx.AsyncClient(transport=PortForwardTransport(api, limits), trust_env=False)
    if transport == Transport.DIRECT:
        return httpx.AsyncClient(limits=limits, verify=verify, trust_env=False)
    raise ValueError(f"unknown transport {transport!r}: PortForward or Direct")


def target_url(transport: Transport, pod: Obj, port: int, path: str, *, scheme: str = "http") -> str:
    """Where `http_client_for(transport)` reaches `path` on a pod's port.

    Port-forwarded URLs name the pod (`http://<pod>.<namespace>:<port>`); Direct ones its IP.
    """
    md = pod["metadata"]
    if transport == Transport.PORT_FORWARD:
        if scheme != "http":
            raise ValueError("a port-forward carries plain http only")
        return f"http://{md['name']}.{md['namespace']}:{port}{path}"
    ip = (pod.get("status") or {}).get("podIP")
    if not ip:
        raise ValueError(f"pod {md['namespace']}/{md['name']} has no IP yet")
    host = f"[{ip}]" if ipaddress.ip_address(ip).version == 6 else ip
    return f"{scheme}://{host}:{port}{path}"
