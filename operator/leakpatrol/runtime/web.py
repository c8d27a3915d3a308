"""/metrics for Prometheus, /healthz (liveness) and /readyz (readiness) for the kubelet's probes,
served on the operator's own loop: a wedged loop answers nothing, and the probe fails on its timeout."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from leakpatrol.metrics import REGISTRY
from leakpatrol.runtime.health import HealthReport

Probe = Callable[[], HealthReport]


async def _metrics(_: web.Request) -> web.Response:
    body = generate_latest(REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _probe(
    check: Probe, extra: Callable[[], str] = lambda: ""
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(_: web.Request) -> web.Response:
        verdict = check()
        text = "\n".join(filter(None, (verdict.text(), extra())))
        return web.Response(text=text, status=200 if verdict.ok else 503)

    return handle


async def start(
    host: str, port: int, live: Probe, ready: Probe, role: Callable[[], str] = lambda: ""
) -> web.AppRunner:
    """`role()` adds a line to /readyz for people ("leader" or "standby"); it never fails a probe."""
    app = web.Application()
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _probe(live))
    app.router.add_get("/readyz", _probe(ready, role))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
