"""httpx over port-forwards: `http://<pod>.<namespace>:<port>/path` reaches the pod via the API server.

`PortForwardBackend` is an httpcore network backend whose `connect_tcp` opens a forward instead of
a socket, so everything above it is stock httpx/httpcore: HTTP/1.1 framing (chunked,
content-length), keep-alive pooling (one websocket per pooled connection), timeouts, and the
mapping of failures to `httpx` exceptions. Kubernetes refusals (`NotFound`, `Forbidden`,
`PortForwardError`) pass through unchanged, so callers can tell "pod gone" from "port closed".
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import httpcore
import httpx

from leakpatrol.kube.client import ApiClient
from leakpatrol.kube.portforward import ForwardStream, open_forward

DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)


def split_host(host: str) -> tuple[str, str]:
    """`<pod>.<namespace>` -> (namespace, pod). Pod names may contain dots, namespaces never do."""
    pod, dot, namespace = host.rpartition(".")
    if not dot or not pod or not namespace:
        raise httpcore.ConnectError(f"{host!r} is not <pod>.<namespace>: cannot port-forward to it")
    return namespace, pod


class PortForwardBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, api: ApiClient) -> None:
        self.api = api

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface: the connect timeout
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> ForwardStream:
        namespace, pod = split_host(host)
        try:
            async with asyncio.timeout(timeout):
                return await open_forward(self.api, namespace, pod, port)
        except TimeoutError:
            where = f"pod {namespace}/{pod} port {port}"
            raise httpcore.ConnectTimeout(f"port-forward to {where}: not open within {timeout}s") from None

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("port-forwards carry TCP only")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class PortForwardTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport with the pool's network swapped for port-forwards.

    Subclassing (rather than wrapping an httpcore pool ourselves) keeps httpx's request/response
    conversion and exception mapping, which are not public API; only the pool is replaced.
    """

    def __init__(self, api: ApiClient, limits: httpx.Limits = DEFAULT_LIMITS) -> None:
        super().__init__(limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            network_backend=PortForwardBackend(api),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
        )
