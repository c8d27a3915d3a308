"""Fetching pprof from a real Go pod through pods/portforward (and Direct), against the sandbox."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from support import namespace_fixture, run_pod

from leakpatrol.core import TargetGone
from leakpatrol.kube.client import ApiClient
from leakpatrol.kube.errors import (
    FetchTimeout,
    NotFound,
    PodGone,
    PortForwardError,
    PprofNotExposed,
    TooLarge,
    Unreachable,
)
from leakpatrol.kube.fetch import fetch_profile, http_client_for, target_url
from leakpatrol.kube.portforward import open_forward
from leakpatrol.profiles import ProfileFormat, ProfileKind, load

GOROUTINES = "/debug/pprof/goroutine?debug=0"
PHASES = httpx.Timeout(5.0)
CAP = 1 << 20


ns = namespace_fixture("pf")


@pytest.fixture(scope="module")
def pod(sandbox: Any, ns: str) -> dict[str, Any]:
    return run_pod(sandbox, ns, "hello")


@pytest.fixture
async def http(api: ApiClient) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client_for("PortForward", api) as client:
        yield client


async def test_goroutine_profile_through_port_forward_parses(
    http: httpx.AsyncClient, pod: dict[str, Any]
) -> None:
    url = target_url("PortForward", pod, 6060, GOROUTINES)
    assert url == f"http://hello.{pod['metadata']['namespace']}:6060{GOROUTINES}"
    profile = load(await fetch_profile(http, url, max_bytes=CAP, timeout=PHASES, total=10))
    assert (profile.kind, profile.format) == (ProfileKind.GOROUTINE, ProfileFormat.PROTO)
    assert any(f.function == "main.main" for g in profile.groups for f in g.frames)


async def test_chunked_bodies_and_keep_alive_over_one_forward(
    http: httpx.AsyncClient, pod: dict[str, Any]
) -> None:
    first = await http.get(target_url("PortForward", pod, 6060, "/debug/pprof/goroutine?debug=2"))
    second = await http.get(target_url("PortForward", pod, 6060, "/"))
    assert first.headers["transfer-encoding"] == "chunked" and "goroutine 1 [" in first.text
    assert second.text.startswith("hello from")
    # The second request reused the first one's websocket: HTTP/1.1 keep-alive works end to end.
    assert first.extensions["network_stream"] is second.extensions["network_stream"]


async def test_twenty_concurrent_fetches(http: httpx.AsyncClient, pod: dict[str, Any]) -> None:
    url = target_url("PortForward", pod, 6060, GOROUTINES)
    started = time.monotonic()
    bodies = await asyncio.gather(
        *(fetch_profile(http, url, max_bytes=CAP, timeout=PHASES, total=10) for _ in range(20))
    )
    assert all(load(body).kind == ProfileKind.GOROUTINE for body in bodies)
    assert time.monotonic() - started < 5


async def test_port_not_listening_is_a_port_forward_error_with_the_kubelets_reason(
    api: ApiClient, http: httpx.AsyncClient, pod: dict[str, Any]
) -> None:
    ns = pod["metadata"]["namespace"]
    with pytest.raises(PortForwardError) as raised:
        await http.get(target_url("PortForward", pod, 7777, "/"))
    assert (raised.value.namespace, raised.value.pod, raised.value.port) == (ns, "hello", 7777)
    assert "connection refused" in raised.value.detail
    assert f"pod {ns}/hello port 7777" in str(raised.value) and raised.value.retryable

    with pytest.raises(Unreachable) as fetch_failed:
        await fetch_profile(http, target_url("PortForward", pod, 7777, "/"), max_bytes=CAP, timeout=PHASES)
    assert isinstance(fetch_failed.value.__cause__, PortForwardError) and fetch_failed.value.retryable
    assert "connection refused" in str(fetch_failed.value)

    stream = await open_forward(api, ns, "hello", 7777)  # the raw stream: the reason on first read
    with pytest.raises(PortForwardError, match="connection refused"):
        await stream.read(1024, timeout=5)
    await stream.aclose()


async def test_unknown_pod_is_not_found(api: ApiClient, http: httpx.AsyncClient, ns: str) -> None:
    with pytest.raises(NotFound, match='pods "ghost" not found'):
        await open_forward(api, ns, "ghost", 6060)
    with pytest.raises(NotFound):
        await http.get(f"http://ghost.{ns}:6060/")
    with pytest.raises(PodGone) as raised:  # deleted between the list and the fetch: not a failure
        await fetch_profile(http, f"http://ghost.{ns}:6060{GOROUTINES}", max_bytes=CAP, timeout=PHASES)
    assert isinstance(raised.value.__cause__, NotFound) and isinstance(raised.value, TargetGone)


async def test_size_cap(http: httpx.AsyncClient, pod: dict[str, Any]) -> None:
    declared = target_url("PortForward", pod, 6060, GOROUTINES)  # small: sent with Content-Length
    with pytest.raises(TooLarge, match="Content-Length"):
        await fetch_profile(http, declared, max_bytes=100, timeout=PHASES)
    streamed = target_url("PortForward", pod, 6060, "/debug/pprof/goroutine?debug=2")  # chunked
    with pytest.raises(TooLarge, match="over the 1000-byte cap") as raised:
        await fetch_profile(http, streamed, max_bytes=1000, timeout=PHASES)
    assert not raised.value.retryable
    # The client is still fine afterwards (the oversized response's forward was dropped).
    assert await fetch_profile(http, declared, max_bytes=CAP, timeout=PHASES)


async def test_missing_profile_is_pprof_not_exposed(http: httpx.AsyncClient, pod: dict[str, Any]) -> None:
    url = target_url("PortForward", pod, 6060, "/debug/pprof/nosuch")
    with pytest.raises(PprofNotExposed, match="HTTP 404: Unknown profile"):
        await fetch_profile(http, url, max_bytes=CAP, timeout=PHASES)


async def test_read_and_total_timeouts(http: httpx.AsyncClient, pod: dict[str, Any]) -> None:
    slow = target_url("PortForward", pod, 6060, "/debug/pprof/profile?seconds=3")  # answers after 3 s
    started = time.monotonic()
    with pytest.raises(FetchTimeout, match="ReadTimeout"):
        await fetch_profile(http, slow, max_bytes=CAP, timeout=httpx.Timeout(5.0, read=0.3))
    with pytest.raises(FetchTimeout, match=r"not complete within 0\.3s"):
        await fetch_profile(http, slow, max_bytes=CAP, timeout=PHASES, total=0.3)
    assert time.monotonic() - started < 2


async def test_pod_dying_mid_body_ends_the_stream(sandbox: Any, api: ApiClient, ns: str) -> None:
    pod = run_pod(sandbox, ns, "doomed")
    # The execution tracer streams its body for `seconds`: the pod dies while it is being read.
    url = target_url("PortForward", pod, 6060, "/debug/pprof/trace?seconds=20")
    async with http_client_for("PortForward", api) as http, http.stream("GET", url, timeout=30) as response:
        assert response.status_code == 200
        chunks = response.aiter_raw()
        assert await anext(chunks)
        for pid in sandbox.pids()["doomed"]:
            os.kill(pid, signal.SIGKILL)
        started = time.monotonic()
        with pytest.raises(httpx.RemoteProtocolError):  # EOF on the data channel mid-body
            async with asyncio.timeout(5):
                async for _ in chunks:
                    pass
        assert time.monotonic() - started < 3  # ended by the closed stream, not by a timeout


async def test_pod_dying_before_answering_is_unreachable(sandbox: Any, api: ApiClient, ns: str) -> None:
    pod = run_pod(sandbox, ns, "doomed-early")
    async with http_client_for("PortForward", api) as http:
        url = target_url("PortForward", pod, 6060, "/debug/pprof/profile?seconds=20")  # answers at the end
        fetch = asyncio.create_task(fetch_profile(http, url, max_bytes=CAP, timeout=httpx.Timeout(30.0)))
        await asyncio.sleep(0.5)
        for pid in sandbox.pids()["doomed-early"]:
            os.kill(pid, signal.SIGKILL)
        with pytest.raises(Unreachable, match="disconnected without sending a response"):
            await asyncio.wait_for(fetch, 3)


async def test_direct_fetch_to_the_pod_ip(pod: dict[str, Any]) -> None:
    url = target_url("Direct", pod, 6060, GOROUTINES)
    assert url == f"http://{pod['status']['podIP']}:6060{GOROUTINES}"
    async with http_client_for("Direct", None) as http:
        profile = load(await fetch_profile(http, url, max_bytes=CAP, timeout=PHASES, total=10))
    assert profile.kind == ProfileKind.GOROUTINE and profile.total >= 1
