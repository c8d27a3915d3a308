"""A light pprof server standing in for hundreds of pods: one asyncio process, one socket per pod IP.

`python tests/lightpods.py PORTFILE SERIES=IP,IP,... [SERIES=IP,...]` listens on every IP at one
free port and serves `/debug/pprof/goroutine` from the recorded corpus series named for that IP
(`tests/corpus/<SERIES>`, or one profile file by its path), one sample further per request (the
last one repeated after the end),
so each pod's series advances exactly as often as it is fetched. It writes `PORT <port> CONTROL
<port>` to PORTFILE; `GET /fetches` on 127.0.0.1:CONTROL answers `{ip: [unix times of fetches]}`:
the fetches counted at the pods. Real Go processes would cost ~15 MB and a core-share each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from pathlib import Path

CORPUS = Path(__file__).parent / "corpus"
LIFETIME = 1200.0  # exits by itself after this, whatever the test does


class Pods:
    def __init__(self, series_of: dict[str, str]) -> None:
        cache: dict[str, list[bytes]] = {}
        for name in set(series_of.values()):
            if Path(name).is_file():  # one profile served every time (the benchmark's big one)
                cache[name] = [Path(name).read_bytes()]
                continue
            files = sorted((CORPUS / name).glob("*.goroutine.pb.gz"), key=lambda f: int(f.name.split(".")[0]))
            cache[name] = [f.read_bytes() for f in files]
        self.bodies = {ip: cache[name] for ip, name in series_of.items()}
        self.fetches: dict[str, list[float]] = {ip: [] for ip in series_of}

    def response(self, ip: str, path: bytes) -> bytes:
        if path != b"/debug/pprof/goroutine" or ip not in self.bodies:
            return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        done = self.fetches[ip]
        done.append(time.time())
        bodies = self.bodies[ip]
        body = bodies[min(len(done) - 1, len(bodies) - 1)]
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n"
        return head % len(body) + body


class _Http(asyncio.Protocol):
    """Keep-alive GETs: the path is all that is read."""

    def __init__(self, answer: object) -> None:
        self.answer = answer
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            parts = head.split(b"\r\n", 1)[0].split(b" ")
            path = parts[1].split(b"?", 1)[0] if len(parts) == 3 else b""
            ip = self.transport.get_extra_info("sockname")[0]
            self.transport.write(self.answer(ip, path))  # type: ignore[operator]


async def main(portfile: str, groups: list[str]) -> None:
    series_of = {
        ip: name for g in groups for name, _, ips in [g.partition("=")] for ip in ips.split(",") if ip
    }
    pods = Pods(series_of)
    loop = asyncio.get_running_loop()
    ips = sorted(series_of)
    first = await loop.create_server(lambda: _Http(pods.response), ips[0], 0)
    port = first.sockets[0].getsockname()[1]
    rest = await loop.create_server(lambda: _Http(pods.response), ips[1:], port) if ips[1:] else None

    def control(_: str, path: bytes) -> bytes:
        body = json.dumps(pods.fetches).encode() if path == b"/fetches" else b"{}"
        return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body

    ctl = await loop.create_server(lambda: _Http(control), "127.0.0.1", 0)
    Path(portfile).write_text(f"PORT {port} CONTROL {ctl.sockets[0].getsockname()[1]}\n")  # noqa: ASYNC240 - once
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), LIFETIME)
    for server in (first, rest, ctl):
        if server is not None:
            server.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2:]))
