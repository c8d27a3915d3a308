"""Leader election as pure decisions (kube.leadership); the Lease loop in time: tests/test_lease_loop.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
