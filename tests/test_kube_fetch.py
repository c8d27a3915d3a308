"""fetch_profile's failure modes against a fake pod (a local HTTP server, reached Direct)."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator

import aiohttp.web
import httpx
import pytest
from localhttp import serving

from leakpatrol.kube.client import ApiClient
from leakpatrol.kube.errors import (
    FetchTimeout,
    Forbidden,
    Refused,
    Unauthorized,
    Unreachable,
    UpstreamError,
    UpstreamRejected,
)
from leakpatrol.kube.fetch import fetch_profile, http_client_for, target_url

PHASES = httpx.Timeout(2.0)
PROFILE = gzip.compress(b"\x0a\x02go" * 100)


async def drip(request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
    response = aiohttp.web.StreamResponse()
    await response.prepare(request)
    for _ in range(100):  # one byte every 0.1 s: never trips a 2 s read timeout
        await response.write(b".")
        await asyncio.sleep(0.1)
    return response


async def answer(request: aiohttp.web.Request) -> aiohttp.web.Response:
    code = int(request.match_info["code"])
    if code == 302:
        return aiohttp.web.Response(status=302, headers={"Location": "/login"})
    return aiohttp.web.Response(status=code, text=f"status {code}")


async def gzipped(_: aiohttp.web.Request) -> aiohttp.web.Response:
    return aiohttp.web.Response(body=PROFILE, headers={"Content-Encoding": "gzip"})


@pytest.fixture
async def pod_url() -> AsyncIterator[str]:
    async with serving({"/status/{code}": answer, "/drip": drip, "/gzipped": gzipped}) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with http_client_for("Direct", None) as client:
        yield client


@pytest.mark.parametrize(("code", "error", "retryable"), [
    (401, Unauthorized, False),
    (403, Unauthorized, False),
    (500, UpstreamError, True),
    (503, UpstreamError, True),
    (429, UpstreamError, True),
    (302, UpstreamRejected, False),  # never followed: a pprof endpoint has no business redirecting
    (400, UpstreamRejected, False),
])  # fmt: skip
async def test_http_statuses(
    http: httpx.AsyncClient, pod_url: str, code: int, error: type[Exception], retryable: bool
) -> None:
    with pytest.raises(error, match=f"HTTP {code}") as raised:
        await fetch_profile(http, f"{pod_url}/status/{code}", max_bytes=1000, timeout=PHASES)
    assert type(raised.value) is error and getattr(raised.value, "retryable", None) is retryable


async def test_a_dripping_server_is_stopped_by_the_total_deadline(
    http: httpx.AsyncClient, pod_url: str
) -> None:
    with pytest.raises(FetchTimeout, match=r"not complete within 0\.5s") as raised:
        await fetch_profile(http, f"{pod_url}/drip", max_bytes=1000, timeout=PHASES, total=0.5)
    assert raised.value.retryable


async def test_refused_is_unreachable(http: httpx.AsyncClient) -> None:
    with pytest.raises(Unreachable, match="ConnectError") as raised:
        await fetch_profile(http, "http://127.0.0.1:9/debug/pprof/goroutine", max_bytes=1000, timeout=PHASES)
    assert raised.value.retryable


async def test_bodies_are_returned_as_sent(http: httpx.AsyncClient, pod_url: str) -> None:
    # Content-Encoding is not undone here: profiles.load decompresses under its own cap.
    assert await fetch_profile(http, f"{pod_url}/gzipped", max_bytes=1000, timeout=PHASES) == PROFILE


def test_target_urls() -> None:
    pod = {"metadata": {"name": "web-0.x", "namespace": "shop"}, "status": {"podIP": "fd00::5"}}
    assert target_url("PortForward", pod, 6060, "/p") == "http://web-0.x.shop:6060/p"
    assert target_url("Direct", pod, 6060, "/p", scheme="https") == "https://[fd00::5]:6060/p"
    with pytest.raises(ValueError, match="plain http"):
        target_url("PortForward", pod, 6060, "/p", scheme="https")
    with pytest.raises(ValueError, match="no IP yet"):
        target_url("Direct", {"metadata": pod["metadata"], "status": {}}, 6060, "/p")
    with pytest.raises(ValueError, match="needs an ApiClient"):
        http_client_for("PortForward", None)


# -- the port-forward transport against a fake API server -------------------------------------------


async def silent_forward(request: aiohttp.web.Request) -> aiohttp.web.WebSocketResponse:
    ws = aiohttp.web.WebSocketResponse(protocols=("v4.channel.k8s.io",))
    await ws.prepare(request)
    await asyncio.sleep(5)  # never sends the port frames: a stuck kubelet
    return ws


async def forbidden(_: aiohttp.web.Request) -> aiohttp.web.Response:
    return aiohttp.web.Response(status=403, text="pods/portforward is forbidden")


@pytest.fixture
async def fake_api() -> AsyncIterator[ApiClient]:
    routes = {
        "/api/v1/namespaces/ns/pods/stuck/portforward": silent_forward,
        "/api/v1/namespaces/ns/pods/secret/portforward": forbidden,
    }
    async with serving(routes) as url, ApiClient(url, aiohttp.ClientSession()) as api:
        yield api


async def test_port_forward_connect_timeout(fake_api: ApiClient) -> None:
    async with http_client_for("PortForward", fake_api) as http:
        with pytest.raises(FetchTimeout, match=r"ConnectTimeout.*pod ns/stuck port 6060"):
            await fetch_profile(
                http, "http://stuck.ns:6060/x", max_bytes=1000, timeout=httpx.Timeout(2.0, connect=0.3)
            )


async def test_port_forward_forbidden_is_not_retried(fake_api: ApiClient) -> None:
    async with http_client_for("PortForward", fake_api) as http:
        with pytest.raises(Refused, match="403") as raised:
            await fetch_profile(http, "http://secret.ns:6060/x", max_bytes=1000, timeout=PHASES)
    assert isinstance(raised.value.__cause__, Forbidden) and not raised.value.retryable
