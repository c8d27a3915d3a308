"""`open_forward()`: a byte stream to a pod's port through the API server's `pods/portforward`.

The `v4.channel.k8s.io` websocket protocol, one port per websocket: every binary frame starts
with a channel byte, port i uses channel 2i for data and 2i+1 for errors, and the server first
sends on each channel a 3-byte frame (channel, port as little-endian uint16). Text on the error
channel is the kubelet's reason ("... connect: connection refused") and ends the stream.

`ForwardStream` is an `httpcore.AsyncNetworkStream`, so httpx speaks HTTP/1.1 over it (see
`transport.py`); it maps its own failures to httpcore's exceptions, which httpx maps to its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Any

import aiohttp
import httpcore

from leakpatrol.kube.client import ApiClient
from leakpatrol.kube.errors import ApiError, KubeError, PortForwardError

PROTOCOL = "v4.channel.k8s.io"
DATA, ERROR = 0, 1  # our single port is port 0 of the request: channels 0 and 1
# The kubelet copies in 32 KiB buffers; larger frames would only be split again on its side.
MAX_FRAME = 32 << 10
# Frames the pump may buffer ahead of the reader (each ≤ 64 KiB): beyond it, TCP back-pressure.
QUEUE_FRAMES = 16

_Item = bytes | BaseException | None  # data, a failure to raise, or None for end of stream


async def open_forward(api: ApiClient, namespace: str, pod: str, port: int) -> ForwardStream:
    """Open the websocket and wait for the server's port frames. Callers bound it with a timeout.

    Raises `NotFound` (no such pod), `Forbidden` (no RBAC for pods/portforward), `ApiUnavailable`
    or `PortForwardError`; a port nothing listens on surfaces on the first read or write.
    """
    path = f"/api/v1/namespaces/{namespace}/pods/{pod}/portforward"
    try:
        ws = await api.websocket(path, {"ports": str(port)}, (PROTOCOL,))
    except ApiError as exc:
        if exc.status in (400, 404):
            raise await _explain(api, namespace, pod, port, exc) from exc
        raise
    try:
        if ws.protocol != PROTOCOL:
            raise PortForwardError(namespace, pod, port, f"the server speaks {ws.protocol!r}, not {PROTOCOL}")
        early = await _await_port_frames(ws, namespace, pod, port)
    except BaseException:
        await _close_quietly(ws)
        raise
    return ForwardStream(ws, namespace, pod, port, early)


async def _explain(api: ApiClient, namespace: str, pod: str, port: int, refused: ApiError) -> KubeError:
    """aiohttp drops the body of a refused upgrade: ask for the pod to say why in the server's words."""
    try:
        obj = await api.get(f"/api/v1/namespaces/{namespace}/pods/{pod}")
    except ApiError as exc:
        return exc  # typically NotFound: pods "x" not found
    phase = (obj.get("status") or {}).get("phase", "Unknown")
    detail = f"upgrade refused with HTTP {refused.status}; pod phase {phase}"
    return PortForwardError(namespace, pod, port, detail)


async def _await_port_frames(
    ws: aiohttp.ClientWebSocketResponse, namespace: str, pod: str, port: int
) -> bytes:
    """Consume the two 3-byte port frames; return any data that (unusually) came before them."""
    pending, early = {DATA, ERROR}, bytearray()
    while pending:
        msg = await ws.receive()
        if msg.type != aiohttp.WSMsgType.BINARY:
            detail = f"the stream ended before the port frames ({msg.type.name})"
            raise PortForwardError(namespace, pod, port, detail)
        channel, payload = msg.data[0], msg.data[1:]
        if channel in pending and len(payload) == 2:
            if struct.unpack("<H", payload)[0] != port:
                raise PortForwardError(namespace, pod, port, f"server announced port {payload.hex()}")
            pending.discard(channel)
        elif channel == ERROR and payload:
            raise PortForwardError(namespace, pod, port, payload.decode(errors="replace").strip())
        elif channel == DATA:
            early += payload
    return bytes(early)


async def _close_quietly(ws: aiohttp.ClientWebSocketResponse) -> None:
    with contextlib.suppress(Exception):
        await ws.close()


class ForwardStream(httpcore.AsyncNetworkStream):
    """The data channel of one forward as a byte stream; the error channel becomes exceptions.

    (The `timeout` parameters below are httpcore's interface: per read/write, in seconds.)
    """

    def __init__(
        self, ws: aiohttp.ClientWebSocketResponse, namespace: str, pod: str, port: int, early: bytes
    ) -> None:
        self._ws = ws
        self._where = (namespace, pod, port)
        self._buffer = early
        self._end: BaseException | None = None  # what every read raises after the end; EOF if None
        self._ended = False
        self._frames: asyncio.Queue[_Item] = asyncio.Queue(maxsize=QUEUE_FRAMES)
        self._pump = asyncio.create_task(self._receive(), name=f"port-forward {namespace}/{pod}:{port}")

    async def _receive(self) -> None:
        try:
            end = await self._route()
        except Exception as exc:  # whatever broke, the reader must see an end, never wait forever
            end = httpcore.ReadError(f"port-forward to {self._label()} broke: {exc!r}")
        await self._frames.put(end)

    async def _route(self) -> BaseException | None:
        """Frames to the reader until the server closes: a dead pod closes the stream (EOF)."""
        async for msg in self._ws:  # ends on CLOSE / CLOSING / CLOSED
            if msg.type == aiohttp.WSMsgType.ERROR:
                return httpcore.ReadError(f"port-forward to {self._label()} broke: {self._ws.exception()}")
            if msg.type != aiohttp.WSMsgType.BINARY or len(msg.data) < 2:
                continue
            if msg.data[0] == DATA:
                await self._frames.put(msg.data[1:])
            elif msg.data[0] == ERROR:
                return PortForwardError(*self._where, msg.data[1:].decode(errors="replace").strip())
        return None

    def _label(self) -> str:
        namespace, pod, port = self._where
        return f"pod {namespace}/{pod} port {port}"

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        if not self._buffer:
            if self._ended:
                if self._end is not None:
                    raise self._end
                return b""
            try:
                async with asyncio.timeout(timeout):
                    item = await self._frames.get()
            except TimeoutError:
                raise httpcore.ReadTimeout(f"{self._label()}: no data within {timeout}s") from None
            if not isinstance(item, bytes):
                self._ended, self._end = True, item
                return await self.read(max_bytes, timeout)
            self._buffer = item
        chunk, self._buffer = self._buffer[:max_bytes], self._buffer[max_bytes:]
        return chunk

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        if self._end is not None:
            raise self._end
        if self._ws.closed:
            raise httpcore.WriteError(f"{self._label()}: the port-forward is closed")
        try:
            async with asyncio.timeout(timeout):
                for start in range(0, len(buffer), MAX_FRAME):
                    await self._ws.send_bytes(bytes([DATA]) + buffer[start : start + MAX_FRAME])
        except TimeoutError:
            raise httpcore.WriteTimeout(f"{self._label()}: could not send within {timeout}s") from None
        except (ConnectionError, aiohttp.ClientError) as exc:
            raise httpcore.WriteError(f"{self._label()}: {exc}") from exc

    async def aclose(self) -> None:
        self._pump.cancel()
        # wait(), not `await self._pump`: the pump's CancelledError must not be mistaken for (or
        # swallow) a cancellation of the task closing us.
        await asyncio.wait([self._pump])
        await _close_quietly(self._ws)

    async def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("https over a port-forward is not supported: use scheme http")

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # httpcore asks before reusing an idle connection: did it end?
            return self._ended or self._pump.done() or not self._frames.empty() or self._ws.closed
        return None
