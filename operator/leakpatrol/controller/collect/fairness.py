"""`FairShare`: the operator's fetch-and-parse slots, shared round-robin between tenants, each
tenant holding at most its share.

One operator serves every namespace. With a plain semaphore, slots go to whoever asks first and
most: a namespace with 50 policies on the same pods queues hundreds of fetches and every other
tenant waits behind them (measured: other passes went from 0.5 s to 3.7 s). Here each tenant
(a namespace) has its own queue and a freed slot goes to the next tenant in turn, so a tenant
asking for 3 slots waits for at most one slot per busier tenant ahead of it, never for the
busy tenant's whole backlog.

Turns alone only decide who gets a *freed* slot: a tenant whose pods answer a byte every few
seconds holds every slot it got until its fetches time out, and the others wait that long for the
first one to come free (measured: a quiet tenant's pass went from 0.01 s to 29.5 s beside 100 such
pods). So a tenant never holds more than its share: `per_tenant` (the admin's cap,
`--per-namespace-fetches`), and no more than an equal part of the capacity among the tenants that
hold or want slots right now. A tenant alone may use up to its cap; when another arrives, the
first tenant gets no new slot until it is down to its part, and whatever the cap leaves free is
there for the newcomer at once.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class FairShare:
    def __init__(self, capacity: int, per_tenant: int | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        if per_tenant is not None and per_tenant < 1:
            raise ValueError(f"per_tenant must be at least 1, got {per_tenant}")
        self.capacity = capacity
        self.per_tenant = min(per_tenant or capacity, capacity)
        self.busy = 0
        self.held: dict[str, int] = {}  # slots each tenant holds now
        self._queues: dict[str, deque[asyncio.Future[None]]] = {}
        self._turns: deque[str] = deque()  # tenants with waiters, in the order they are served

    @asynccontextmanager
    async def slot(self, tenant: str) -> AsyncIterator[None]:
        await self._acquire(tenant)
        try:
            yield
        finally:
            self._release(tenant)

    def waiting(self, tenant: str | None = None) -> int:
        queues = self._queues.values() if tenant is None else [self._queues.get(tenant, deque())]
        return sum(1 for q in queues for f in q if not f.done())

    def share(self, tenant: str) -> int:
        """The most `tenant` may hold now: the cap, and an equal part among the active tenants."""
        active = set(self.held) | set(self._queues) | {tenant}
        return min(self.per_tenant, max(1, self.capacity // len(active)))

    async def _acquire(self, tenant: str) -> None:
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if tenant not in self._queues:
            self._queues[tenant] = deque()
            self._turns.append(tenant)
        self._queues[tenant].append(granted)
        self._grant()  # a free slot within its share: granted now, without waiting
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._release(tenant)  # granted just as we were cancelled: pass the slot on
            raise

    def _release(self, tenant: str) -> None:
        self.busy -= 1
        self.held[tenant] -= 1
        if not self.held[tenant]:
            del self.held[tenant]
        self._grant()

    def _grant(self) -> None:
        at_share: list[str] = []  # tenants in line that hold their share already: they keep their place
        while self.busy < self.capacity and self._turns:
            tenant = self._turns.popleft()
            queue = self._queues[tenant]
            while queue and queue[0].cancelled():
                queue.popleft()
            if not queue:
                del self._queues[tenant]
                continue
            if self.held.get(tenant, 0) >= self.share(tenant):
                at_share.append(tenant)
                continue
            granted = queue.popleft()
            if queue:
                self._turns.append(tenant)  # back of the line: the other tenants go first
            else:
                del self._queues[tenant]
            self.busy += 1
            self.held[tenant] = self.held.get(tenant, 0) + 1
            granted.set_result(None)
        self._turns.extendleft(reversed(at_share))
