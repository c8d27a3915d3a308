"""The pure decisions of sharding: rendezvous assignment, member liveness from Leases, status merge."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from leakpatrol.api import Finding, ShardReport, Targets, Workload
from leakpatrol.controller.shards.assignment import Assignment, rendezvous, shard_of
from leakpatrol.controller.shards.status import live_reports, merge_findings, merged_pass
from leakpatrol.core import LeakState, SignalKind
from leakpatrol.kube.leadership import holding
from leakpatrol.kube.membership import live_members, long_gone, member_lease_name

NOW = datetime(2030, 1, 1, tzinfo=UTC)
KEYS = [f"policy-{p}/{s}" for p in range(40) for s in range(16)]


def test_rendezvous_moves_only_the_work_of_the_member_that_came_or_went() -> None:
    three = ["a", "b", "c"]
    before = {k: rendezvous(k, three) for k in KEYS}
    assert set(Counter(before.values())) == set(three)
    assert min(Counter(before.values()).values()) > len(KEYS) / 3 * 0.8  # roughly even
    after_leave = {k: rendezvous(k, ["a", "b"]) for k in KEYS}
    moved = {k for k in KEYS if before[k] != after_leave[k]}
    assert moved == {k for k in KEYS if before[k] == "c"}  # only c's work moved
    after_join = {k: rendezvous(k, [*three, "d"]) for k in KEYS}
    moved = {k for k in KEYS if before[k] != after_join[k]}
    assert moved and all(after_join[k] == "d" for k in moved)  # only what d now wins
    assert rendezvous("x", []) is None
    assert rendezvous("x", ["c", "a", "b"]) == rendezvous("x", ["b", "c", "a"])  # order-free


def test_an_assignment_gives_every_shard_exactly_one_owner_and_one_coordinator() -> None:
    members = frozenset({"a", "b", "c"})
    views = {m: Assignment(m, members) for m in members}
    for policy in ("uid-1", "uid-2", "uid-3"):
        owned = [views[m].owned(policy) for m in sorted(members)]
        assert sorted(s for o in owned for s in o) == list(range(16))  # a partition
        assert sum(views[m].is_coordinator(policy) for m in members) == 1
    lonely = Assignment("z", members)  # not (yet) a member: holds nothing, speaks for nothing
    assert not lonely.active and lonely.owned("uid-1") == frozenset() and not lonely.is_coordinator("uid-1")
    alone = Assignment("a", frozenset({"a"}))
    assert alone.owned("uid-1") == frozenset(range(16)) and alone.is_coordinator("uid-1")
    assert {shard_of(f"pod-{i}", 16) for i in range(500)} == set(range(16))
    assert shard_of("pod-1", 16) == shard_of("pod-1", 16)


def _lease(name: str, holder: str, rv: str, duration: int = 10) -> dict[str, object]:
    spec = holding(holder, NOW, duration, 0) if holder else {"holderIdentity": "", "leaseDurationSeconds": 1}
    return {"metadata": {"name": name, "resourceVersion": rv}, "spec": spec}


def test_members_are_the_holders_of_leases_renewed_within_their_duration() -> None:
    leases = [_lease("g-member-a", "a", "1"), _lease("g-member-b", "b", "7"), _lease("g-member-c", "", "3")]
    members, seen = live_members(leases, {}, NOW)
    assert members == {"a", "b"}  # c released its Lease on a clean shutdown
    # 11 s later a renewed (new resourceVersion), b did not: b is dead on our clock.
    later = NOW + timedelta(seconds=11)
    leases[0] = _lease("g-member-a", "a", "2")
    members, seen = live_members(leases, seen, later)
    assert members == {"a"}
    assert long_gone(leases, seen, NOW + timedelta(hours=1, seconds=5)) == ["g-member-b", "g-member-c"]
    assert member_lease_name("lp", "lp-leakpatrol-7d9f-x2") == "lp-member-lp-leakpatrol-7d9f-x2"
    assert member_lease_name("lp", "Host_Name-12").startswith("lp-member-")
    assert "_" not in member_lease_name("lp", "Host_Name-12")


def _finding(name: str, pods: list[str], state: LeakState, growth: int) -> Finding:
    return Finding(
        workload=Workload(kind="Deployment", name=name),
        pods=pods,
        signal=SignalKind.GOROUTINES,
        state=state,
        since=NOW,
        baseline=100,
        current=300,
        growth_per_hour=growth,
        p_value="0.001",
    )


def _report(selected: int, failing: int, findings: list[Finding]) -> ShardReport:
    return ShardReport(
        time=NOW, targets=Targets(selected=selected, scanned=selected - failing, failing=failing),
        evaluated=selected - failing, findings=findings,
    )  # fmt: skip


def test_the_merged_view_counts_every_shard_and_keeps_the_worst_finding_with_all_pods() -> None:
    a = _report(50, 1, [_finding("web", ["web-1"], LeakState.SUSPECTED, 900)])
    b = _report(40, 0, [_finding("web", ["web-2", "web-3"], LeakState.CONFIRMED, 500)])
    c = _report(10, 2, [_finding("api", ["api-1"], LeakState.SUSPECTED, 50)])
    merged = merged_pass("shop", {"a": a, "b": b, "c": c})
    assert (merged.selected, merged.scanned, merged.failing_count) == (100, 97, 3)
    web = next(f for f in merged.findings if f.workload.name == "web")
    assert web.state is LeakState.CONFIRMED and web.pods == ["web-1", "web-2", "web-3"]
    assert [f.workload.name for f in merged.findings] == ["web", "api"]  # confirmed first
    assert merge_findings([]) == []


def test_reports_of_gone_members_are_dropped_and_removed() -> None:
    stored = {"a": _report(1, 0, []), "b": _report(2, 0, []), "dead": _report(3, 0, [])}
    mine = _report(5, 0, [])
    reports, gone = live_reports(stored, {"a", "b"}, "a", mine)
    assert reports == {"a": mine, "b": stored["b"]} and gone == ["dead"]
