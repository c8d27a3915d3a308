"""pods/portforward over websockets: the `v4.channel.k8s.io` channel protocol, bridged to the pod's IP.

Port i of `?ports=` uses channel 2i for data and 2i+1 for errors; each channel first carries a
3-byte frame (channel byte, port as little-endian uint16). Like the kubelet, a port that nothing
listens on is reported as text on its error channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Any

import aiohttp
import aiohttp.web

from . import errors, paths
from .kubelet import Kubelet
from .registry import Kind

PROTOCOLS = ("v4.channel.k8s.io", "v5.channel.k8s.io")


def _ports(raw: aiohttp.web.BaseRequest) -> list[int]:
    values = [p for value in raw.query.getall("ports", []) for p in value.split(",") if p.strip()]
    try:
        return [int(p) for p in values]
    except ValueError as exc:
        raise errors.bad_request(f"invalid port value: {exc}") from exc


class PortForwarder:
    def __init__(self, kubelet: Kubelet) -> None:
        self.kubelet = kubelet
        self._tasks: set[asyncio.Task[None]] = set()  # strong references, so bridges are not collected
        kubelet.cp.api.subresources["pods/portforward"] = self.serve

    async def serve(
        self, raw: aiohttp.web.BaseRequest, kind: Kind, path: paths.ApiPath
    ) -> aiohttp.web.StreamResponse:
        pod = self.kubelet.store.get(kind, path.namespace, path.name or "")
        ports = _ports(raw)
        if not ports:
            raise errors.bad_request(
                "at least 1 port must be specified (kubesandbox serves port-forward as v4.channel.k8s.io "
                "websockets with ?ports=; kubectl's SPDY-over-websocket tunnel is not supported)"
            )
        if raw.headers.get("Upgrade", "").lower() != "websocket":
            raise errors.bad_request(
                "Upgrade request required: this sandbox serves port-forward over websockets only"
            )
        status = pod.get("status") or {}
        if status.get("phase") != "Running" or not status.get("podIP"):
            raise errors.bad_request(
                f"pod {path.name} is not running (phase {status.get('phase', 'Pending')})"
            )
        ws = aiohttp.web.WebSocketResponse(protocols=PROTOCOLS[:1])
        await ws.prepare(raw)
        for index, port in enumerate(ports):
            for channel in (2 * index, 2 * index + 1):
                await ws.send_bytes(struct.pack("<BH", channel, port))
        writers = await self._dial_all(ws, pod, ports)
        await self._pump(ws, writers)
        return ws

    async def _dial_all(
        self, ws: aiohttp.web.WebSocketResponse, pod: dict[str, Any], ports: list[int]
    ) -> dict[int, asyncio.StreamWriter]:
        writers: dict[int, asyncio.StreamWriter] = {}
        ip, uid = pod["status"]["podIP"], pod["metadata"]["uid"]
        for index, port in enumerate(ports):
            try:
                reader, writer = await asyncio.open_connection(ip, port)
            except OSError as exc:
                reason = (
                    "connect: connection refused" if isinstance(exc, ConnectionRefusedError) else str(exc)
                )
                message = (
                    f"error forwarding port {port} to pod {uid}, uid : failed to execute portforward in "
                    f'network namespace "/var/run/netns/cni-{uid}": failed to connect to localhost:{port} '
                    f'inside namespace "{uid}", IPv4: dial tcp4 127.0.0.1:{port}: {reason} IPv6 '
                    f"dial tcp6 [::1]:{port}: connect: connection refused "
                )
                await ws.send_bytes(bytes([2 * index + 1]) + message.encode())
                continue
            writers[2 * index] = writer
            task = asyncio.create_task(self._upstream(ws, reader, 2 * index))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return writers

    async def _upstream(
        self, ws: aiohttp.web.WebSocketResponse, reader: asyncio.StreamReader, channel: int
    ) -> None:
        """Pod -> client; when the pod side closes, the whole stream ends (as the kubelet does in v4)."""
        with contextlib.suppress(ConnectionError, RuntimeError):
            while chunk := await reader.read(64 * 1024):
                await ws.send_bytes(bytes([channel]) + chunk)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.close()

    async def _pump(
        self, ws: aiohttp.web.WebSocketResponse, writers: dict[int, asyncio.StreamWriter]
    ) -> None:
        """Client -> pod, until the client closes the websocket."""
        try:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.BINARY or not message.data:
                    continue
                writer = writers.get(message.data[0])
                if writer is not None and len(message.data) > 1:
                    writer.write(message.data[1:])
                    await writer.drain()
        except ConnectionError:
            pass
        finally:
            for writer in writers.values():
                writer.close()
