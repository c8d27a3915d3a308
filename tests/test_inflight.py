"""The operator's budget of profile bytes held at once: a bound across every fetch, not per body.

Real fetches (`kube.fetch.fetch_profile` against a local HTTP server serving incompressible
bodies with no Content-Length, chunked), many at once, as a hostile tenant's pods would serve."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import aiohttp.web
import httpx
import pytest
from localhttp import serving

from leakpatrol.inflight import QUANTUM, ByteBudget, ProfileBufferFull
from leakpatrol.kube.fetch import fetch_profile

BODY = os.urandom(6 << 20)  # incompressible


async def big(request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
    response = aiohttp.web.StreamResponse()  # chunked: no Content-Length to refuse it early
    await response.prepare(request)
    for i in range(0, len(BODY), 256 << 10):
        await response.write(BODY[i : i + (256 << 10)])
    await response.write_eof()
    return response


async def small(_: aiohttp.web.Request) -> aiohttp.web.Response:
    return aiohttp.web.Response(body=b"goroutine profile: total 1\n")


@pytest.fixture
async def pod_url() -> AsyncIterator[str]:
    async with serving({"/big": big, "/small": small}) as url:
        yield url


async def test_many_big_bodies_at_once_never_hold_more_than_the_budget(pod_url: str) -> None:
    budget = ByteBudget(16 << 20)
    outcomes: list[str] = []

    async def one(path: str) -> None:
        async with budget.share() as share:
            try:
                body = await fetch_profile(
                    http, f"{pod_url}{path}", max_bytes=32 << 20, timeout=httpx.Timeout(10), share=share
                )
                outcomes.append(f"{path}:{len(body)}")
            except ProfileBufferFull as exc:
                assert "budget is 16 MiB" in str(exc) and exc.retry_after is None
                outcomes.append("full")
            await asyncio.sleep(0.01)  # held until parsed, as the sampler holds it

    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=64)) as http:
        await asyncio.wait_for(asyncio.gather(*(one("/big") for _ in range(12)), one("/small")), 60)
    assert budget.peak <= budget.total and budget.in_use == 0
    assert "full" in outcomes  # 12 x 6 MiB cannot all be held at once
    assert outcomes.count(f"/big:{len(BODY)}") >= 1  # but big bodies still complete, one at a time
    assert any(o.startswith("/small:") for o in outcomes)  # a small body only waits for a quantum


async def test_a_share_is_given_back_on_error_and_on_cancellation() -> None:
    budget = ByteBudget(4 * QUANTUM)
    with pytest.raises(ProfileBufferFull):  # more than the whole budget: no use waiting
        async with budget.share() as share:
            await share.grow(3 * QUANTUM)
            await share.grow(2 * QUANTUM)
    assert budget.in_use == 0

    async def hold() -> None:
        async with budget.share() as share:
            await share.grow(4 * QUANTUM)
            await asyncio.sleep(10)

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(budget._wait_until(lambda: budget._take_now(QUANTUM)))  # all held
    await asyncio.sleep(0.01)
    assert not waiter.done()
    holder.cancel()
    await asyncio.wait_for(waiter, 1)  # the cancelled holder's share woke it
    assert budget.in_use == QUANTUM


async def test_one_holder_waits_to_grow_the_others_fail_fast_and_no_one_deadlocks() -> None:
    budget = ByteBudget(6 * QUANTUM)
    release_a, events = asyncio.Event(), []

    async def fetch(name: str, size: int, hold: asyncio.Event | None = None) -> None:
        async with budget.share() as share:
            try:
                await share.grow(size)
                events.append(f"{name} got {size // QUANTUM}")
                if hold is not None:
                    await hold.wait()
            except ProfileBufferFull:
                events.append(f"{name} full")

    a = asyncio.create_task(fetch("a", 4 * QUANTUM, release_a))
    await asyncio.sleep(0.01)
    b = asyncio.create_task(fetch("b", 3 * QUANTUM))  # cannot grow now: waits in the lane
    await asyncio.sleep(0.01)
    c = asyncio.create_task(fetch("c", 3 * QUANTUM))  # new shares wait behind the lane
    await asyncio.sleep(0.01)
    assert events == ["a got 4"] and budget.lane is not None
    release_a.set()
    await asyncio.wait_for(asyncio.gather(a, b, c), 1)
    assert events[:2] == ["a got 4", "b got 3"] and "c got 3" in events
    assert budget.in_use == 0 and budget.peak <= budget.total
