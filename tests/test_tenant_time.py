"""Time is what tenants share: a fetch slot held by one is waited for by all. A namespace holds at
most its share of the slots, a policy may not ask for longer timeouts than the admin allows, and a
pass that runs past its deadline is cut and said on its own policy (Degraded), never on the
operator's liveness. In memory, with the real scanner; tests/e2e/test_slow_tenants_e2e.py runs the
operator process beside a hundred slow pods."""

from __future__ import annotations

import asyncio
from typing import Any

from fakecluster import POLICY, Clock, FakeCluster, golden_server, running_pod, spec

from leakpatrol.controller.collect.fairness import FairShare
from leakpatrol.controller.ports import FetchOptions, ScanTarget
from leakpatrol.controller.scanner import PolicyScanner, SharedCapacity
from leakpatrol.inflight import Share


class Holders:
    """Tasks that each take a slot of `share` for a tenant and hold it until let go."""

    def __init__(self, share: FairShare) -> None:
        self.share = share
        self.tasks: list[asyncio.Task[None]] = []
        self.inside: list[tuple[str, asyncio.Event]] = []  # holders with a slot, oldest first

    def take(self, tenant: str, n: int = 1) -> None:
        self.tasks += [asyncio.create_task(self._hold(tenant)) for _ in range(n)]

    async def _hold(self, tenant: str) -> None:
        async with self.share.slot(tenant):
            gate = asyncio.Event()
            self.inside.append((tenant, gate))
            await gate.wait()

    def let_go(self, tenant: str) -> None:
        """The oldest holder of `tenant` gives its slot back."""
        i = next(i for i, (t, _) in enumerate(self.inside) if t == tenant)
        self.inside.pop(i)[1].set()

    @staticmethod
    async def settle() -> None:
        for _ in range(5):
            await asyncio.sleep(0)

    async def close(self) -> None:
        while self.inside or not all(t.done() for t in self.tasks):
            for _, gate in self.inside:
                gate.set()
            self.inside.clear()
            await self.settle()
        await asyncio.gather(*self.tasks)


async def test_a_namespace_holds_at_most_its_cap_and_a_newcomer_is_served_at_once() -> None:
    share = FairShare(4, per_tenant=2)
    h = Holders(share)
    h.take("slow", 10)  # a tenant whose fetches hang on: it asks for every slot there is
    await h.settle()
    assert share.held == {"slow": 2} and share.waiting("slow") == 8
    granted = asyncio.Event()

    async def quiet() -> None:
        async with share.slot("quiet"):
            granted.set()

    task = asyncio.create_task(quiet())
    await h.settle()
    assert granted.is_set()  # a free slot, without waiting for any of the slow ones to end
    await task
    await h.close()
    assert share.busy == 0 and share.held == {} and share.waiting() == 0


async def test_while_others_want_slots_a_tenant_gets_no_more_than_an_equal_part() -> None:
    share = FairShare(4)  # no cap of the admin's: alone, a tenant may use every slot
    h = Holders(share)
    h.take("hog", 6)
    await h.settle()
    assert share.held == {"hog": 4}
    h.take("quiet", 2)
    await h.settle()
    assert share.held == {"hog": 4}  # nothing is taken away from a holder ...
    h.let_go("hog")
    await h.settle()
    assert share.held == {"hog": 3, "quiet": 1}  # ... but what frees goes to the newcomer
    h.let_go("hog")
    await h.settle()
    assert share.held == {"hog": 2, "quiet": 2}  # down to its part (4 slots, 2 tenants): 2
    h.let_go("hog")
    await h.settle()
    assert share.held == {"hog": 2, "quiet": 2}  # the hog's waiters now take what it frees
    await h.close()
    assert share.busy == 0 and share.held == {}


async def test_timeouts_over_the_admins_maximum_are_refused_naming_the_field() -> None:
    cluster = FakeCluster([running_pod("web-1")])
    scan = PolicyScanner(cluster, POLICY, SharedCapacity(max_timeout=60.0), Clock())
    raw = spec() | {"target": {"port": "pprof", "timeouts": {"read": "10m", "total": "1h"}}}
    await scan.scan(cluster.body(raw))
    ready = cluster.condition("Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "spec.target.timeouts.total: 1h exceeds the operator's maximum of 1m" in ready["message"]
    assert "spec.target.timeouts.read: 10m" in ready["message"]
    assert "--max-target-timeout" in ready["message"]
    assert cluster.fetches == []  # nothing held a slot for it
    within = spec() | {"target": {"port": "pprof", "timeouts": {"total": "1m"}}}
    await scan.scan(cluster.body(within))
    assert cluster.condition("Ready")["reason"] == "Scanned"


class SlowPods(FakeCluster):
    """Pods named slow-* answer a byte now and then, forever (as badpprof -mode slow)."""

    def __init__(self, pods: list[Any]) -> None:
        super().__init__(pods)
        self.order: list[str] = []

    async def fetch(
        self, target: ScanTarget, path: str, options: FetchOptions, share: Share | None = None
    ) -> bytes:
        if target.name not in self.order:  # the pods in the order they were first asked
            self.order.append(target.name)
        if target.name.startswith("slow"):
            await asyncio.sleep(3600)
        return golden_server(target, path)


async def test_an_overdue_pass_is_cut_said_on_its_policy_and_its_unreached_pods_go_first() -> None:
    pods = [running_pod(name) for name in ("quick-1", "slow-1", "slow-2", "quick-2")]
    cluster = SlowPods(pods)
    capacity = SharedCapacity(per_policy=1)
    scan = PolicyScanner(cluster, POLICY, capacity, Clock())
    scan.pacing.deadline_intervals = 0.1  # the deadline: 0.1 interval + timeouts.total, 0.3 s here
    raw = spec() | {"schedule": {"interval": "1s", "jitter": "0%"}}
    raw["target"] = {"port": "pprof", "timeouts": {"connect": "100ms", "read": "200ms", "total": "200ms"}}
    await asyncio.wait_for(scan.scan(cluster.body(raw)), 5)
    assert cluster.order == ["quick-1", "slow-1"]  # one slot: slow-1 held it until the deadline
    degraded = cluster.condition("Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "PassesOverrun")
    assert cluster.status["targets"]["failing"] == 0  # cut short is not failing: it was not asked
    assert capacity.fetches.busy == 0 and capacity.fetches.held == {}  # every slot given back
    cluster.order.clear()
    await asyncio.wait_for(scan.scan(cluster.body(raw)), 5)
    assert cluster.order[0] == "slow-1"  # the ones the last pass did not reach go first
    assert cluster.condition("Degraded")["reason"] == "PassesOverrun"


async def test_a_pass_cancelled_mid_fetch_leaves_no_fetch_behind_and_gives_its_slots_back() -> None:
    cluster = SlowPods([running_pod("slow-1"), running_pod("slow-2")])
    capacity = SharedCapacity()
    scan = PolicyScanner(cluster, POLICY, capacity, Clock())
    raw = spec() | {"schedule": {"interval": "60s", "jitter": "0%"}}
    task = asyncio.create_task(scan.scan(cluster.body(raw)))
    for _ in range(500):  # until both fetches hold their slot
        if capacity.fetches.busy == 2:
            break
        await asyncio.sleep(0.01)
    before = {t for t in asyncio.all_tasks() if t is not task}
    task.cancel()  # the daemon stopping: the policy deleted, the operator shutting down
    await asyncio.gather(task, return_exceptions=True)
    assert capacity.fetches.busy == 0 and capacity.fetches.held == {}
    assert all(t.done() for t in before if "scan_target" in repr(t.get_coro()))
