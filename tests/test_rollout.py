"""controller.rollout: blame a revision only when an earlier one was watched and stayed clean."""

from __future__ import annotations

from leakpatrol.controller.verdict.rollout import (
    MIN_CLEAN_PASSES,
    RETAIN_SECONDS,
    PodRevision,
    Revision,
    RolloutMemory,
)

WEB = ("Deployment", "web")
R6 = Revision(6, "web-6b7c", ("shop/checkout:v2.3.0",))
R7 = Revision(7, "web-7d8e", ("shop/checkout:v2.3.1",))
LEAK = "IO wait|net/http.(*persistConn).readLoop"


def pods(rev: Revision, n: int, flagged: frozenset[str] = frozenset()) -> list[PodRevision]:
    return [PodRevision(rev, True, flagged) for _ in range(n)]


def test_a_leak_in_the_new_revision_only_is_blamed_on_it() -> None:
    memory = RolloutMemory()
    for t in range(MIN_CLEAN_PASSES):
        memory.observe(WEB, pods(R6, 1), float(t))
    memory.observe(WEB, pods(R7, 3, frozenset({LEAK})), 10.0)
    found = memory.introduced_by(WEB, {LEAK}, [7, 7, 7])
    assert found is not None and found.revision == R7 and found.previous == R6


def test_the_data_cannot_tell_so_nothing_is_said() -> None:
    memory = RolloutMemory()
    memory.observe(WEB, pods(R7, 3, frozenset({LEAK})), 0.0)
    assert memory.introduced_by(WEB, {LEAK}, [7]) is None  # no older revision ever seen
    memory.observe(WEB, pods(R6, MIN_CLEAN_PASSES - 1), 1.0)
    assert memory.introduced_by(WEB, {LEAK}, [7]) is None  # watched too briefly
    memory.observe(WEB, pods(R6, 1, frozenset({LEAK})), 2.0)
    assert memory.introduced_by(WEB, {LEAK}, [7]) is None  # revision 6 leaked too
    assert memory.introduced_by(WEB, {LEAK}, [6, 7]) is None  # leaking on both revisions


def test_an_old_revision_is_remembered_after_its_pods_are_gone_for_a_while() -> None:
    memory = RolloutMemory()
    memory.observe(WEB, pods(R6, MIN_CLEAN_PASSES), 0.0)
    memory.observe(WEB, pods(R7, 1, frozenset({LEAK})), RETAIN_SECONDS - 1)
    memory.forget(RETAIN_SECONDS - 1)
    assert memory.introduced_by(WEB, {LEAK}, [7]) is not None
    memory.forget(RETAIN_SECONDS + 10)
    assert memory.introduced_by(WEB, {LEAK}, [7]) is None
