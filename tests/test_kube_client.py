"""ApiClient error mapping, caps and timeouts against a fake API server; connect() credential sources."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from email.utils import formatdate
from pathlib import Path

import aiohttp
import aiohttp.web
import pytest
import yaml

from leakpatrol.core import Permanent
from leakpatrol.kube import connection
from leakpatrol.kube.auth import RefreshingHeader, StaticHeader
from leakpatrol.kube.client import ApiClient
from leakpatrol.kube.errors import (
    ApiError,
    ApiUnavailable,
    Forbidden,
    Gone,
    Rejected,
    ServerError,
    TooManyRequests,
)
from leakpatrol.reasons import Reason

Handler = Callable[[aiohttp.web.Request], Awaitable[aiohttp.web.Response]]


def status(code: int, reason: str, message: str) -> aiohttp.web.Response:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "reason": reason,
        "message": message,
        "code": code,
    }
    return aiohttp.web.json_response(body, status=code)


async def throttled(_: aiohttp.web.Request) -> aiohttp.web.Response:
    response = status(429, "TooManyRequests", "the server has received too many requests")
    response.headers["Retry-After"] = "3"
    return response


async def chunked_big(request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
    response = aiohttp.web.StreamResponse()
    await response.prepare(request)
    for _ in range(40):
        await response.write(b" " * 65536)  # no Content-Length: only counting can stop it
    return response


async def slow(_: aiohttp.web.Request) -> aiohttp.web.Response:
    await asyncio.sleep(1.5)
    return aiohttp.web.json_response({})


async def echo(request: aiohttp.web.Request) -> aiohttp.web.Response:
    return aiohttp.web.json_response(
        {"auth": request.headers.get("Authorization"), "query": dict(request.query)}
    )


def fixed(response: aiohttp.web.Response) -> Handler:
    async def handle(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return response

    return handle


def dated(ahead: float | None, code: int = 200) -> Handler:
    """Answers with a `Date` header `ahead` seconds from our clock (None: one that is not a date)."""

    async def handle(_: aiohttp.web.Request) -> aiohttp.web.Response:
        response = aiohttp.web.json_response({}, status=code)
        when = "not a date" if ahead is None else formatdate(time.time() + ahead, usegmt=True)
        response.headers["Date"] = when
        return response

    return handle


@pytest.fixture
async def server() -> AsyncIterator[str]:
    app = aiohttp.web.Application()
    app.router.add_get("/throttled", throttled)
    app.router.add_get(
        "/forbidden", fixed(status(403, "Forbidden", 'pods is forbidden: User "x" cannot list'))
    )
    app.router.add_get("/expired", fixed(status(410, "Expired", "too old resource version: 1")))
    app.router.add_get("/broken", fixed(status(500, "InternalError", "etcdserver: request timed out")))
    app.router.add_get("/proxy", fixed(aiohttp.web.Response(status=502, text="<html>Bad Gateway</html>")))
    app.router.add_get("/teapot", fixed(status(418, "Teapot", "short and stout")))
    app.router.add_get("/big", fixed(aiohttp.web.Response(body=b" " * (2 << 20))))
    app.router.add_get("/chunked-big", chunked_big)
    app.router.add_get("/slow", slow)
    app.router.add_get("/echo", echo)
    app.router.add_get("/list", fixed(aiohttp.web.json_response([1, 2])))
    app.router.add_get("/ahead", dated(7200))
    app.router.add_get("/ahead-forbidden", dated(7200, 403))
    app.router.add_get("/undated", dated(None))
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def api(server: str) -> AsyncIterator[ApiClient]:
    session = aiohttp.ClientSession()
    async with ApiClient(
        server, session, StaticHeader("Bearer s3cret"), timeout=0.5, max_response_bytes=1 << 20
    ) as c:
        yield c


async def test_statuses_map_to_the_error_tree(api: ApiClient) -> None:
    with pytest.raises(TooManyRequests) as throttled:
        await api.get("/throttled")
    assert throttled.value.retry_after == 3.0 and throttled.value.retryable
    with pytest.raises(Forbidden, match="cannot list") as forbidden:
        await api.get("/forbidden")
    assert not forbidden.value.retryable
    with pytest.raises(Gone) as gone:
        await api.get("/expired")
    # The server's word is kept as status_reason; `.reason` is ours: the same word when we know it.
    assert (gone.value.status_reason, gone.value.reason) == (
        "Expired",
        Reason.EXPIRED,
    ) and gone.value.retryable
    with pytest.raises(ServerError, match="etcdserver") as broken:
        await api.get("/broken")
    assert broken.value.retryable
    with pytest.raises(ServerError, match="Bad Gateway") as proxy:  # not a Status: the body is the message
        await api.get("/proxy")
    assert proxy.value.reason is Reason.INTERNAL_ERROR  # a word we do not say gives way to the class's
    with pytest.raises(ApiError) as teapot:
        await api.get("/teapot")
    assert type(teapot.value) is Rejected and isinstance(teapot.value, Permanent)
    assert (teapot.value.status_reason, teapot.value.reason) == ("Teapot", Reason.BAD_REQUEST)


async def test_response_size_cap(api: ApiClient) -> None:
    with pytest.raises(ApiError, match="over 1048576 bytes"):
        await api.get("/big")
    with pytest.raises(ApiError, match="over 1048576 bytes"):
        await api.get("/chunked-big")
    with pytest.raises(ApiError, match="not a JSON object"):
        await api.get("/list")


async def test_timeouts_and_refusals_are_api_unavailable(api: ApiClient) -> None:
    with pytest.raises(ApiUnavailable) as slow:
        await api.get("/slow")
    assert slow.value.retryable
    async with ApiClient("http://127.0.0.1:9", aiohttp.ClientSession()) as nowhere:
        with pytest.raises(ApiUnavailable, match="Connect"):
            await nowhere.get("/api")


async def test_the_api_servers_clock_comes_from_its_date_header(api: ApiClient) -> None:
    assert api.server_now() is None  # no answer yet
    await api.get("/ahead")
    server = api.server_now()
    assert server is not None and abs(server - (time.time() + 7200)) <= 1.5  # 1 s resolution
    await api.get("/echo")  # the server's own Date: the latest answer wins
    server = api.server_now()
    assert server is not None and abs(server - time.time()) <= 1.5
    with pytest.raises(Forbidden):
        await api.get("/ahead-forbidden")  # a refusal tells the time as well
    server = api.server_now()
    assert server is not None and server - time.time() > 7000
    await api.get("/undated")  # a Date we cannot read changes nothing
    assert api.server_now() == pytest.approx(server, abs=1.0)


async def test_credentials_and_params_are_sent(api: ApiClient) -> None:
    echoed = await api.get("/echo", {"labelSelector": "app in (a,b)"})
    assert echoed == {"auth": "Bearer s3cret", "query": {"labelSelector": "app in (a,b)"}}


async def test_in_cluster_service_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: str
) -> None:
    (tmp_path / "token").write_text("first\n")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    monkeypatch.setattr(connection, "TOKEN_REFRESH_SECONDS", 0.0)
    async with await connection.connect(service_account_dir=tmp_path) as api:
        assert api.server == "https://[fd00::1]:6443"
        assert (await api.headers())["Authorization"] == "Bearer first"
        (tmp_path / "token").write_text("rotated\n")  # the kubelet rotates bound tokens
        assert (await api.headers())["Authorization"] == "Bearer rotated"
    # A kubeconfig named explicitly wins over the service account.
    kubeconfig = write_kubeconfig(tmp_path / "config", {"a": server})
    async with await connection.connect(str(kubeconfig), service_account_dir=tmp_path) as api:
        assert api.server == server


async def test_kubeconfig_contexts_and_token_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    (tmp_path / "token").write_text("from-file")
    kubeconfig = write_kubeconfig(tmp_path / "config", {"a": "http://127.0.0.1:1", "b": "http://127.0.0.1:2"})
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    async with await connection.connect() as api:
        assert (
            api.server == "http://127.0.0.1:1" and (await api.headers())["Authorization"] == "Bearer token-a"
        )
    async with await connection.connect(context="b") as api:
        assert (
            api.server == "http://127.0.0.1:2"
            and (await api.headers())["Authorization"] == "Bearer from-file"
        )


def write_kubeconfig(path: Path, servers: dict[str, str]) -> Path:
    users = {"a": {"token": "token-a"}, "b": {"tokenFile": str(path.parent / "token")}}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": {"server": s}} for n, s in servers.items()],
        "users": [{"name": n, "user": users[n]} for n in servers],
        "contexts": [{"name": n, "context": {"cluster": n, "user": n}} for n in servers],
        "current-context": next(iter(servers)),
    }
    path.write_text(yaml.safe_dump(config))
    return path


async def test_refreshing_header_keeps_the_last_good_value() -> None:
    calls: list[int] = []

    def load() -> str:
        calls.append(1)
        if len(calls) > 1:
            raise OSError("token file half-written")
        return "Bearer one"

    header = RefreshingHeader(load, refresh_after=0.0)
    assert await header.header() == "Bearer one"
    assert await header.header() == "Bearer one" and len(calls) == 2  # re-read, failed, kept

    def broken() -> str:
        raise OSError("no token file")

    with pytest.raises(OSError, match="no token file"):  # with nothing to keep, the failure shows
        await RefreshingHeader(broken).header()
