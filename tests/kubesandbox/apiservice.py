"""The `kubernetes` Service as pods see it: a ClusterIP on port 443 and its DNS names.

In a real pod KUBERNETES_SERVICE_HOST is the Service's ClusterIP (10.96.0.1), the port 443, and
cluster DNS resolves `kubernetes.default.svc` to it; kopf's in-cluster login dials
`https://kubernetes.default.svc` (port 443) whatever the environment says. Here the ClusterIP is
127.<pod net>.0.1 (in the pods' range, never a pod's), a relay on it passes TLS through to the
API server unchanged (the serving certificate names that IP and the in-cluster names), and each
pod's /etc/hosts maps the names to it. Port 443 needs root (CAP_NET_BIND_SERVICE); elsewhere the
relay takes a free port and only clients honouring KUBERNETES_SERVICE_PORT reach it.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from .tls import IN_CLUSTER_NAMES


class ApiService:
    def __init__(self, cluster_ip: str) -> None:
        self.cluster_ip, self.port = cluster_ip, 443
        self.upstream: tuple[str, int] | None = None
        self.server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        try:
            self.server = await asyncio.start_server(self._relay, self.cluster_ip, 443)
        except OSError:  # not root, or 443 taken on this address: any free port
            self.server = await asyncio.start_server(self._relay, self.cluster_ip, 0)
        self.port = int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self.upstream is not None
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(_pipe(src, dst))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    def hosts_file(self, path: Path, pod_ip: str, pod_name: str) -> Path:
        """The pod's /etc/hosts: the machine's, its own name, and the Service's in-cluster names."""
        base = Path("/etc/hosts").read_text() if Path("/etc/hosts").exists() else ""
        path.write_text(
            f"{base.rstrip()}\n{pod_ip}\t{pod_name}\n{self.cluster_ip}\t{' '.join(IN_CLUSTER_NAMES)}\n"
        )
        return path


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            dst.close()
