"""`ByteBudget`: the bytes of pod profiles one operator process holds at once, across every tenant.

A per-body cap is not a memory bound: 32 fetches in flight at a 32 MiB cap each are a gigabyte,
and a body is held until it is parsed. So every fetch takes a *share* of one process-wide budget:
a first quantum up front (waiting until one is free: a waiter holds nothing) and the rest as the
body streams in. A fetch that cannot grow may wait for more only if no other fetch is already
waiting to grow (the one "lane"); otherwise it fails at once with `ProfileBufferFull`, a
Temporary: the target backs off and is asked again. So at most one holder ever waits, for bytes
the others give back as they finish or fail: no set of fetches can hold the budget while waiting
on each other, and big bodies still complete one at a time instead of all failing together.
A share is given back when the caller is done with the bytes (after parsing), not when the
download ends.

Bottom layer: asyncio only, so the fetcher (kube) and the sampler (controller) share the type.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from leakpatrol.core import Temporary
from leakpatrol.reasons import Reason

QUANTUM = 1 << 20  # what any fetch may hold without asking again: most profiles are far smaller
PROFILE_BUFFER_BYTES = 64 << 20  # the default budget: the chart's 512 MiB limit keeps room for
# the process itself (~80 MiB) and its parser workers


class ProfileBufferFull(Temporary):
    """The operator already holds its budget of profile bytes: this body would go over it."""

    reason = Reason.PROFILE_BUFFER_FULL


class Share:
    """One fetch's part of the budget; `grow` as the body arrives, given back on exit."""

    def __init__(self, budget: ByteBudget, held: int) -> None:
        self.budget, self.held, self.used = budget, held, 0

    async def grow(self, n: int) -> None:
        """Account for `n` more bytes; raises `ProfileBufferFull` if the budget cannot give them."""
        self.used += n
        if self.used > self.held:
            more = max(self.used - self.held, QUANTUM)
            await self.budget.grow(self, more)
            self.held += more


class ByteBudget:
    def __init__(self, total: int) -> None:
        self.total = total
        self.in_use = 0
        self.peak = 0  # for the benchmark: the most ever held at once
        self.lane: Share | None = None  # the one holder allowed to wait for more
        self._waiters: list[asyncio.Future[None]] = []

    def _take_now(self, n: int) -> bool:
        if self.in_use + n > self.total:
            return False
        self.in_use += n
        self.peak = max(self.peak, self.in_use)
        return True

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _give_back(self, n: int) -> None:
        """Synchronous, so a cancelled fetch gives its share back too; every waiter re-checks."""
        self.in_use -= n
        self._wake()

    async def _wait_until(self, taken: Callable[[], bool]) -> None:
        while not taken():
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                self._waiters.remove(waiter)

    async def grow(self, share: Share, more: int) -> None:
        if self._take_now(more):
            return
        if self.lane is not None or share.held + more > self.total:
            raise ProfileBufferFull(
                f"the operator holds {self.in_use >> 20} MiB of profiles, its budget is"
                f" {self.total >> 20} MiB (--profile-buffer-mb): retried later"
            )
        self.lane = share
        try:
            await self._wait_until(lambda: self._take_now(more))
        finally:
            self.lane = None
            self._wake()  # new shares wait behind a waiting lane

    @asynccontextmanager
    async def share(self) -> AsyncIterator[Share]:
        first = min(QUANTUM, self.total)
        await self._wait_until(lambda: self.lane is None and self._take_now(first))
        share = Share(self, first)
        try:
            yield share
        finally:
            self._give_back(share.held)
