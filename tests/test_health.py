"""The probes: liveness fails on a silent API server, never on a tenant's overdue pass; readiness
needs the login and the first list; /healthz and /readyz answer 503 with the reasons."""

from __future__ import annotations

import socket

import httpx

from leakpatrol.runtime import web
from leakpatrol.runtime.health import Health, HealthReport


def test_silence_from_the_api_server_fails_liveness() -> None:
    h = Health(started=0.0, stall_after=300)
    assert h.live(299).ok  # nothing heard yet, but not for long
    v = h.live(301)
    assert not v.ok and "nothing heard from the API server for 301s" in v.reasons[0]
    h.heard(300)
    assert h.live(599).ok
    assert not h.live(601).ok


def test_an_overdue_pass_is_said_but_never_fails_liveness() -> None:
    """A tenant's slow pods are its policy's problem (Degraded there): restarting the operator would
    not make them answer, and would stop every other tenant's scans with it."""
    h = Health(started=0.0, stall_after=1e9, slack=3, grace=10)
    h.pass_started("shop/a", 60, now=0)  # due by 3 x 60 + 10
    h.pass_done("shop/b", 30, now=0)  # due by 100
    assert h.live(100) == HealthReport(True)
    late = h.live(101)
    assert late.ok and late.notes == (
        "policy shop/b: scan pass overdue (said on the policy, not a liveness failure)",
    )
    assert late.text().startswith("ok\npolicy shop/b: scan pass overdue")
    h.pass_done("shop/b", 30, now=100)
    assert h.live(190).notes == ()
    assert h.live(191).ok and len(h.live(191).notes) == 1
    h.forget("shop/a")  # gone, or we stopped leading: nothing is owed
    assert h.live(195).notes == ()


def test_readiness_is_login_and_first_list() -> None:
    h = Health(started=0.0)
    assert not h.ready().ok and len(h.ready().reasons) == 2
    h.logged_in = True
    assert h.ready().reasons == ("LeakPolicies not listed yet (is the CRD installed, may we list it?)",)
    h.listed = True
    assert h.ready() == HealthReport(True)


async def test_endpoints_answer_503_with_the_reasons() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    state = {"live": HealthReport(False, ("nothing heard from the API server for 400s",))}
    runner = await web.start(
        "127.0.0.1", port, lambda: state["live"], lambda: HealthReport(True), lambda: "standby"
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            dead = await client.get("/healthz")
            assert dead.status_code == 503 and "400s" in dead.text
            state["live"] = HealthReport(True)
            assert (await client.get("/healthz")).status_code == 200
            ready = await client.get("/readyz")
            assert ready.status_code == 200 and ready.text == "ok\nstandby"
            assert (await client.get("/metrics")).status_code == 200
    finally:
        await runner.cleanup()
