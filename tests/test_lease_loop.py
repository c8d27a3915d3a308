"""The Lease loop in time, as leader election and as sharding membership use it, against a fake of
the Lease API (an `ApiClient` stand-in that serves coordination.k8s.io/v1 Leases in memory with
resourceVersion preconditions, like the API server's). The pure decisions: tests/test_leadership.py."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from leakpatrol import metrics
from leakpatrol.kube import errors
from leakpatrol.runtime.health import Health
from leakpatrol.runtime.leadership import Leadership
from leakpatrol.runtime.lease_loop import LeaseConfig
from leakpatrol.runtime.membership import Membership

PREFIX = "/apis/coordination.k8s.io/v1/namespaces/home/leases"


class FakeLeaseApi:
    """The four verbs of `leakpatrol.kube.leases` on one namespace's Leases; `down` fails them all."""

    def __init__(self) -> None:
        self.leases: dict[str, dict[str, Any]] = {}
        self.rv = 0
        self.down = False

    def _check(self, verb: str) -> None:
        if self.down:
            raise errors.ApiUnavailable(f"{verb} leases: ConnectionRefused")

    def _name(self, path: str) -> str:
        assert path.startswith(PREFIX + "/"), path
        return path.removeprefix(PREFIX + "/")

    async def get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        self._check("GET")
        if path == PREFIX:  # a LIST by label selector (k=v only)
            wanted = dict(term.split("=") for term in (params or {})["labelSelector"].split(","))
            items = [o for o in self.leases.values() if wanted.items() <= o["metadata"]["labels"].items()]
            return {"items": [self._copy(o) for o in items]}
        if (obj := self.leases.get(self._name(path))) is None:
            raise errors.NotFound(404, "NotFound", path)
        return self._copy(obj)

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self._check("POST")
        assert path == PREFIX, path
        if body["metadata"]["name"] in self.leases:
            raise errors.Conflict(409, "AlreadyExists", "exists")
        return self._store(body)

    async def put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self._check("PUT")
        stored = self.leases[self._name(path)]
        if stored["metadata"]["resourceVersion"] != body["metadata"]["resourceVersion"]:
            raise errors.Conflict(409, "Conflict", "stale")
        return self._store(body)

    async def delete(self, path: str) -> dict[str, Any]:
        self._check("DELETE")
        if self.leases.pop(self._name(path), None) is None:
            raise errors.NotFound(404, "NotFound", path)
        return {}

    def holder(self, name: str) -> str | None:
        return self.leases[name]["spec"]["holderIdentity"] if name in self.leases else None

    def _store(self, body: dict[str, Any]) -> dict[str, Any]:
        self.rv += 1
        meta = body["metadata"]
        metadata = {"name": meta["name"], "resourceVersion": str(self.rv), "labels": meta.get("labels") or {}}
        self.leases[meta["name"]] = {"metadata": metadata, "spec": dict(body["spec"])}
        return self._copy(self.leases[meta["name"]])

    @staticmethod
    def _copy(obj: dict[str, Any]) -> dict[str, Any]:
        return {"metadata": dict(obj["metadata"]), "spec": dict(obj["spec"])}


@pytest.fixture
def fake() -> FakeLeaseApi:
    return FakeLeaseApi()


def gauge(g: Any) -> float:
    return float(g._value.get())


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def leader(fake: FakeLeaseApi, me: str, now: list[float], retry: float = 2) -> Leadership:
    return Leadership(fake, LeaseConfig("home", "lp", me, 15, 10, retry), clock=lambda: now[0])  # type: ignore[arg-type]


def member(fake: FakeLeaseApi, me: str, now: list[float], retry: float = 2) -> Membership:
    return Membership(fake, LeaseConfig("home", "lp", me, 15, 10, retry), clock=lambda: now[0])  # type: ignore[arg-type]


# --- leader election --------------------------------------------------------------------------
async def test_one_of_two_leads_and_a_leader_that_cannot_renew_steps_down(
    fake: FakeLeaseApi, caplog: pytest.LogCaptureFixture
) -> None:
    now = [0.0]
    a, b = leader(fake, "a", now), leader(fake, "b", now)
    await a.step()
    await b.step()
    assert a.scans and not b.scans and fake.holder("lp") == "a"
    assert gauge(metrics.LEADER) == 1  # the last to change it: a gained, b never had it
    changed = a.changed
    fake.down = True  # the API server is unreachable: a keeps leading until its renew deadline
    caplog.set_level(logging.DEBUG)
    for t in (3.0, 6.0, 9.0):
        now[0] = t
        await a.step()
        assert a.scans and not changed.is_set()
    assert len(warnings(caplog)) == 1  # one warning per run of failures, not one per try
    now[0] = 10.5
    await a.step()
    assert not a.scans and changed.is_set()  # sleepers (the scan daemons) were woken
    assert gauge(metrics.LEADER) == 0 and "lost the lease" in warnings(caplog)[-1]
    fake.down = False
    await a.step()  # its Lease, still: renewed, leading again
    assert a.scans and any("answers again" in r.getMessage() for r in caplog.records)


async def test_release_lets_the_standby_take_over_at_its_next_try(fake: FakeLeaseApi) -> None:
    now = [0.0]
    a, b = leader(fake, "a", now), leader(fake, "b", now)
    await a.step()
    await b.step()
    await a.release()
    assert not a.scans and fake.holder("lp") == ""
    await b.step()
    assert b.scans and fake.leases["lp"]["spec"]["leaseTransitions"] == 1
    await a.release()  # again (the cleanup handler, then the loop's end): no write
    assert fake.holder("lp") == "b"


async def test_the_loop_leads_then_gives_the_lease_up_when_stopped(fake: FakeLeaseApi) -> None:
    a = Leadership(fake, LeaseConfig("home", "lp", "a", 15, 10, 0.01))  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(a.run(stop))
    await asyncio.wait_for(a.wait_scanning(), 5)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert not a.scans and fake.holder("lp") == ""


async def test_a_resigned_leader_never_takes_the_lease_again(fake: FakeLeaseApi) -> None:
    now = [0.0]
    a = leader(fake, "a", now)
    await a.step()
    await a.resign()
    assert fake.holder("lp") == ""
    await a.step()
    assert not a.scans and fake.holder("lp") == ""


async def test_resigning_while_a_renewal_is_on_the_wire_does_not_scan_again(fake: FakeLeaseApi) -> None:
    now = [0.0]
    a = leader(fake, "a", now)
    await a.step()
    assert a.scans
    gate, real_put = asyncio.Event(), fake.put

    async def slow_put(path: str, body: dict[str, Any]) -> dict[str, Any]:
        await gate.wait()
        return await real_put(path, body)

    fake.put = slow_put  # type: ignore[method-assign]
    now[0] = 3.0
    renewal = asyncio.create_task(a.step())
    await asyncio.sleep(0)
    resigning = asyncio.create_task(a.resign())
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(renewal, resigning)
    assert not a.scans


async def test_without_leader_election_this_replica_leads_from_the_start() -> None:
    always = Leadership.always()
    assert always.scans
    stop = asyncio.Event()
    task = asyncio.create_task(always.run(stop))
    stop.set()
    await asyncio.wait_for(task, 5)
    await always.resign()  # nothing to give up
    assert always.scans


# --- membership (--sharding) ------------------------------------------------------------------
async def test_a_member_scans_after_settling_and_sees_the_others(fake: FakeLeaseApi) -> None:
    now = [0.0]
    a, b = member(fake, "a", now), member(fake, "b", now)
    await a.step()
    name = a.lease_name
    assert fake.holder(name) == "a" and fake.leases[name]["metadata"]["labels"] == a.labels
    assert not a.scans and gauge(metrics.MEMBERS) == 0  # joined, not settled (two retries)
    now[0] = 2.0
    await a.step()
    assert not a.scans
    now[0] = 4.0
    await a.step()
    assert a.scans and a.assignment().members == {"a"} and gauge(metrics.MEMBERS) == 1
    await b.step()  # b joins: it sees a, a sees b at its next try and is woken to hand shards over
    assert b.members == {"a", "b"} and not b.scans and b.assignment().members == {"a"}
    changed = a.changed
    now[0] = 6.0
    await a.step()
    assert changed.is_set() and a.assignment().members == {"a", "b"} and gauge(metrics.MEMBERS) == 2


async def test_a_member_that_cannot_renew_stops_scanning_warning_once(
    fake: FakeLeaseApi, caplog: pytest.LogCaptureFixture
) -> None:
    now = [0.0]
    a = member(fake, "a", now)
    for t in (0.0, 2.0, 4.0):
        now[0] = t
        await a.step()
    assert a.scans
    caplog.set_level(logging.DEBUG)
    fake.down = True
    for t in (6.0, 8.0, 10.0, 14.0):
        now[0] = t
        await a.step()
        assert a.scans  # not past the renew deadline (10 s since the renewal at 4)
    assert len(warnings(caplog)) == 1
    changed = a.changed
    now[0] = 14.5
    await a.step()
    assert not a.scans and changed.is_set() and gauge(metrics.MEMBERS) == 0
    assert len(warnings(caplog)) == 2 and "not renewed" in warnings(caplog)[-1]
    fake.down = False
    now[0] = 16.0
    await a.step()  # renewed again: a new term, settling again before it scans
    assert not a.scans and any("answers again" in r.getMessage() for r in caplog.records)
    now[0] = 20.0
    await a.step()
    assert a.scans


async def test_a_member_gives_its_lease_up_on_shutdown_and_the_others_drop_it(fake: FakeLeaseApi) -> None:
    now = [0.0]
    a, b = member(fake, "a", now), member(fake, "b", now)
    await a.step()
    await b.step()
    assert b.members == {"a", "b"}
    await a.resign()
    assert not a.scans and fake.holder(a.lease_name) == ""
    await a.step()  # resigned: never renews again
    assert fake.holder(a.lease_name) == ""
    await b.step()
    assert b.members == {"b"}  # a released: dropped at once, not after its duration


async def test_the_member_loop_scans_then_gives_the_lease_up_when_stopped(fake: FakeLeaseApi) -> None:
    a = Membership(fake, LeaseConfig("home", "lp", "a", 15, 10, 0.01))  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(a.run(stop))
    await asyncio.wait_for(a.wait_scanning(), 5)
    assert a.assignment().members == {"a"}
    stop.set()
    await asyncio.wait_for(task, 5)
    assert not a.scans and fake.holder(a.lease_name) == ""


async def test_our_member_lease_held_live_by_another_is_waited_for(fake: FakeLeaseApi) -> None:
    now = [0.0]
    a = member(fake, "a", now)
    fake._store({"metadata": {"name": a.lease_name, "labels": a.labels}, "spec": {"holderIdentity": "x"}})
    fake.leases[a.lease_name]["spec"]["leaseDurationSeconds"] = 15
    for t in (0.0, 2.0, 4.0):
        now[0] = t
        await a.step()
    assert not a.scans and fake.holder(a.lease_name) == "x" and a.assignment().members == {"x"}


# --- both -------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [leader, member], ids=["leadership", "membership"])
async def test_giving_up_is_best_effort_when_the_api_server_is_gone(
    make: Any, fake: FakeLeaseApi, caplog: pytest.LogCaptureFixture
) -> None:
    now = [0.0]
    loop = make(fake, "a", now, retry=0)  # settles at once
    await loop.step()
    assert loop.scans
    fake.down = True
    caplog.set_level(logging.INFO)
    await loop.resign()  # shutting down must not hang on, or fail of, a release that cannot happen
    assert not loop.scans and fake.holder(loop.lease_name) == "a"
    assert any("not released" in r.getMessage() for r in caplog.records)
    assert not warnings(caplog)  # a loss on resigning is meant: no warning


async def test_a_missing_home_namespace_fails_readiness_and_says_why(
    fake: FakeLeaseApi, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 21: with its home namespace missing the operator never scanned while /readyz said 200
    (`standby`). The Lease cannot be created there; readiness fails and names the namespace."""
    now = [0.0]
    a = leader(fake, "a", now)
    create = fake.post

    async def no_namespace(path: str, body: dict[str, Any]) -> dict[str, Any]:
        raise errors.NotFound(404, "NotFound", 'namespaces "home" not found')

    fake.post = no_namespace  # type: ignore[method-assign]
    await a.step()
    assert not a.scans and a.blocked is not None
    assert "namespace home does not exist" in a.blocked and "--home-namespace" in a.blocked
    report = Health(started=0.0, logged_in=True, listed=True).ready(a.blocked)
    assert not report.ok and report.text() == a.blocked
    fake.down = True  # an outage is not a reason to be unready: it passes
    await a.step()
    assert a.blocked is None
    fake.down, fake.post = False, create  # type: ignore[method-assign]
    await a.step()
    assert a.scans and a.blocked is None
    assert Health(started=0.0, logged_in=True, listed=True).ready(a.blocked).ok
