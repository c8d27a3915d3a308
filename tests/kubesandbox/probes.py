"""Liveness, readiness and startup probes, as the kubelet's prober runs them.

httpGet (2xx/3xx is success; `host`, `scheme`, `httpHeaders`, named ports), tcpSocket and exec
(the command run like the container's, with its environment; its exit status decides), with
initialDelaySeconds, periodSeconds, timeoutSeconds, successThreshold and failureThreshold. A
startup probe holds the others back until it succeeds. The failure texts and Events are the
kubelet's: `Unhealthy` "Liveness probe failed: HTTP probe failed with statuscode: 500", then
`Killing` "Container NAME failed liveness probe, will be restarted".
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

KINDS = (("startupProbe", "Startup"), ("livenessProbe", "Liveness"), ("readinessProbe", "Readiness"))


@dataclass(frozen=True, slots=True)
class Timing:
    initial_delay: float
    period: float
    timeout: float
    success_threshold: int
    failure_threshold: int

    @classmethod
    def of(cls, probe: dict[str, Any]) -> Timing:
        return cls(
            float(probe.get("initialDelaySeconds", 0)),
            float(probe.get("periodSeconds", 10)),
            float(probe.get("timeoutSeconds", 1)),
            int(probe.get("successThreshold", 1)),
            int(probe.get("failureThreshold", 3)),
        )


def port_of(container: dict[str, Any], port: int | str) -> int:
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"unknown port name {port!r}")


async def check(probe: dict[str, Any], container: dict[str, Any], ip: str, env: dict[str, str]) -> str | None:
    """One probe: None when it succeeds, else the kubelet's words for the failure."""
    timeout = Timing.of(probe).timeout
    try:
        if "httpGet" in probe:
            return await _http(probe["httpGet"], container, ip, timeout)
        if "tcpSocket" in probe:
            return await _tcp(probe["tcpSocket"], container, ip, timeout)
        if "exec" in probe:
            return await _exec(probe["exec"].get("command") or [], env, timeout)
    except ValueError as exc:
        return str(exc)
    return None  # no handler: the kubelet counts such a probe as a success


async def _http(get: dict[str, Any], container: dict[str, Any], ip: str, seconds: float) -> str | None:
    scheme = str(get.get("scheme", "HTTP")).lower()
    host = get.get("host") or ip
    url = f"{scheme}://{host}:{port_of(container, get.get('port', 80))}{get.get('path', '/')}"
    headers = {h["name"]: h["value"] for h in get.get("httpHeaders") or []}
    headers.setdefault("User-Agent", "kube-probe/1.37")
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds)) as session,
            session.get(url, headers=headers, ssl=False, allow_redirects=False) as response,
        ):
            await response.read()
            if 200 <= response.status < 400:
                return None
            return f"HTTP probe failed with statuscode: {response.status}"
    except TimeoutError:
        return f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
    except aiohttp.ClientError as exc:
        port = url.split(":")[2].split("/", maxsplit=1)[0]
        return f'Get "{url}": dial tcp {host}:{port}: connect: {_reason(exc)}'


async def _tcp(sock: dict[str, Any], container: dict[str, Any], ip: str, seconds: float) -> str | None:
    host, port = sock.get("host") or ip, port_of(container, sock.get("port", 0))
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), seconds)
    except TimeoutError:
        return f"dial tcp {host}:{port}: i/o timeout"
    except OSError as exc:
        return f"dial tcp {host}:{port}: connect: {_reason(exc)}"
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None


async def _exec(command: list[str], env: dict[str, str], seconds: float) -> str | None:
    try:
        proc = await asyncio.create_subprocess_exec(
            *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
    except OSError as exc:
        return f"exec failed: {exc}"
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), seconds)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return f"command timed out: {command!r} timed out after {seconds:g}s"
    return None if proc.returncode == 0 else out.decode(errors="replace").strip()


def _reason(exc: BaseException) -> str:
    """Go's words for a failed dial (`connection refused`), not Python's."""
    error = getattr(exc, "os_error", None) or exc
    if isinstance(error, OSError) and error.errno is not None:
        return os.strerror(error.errno).lower()
    return str(error)


class Prober:
    """Runs one container's probes until cancelled. `on_ready(bool)` reports readiness changes,
    `on_started()` the startup probe's success, `kill(kind)` a failed liveness/startup probe, and
    `event(reason, message, type)` posts the kubelet's Events."""

    def __init__(
        self,
        container: dict[str, Any],
        ip: str,
        env: dict[str, str],
        *,
        on_ready: Callable[[bool], None],
        on_started: Callable[[], None],
        kill: Callable[[str], None],
        event: Callable[[str, str, str], None],
    ) -> None:
        self.container, self.ip, self.env = container, ip, env
        self.on_ready, self.on_started, self.kill, self.event = on_ready, on_started, kill, event

    async def run(self) -> None:
        startup = self.container.get("startupProbe")
        if startup is not None and not await self._loop(
            "startupProbe", "Startup", startup, until_success=True
        ):
            return
        self.on_started()
        loops = [
            self._loop(key, words, self.container[key])
            for key, words in KINDS[1:]
            if self.container.get(key) is not None
        ]
        await asyncio.gather(*loops)

    async def _loop(
        self, key: str, words: str, probe: dict[str, Any], *, until_success: bool = False
    ) -> bool:
        timing = Timing.of(probe)
        await asyncio.sleep(timing.initial_delay)
        successes = failures = 0
        ready: bool | None = None
        while True:
            failure = await check(probe, self.container, self.ip, self.env)
            if failure is None:
                successes, failures = successes + 1, 0
            else:
                successes, failures = 0, failures + 1
                self.event("Unhealthy", f"{words} probe failed: {failure}", "Warning")
            if key == "readinessProbe":
                if successes >= timing.success_threshold and ready is not True:
                    ready = True
                    self.on_ready(True)
                elif failures >= timing.failure_threshold and ready is not False:
                    ready = False
                    self.on_ready(False)
            elif failure is None and until_success:
                return True
            elif failures >= timing.failure_threshold:
                name = self.container["name"]
                self.event(
                    "Killing", f"Container {name} failed {words.lower()} probe, will be restarted", "Normal"
                )
                self.kill(words)
                return False
            await asyncio.sleep(timing.period)
