"""Leader election as pure decisions (kube.leadership) and the Lease loop (runtime.leadership) in time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leakpatrol.kube import errors
from leakpatrol.kube.leadership import LeaseMove, LeaseState, Observation, decide, is_live, observe, released

T0 = datetime(2026, 11, 30, 8, 0, 0, tzinfo=UTC)


def lease(holder: str, rv: str = "1", duration: int = 15, transitions: int = 0) -> LeaseState:
    raw = {
        "metadata": {"resourceVersion": rv},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration, "leaseTransitions": transitions},
    }
    return LeaseState.of(raw)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_no_lease_is_acquired() -> None:
    d = decide(None, "a", T0, 15, None)
    assert d.verdict is LeaseMove.ACQUIRE and d.observation is None
    assert d.spec is not None and d.spec["holderIdentity"] == "a" and d.spec["leaseTransitions"] == 0
    assert d.spec["leaseDurationSeconds"] == 15 and d.spec["renewTime"] == "2026-11-30T08:00:00.000000Z"


def test_own_lease_is_renewed_keeping_acquire_time_and_transitions() -> None:
    mine = LeaseState("a", 15, 3, "7", acquired="2026-11-30T07:00:00.000000Z")
    d = decide(mine, "a", at(5), 15, None)
    assert d.verdict is LeaseMove.RENEW and d.spec is not None
    assert d.spec["acquireTime"] == "2026-11-30T07:00:00.000000Z" and d.spec["leaseTransitions"] == 3
    assert d.spec["renewTime"] == "2026-11-30T08:00:05.000000Z"


def test_a_live_lease_of_another_is_waited_for_then_taken_over() -> None:
    theirs = lease("b", rv="5", transitions=2)
    first = decide(theirs, "a", T0, 15, None)
    assert first.verdict is LeaseMove.STAND_BY and first.spec is None
    # Unchanged for 14 s (on our clock): still theirs.
    assert decide(theirs, "a", at(14), 15, first.observation).verdict is LeaseMove.STAND_BY
    late = decide(theirs, "a", at(15.5), 15, first.observation)
    assert late.verdict is LeaseMove.TAKE_OVER
    assert late.spec is not None and late.spec["holderIdentity"] == "a" and late.spec["leaseTransitions"] == 3


def test_a_renewed_lease_restarts_the_clock_whatever_its_renew_time_says() -> None:
    """Expiry is measured on our clock from when the Lease last changed: clock skew cannot matter."""
    seen = decide(lease("b", rv="5"), "a", T0, 15, None).observation
    renewed = decide(lease("b", rv="6"), "a", at(14), 15, seen)
    assert renewed.verdict is LeaseMove.STAND_BY
    assert renewed.observation == Observation("6", at(14))
    assert decide(lease("b", rv="6"), "a", at(28), 15, renewed.observation).verdict is LeaseMove.STAND_BY
    assert decide(lease("b", rv="6"), "a", at(29.5), 15, renewed.observation).verdict is LeaseMove.TAKE_OVER


def test_a_released_lease_is_taken_over_at_once() -> None:
    gone = LeaseState.of({"metadata": {"resourceVersion": "9"}, "spec": released(lease("b"), T0)})
    assert gone.holder == "" and gone.duration == 1
    assert decide(gone, "a", T0, 15, None).verdict is LeaseMove.TAKE_OVER


def test_is_live_and_observe() -> None:
    theirs = lease("b", rv="1", duration=10)
    seen = observe(theirs, None, T0)
    assert seen is not None and observe(theirs, seen, at(5)) is seen
    assert is_live(theirs, seen, at(9.9)) and not is_live(theirs, seen, at(10))
    assert observe(None, seen, T0) is None


# --- the loop, against a fake of the three verbs -----------------------------------------------
class FakeLeases:
    """One Lease with resourceVersion preconditions, like the API server's."""

    def __init__(self) -> None:
        self.obj: dict[str, Any] | None = None
        self.rv = 0
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise errors.ApiUnavailable("GET leases: ConnectionRefused")

    async def get(self, _api: Any, _ns: str, _name: str) -> dict[str, Any] | None:
        self._check()
        return (
            None if self.obj is None else {"metadata": dict(self.obj["metadata"]), "spec": self.obj["spec"]}
        )

    async def create(self, _api: Any, _ns: str, _name: str, spec: dict[str, Any]) -> dict[str, Any]:
        self._check()
        if self.obj is not None:
            raise errors.Conflict(409, "AlreadyExists", "exists")
        return self._store(spec)

    async def replace(self, _api: Any, _ns: str, _name: str, spec: dict[str, Any], rv: str) -> dict[str, Any]:
        self._check()
        assert self.obj is not None
        if self.obj["metadata"]["resourceVersion"] != rv:
            raise errors.Conflict(409, "Conflict", "stale")
        return self._store(spec)

    def _store(self, spec: dict[str, Any]) -> dict[str, Any]:
        self.rv += 1
        self.obj = {"metadata": {"resourceVersion": str(self.rv)}, "spec": spec}
        return self.obj


@pytest.fixture
def leases(monkeypatch: pytest.MonkeyPatch) -> FakeLeases:
    from leakpatrol.runtime import leadership  # noqa: PLC0415

    fake = FakeLeases()
    monkeypatch.setattr(leadership, "get_lease", fake.get)
    monkeypatch.setattr(leadership, "create_lease", fake.create)
    monkeypatch.setattr(leadership, "replace_lease", fake.replace)
    return fake


async def test_one_of_two_leads_and_a_leader_that_cannot_renew_steps_down(leases: FakeLeases) -> None:
    from leakpatrol.runtime.leadership import Leadership, LeaseConfig  # noqa: PLC0415

    now = [0.0]
    a = Leadership(object(), LeaseConfig("home", "lp", "a", 15, 10, 2), clock=lambda: now[0])  # type: ignore[arg-type]
    b = Leadership(object(), LeaseConfig("home", "lp", "b", 15, 10, 2), clock=lambda: now[0])  # type: ignore[arg-type]
    await a.step()
    await b.step()
    assert a.is_leader and not b.is_leader
    changed = a.changed
    leases.down = True  # the API server is unreachable: a keeps leading until its renew deadline
    now[0] = 9.0
    await a.step()
    assert a.is_leader
    now[0] = 10.5
    await a.step()
    assert not a.is_leader and changed.is_set()  # sleepers (the scan daemons) were woken


async def test_release_lets_the_standby_take_over_at_its_next_try(leases: FakeLeases) -> None:
    from leakpatrol.runtime.leadership import Leadership, LeaseConfig  # noqa: PLC0415

    a = Leadership(object(), LeaseConfig("home", "lp", "a"))  # type: ignore[arg-type]
    b = Leadership(object(), LeaseConfig("home", "lp", "b"))  # type: ignore[arg-type]
    await a.step()
    await b.step()
    await a.release()
    assert not a.is_leader and leases.obj is not None and leases.obj["spec"]["holderIdentity"] == ""
    await b.step()
    assert b.is_leader and leases.obj["spec"]["leaseTransitions"] == 1
