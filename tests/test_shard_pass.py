"""Sharded scan passes against `FakeCluster`: three scanners of one policy, one shared cluster.

Each pass of each replica fetches only its shards' targets; together they fetch every target once;
the coordinator merges the three reports into one status; a replica that goes away has its shards
taken over from their checkpoints (series resumed, not restarted); no Event is posted twice."""

from __future__ import annotations

from fakecluster import POLICY, Clock, FakeCluster, running_pod, spec
from test_scan_pass import CORPUS, CORPUS_POD_START, FIRST_STAMP

from leakpatrol.controller.capacity import SharedCapacity
from leakpatrol.controller.ports import ScanTarget
from leakpatrol.controller.scanner import PolicyScanner
from leakpatrol.controller.shards.assignment import Assignment, shard_of
from leakpatrol.kube import errors


class View:
    """The membership as the scanners read it, set by the test."""

    def __init__(self, me: str, members: set[str]) -> None:
        self.me, self.members = me, members

    def assignment(self) -> Assignment:
        return Assignment(self.me, frozenset(self.members))


def leaking_cluster(clock: Clock, pods: int) -> FakeCluster:
    """`pods` replicas of the recorded transport-per-request leak (each serves the same series)."""

    def serve(target: ScanTarget, path: str) -> bytes:
        if "goroutineleak" in path:
            raise errors.PprofNotExposed(path, "HTTP 404")
        return (CORPUS / f"{int(clock.now)}.goroutine.pb.gz").read_bytes()

    names = [f"client-{i}" for i in range(pods)]
    return FakeCluster([running_pod(n, started=CORPUS_POD_START, owner="client-5f6b") for n in names], serve)


async def test_three_replicas_scan_every_target_once_and_speak_with_one_voice() -> None:
    clock = Clock(FIRST_STAMP)
    cluster = leaking_cluster(clock, 12)
    members = {"a", "b", "c"}
    scanners = {
        m: PolicyScanner(cluster, POLICY, SharedCapacity(), clock, shards=View(m, members)) for m in members
    }
    for _ in range(30):
        cluster.fetches.clear()
        for m in sorted(members):
            await scanners[m].scan(cluster.body(spec()))
        fetched = [name for name, path in cluster.fetches if "goroutine?" in path]
        assert sorted(fetched) == sorted(f"client-{i}" for i in range(12))  # each once per round
        if cluster.status.get("leaking"):
            break
        clock.now += 60
    assert all(len(s.evaluators) > 0 for s in scanners.values())  # the work is spread
    assert sorted(cluster.status["shards"]) == ["a", "b", "c"]
    assert cluster.status["targets"] == {"selected": 12, "scanned": 12, "failing": 0}
    finding = cluster.status["findings"][0]
    assert finding["ruleId"] == "http-transport-per-request" and finding["state"] == "Confirmed"
    # every selected pod is counted; those where the culprit grows are named (issue 13's fleet rule
    # may confirm before all 12 flag it)
    assert finding["spread"]["of"] == 12 and len(finding["pods"]) >= finding["spread"]["leaking"] >= 2
    assert cluster.condition("LeakDetected")["status"] == "True"

    # c goes away: a and b take its shards over from their checkpoints at their next pass.
    members.discard("c")
    in_c = {uid for uid in scanners["c"].evaluators}
    samples = {uid: len(e.goroutines.tracker) for uid, e in scanners["c"].evaluators.items()}
    clock.now += 60
    cluster.fetches.clear()
    for m in ("a", "b"):
        await scanners[m].scan(cluster.body(spec()))
    assert sorted(n for n, p in cluster.fetches if "goroutine?" in p) == sorted(
        f"client-{i}" for i in range(12)
    )
    taken = {uid: e for m in ("a", "b") for uid, e in scanners[m].evaluators.items() if uid in in_c}
    assert taken.keys() == in_c
    # Resumed from the last checkpoint (written at most CHECKPOINT_PASSES ago), never from zero.
    got = {uid: len(e.goroutines.tracker) for uid, e in taken.items()}
    assert all(got[uid] >= samples[uid] - 4 and got[uid] >= 4 for uid in got), (got, samples)
    assert "c" not in cluster.status["shards"]  # the coordinator removed the report of the gone
    assert cluster.status["targets"]["selected"] == 12
    assert cluster.condition("LeakDetected")["status"] == "True"

    # Each transition posted once, by the coordinator; nothing resolved by the hand-over.
    reasons = [(e.about.kind, e.about.name, e.reason) for e in cluster.events]
    assert len(reasons) == len(set(reasons)) and ("LeakPolicy", "demo", "LeakDetected") in reasons
    assert not any(r == "LeakResolved" for *_, r in reasons)
    # Pods of other replicas' shards got their LeakDetected too, though one replica posted them all.
    on_pods = {n for kind, n, r in reasons if kind == "Pod" and r == "LeakDetected"}
    view = Assignment("a", frozenset({"a", "b", "c"}))
    coordinator = view.coordinator(POLICY.uid)  # at the confirmation, all three were members
    others = {
        f"client-{i}"
        for i in range(12)
        if view.owner(POLICY.uid, shard_of(f"client-{i}-uid", 16)) != coordinator
    }
    assert on_pods <= set(finding["pods"]) and on_pods & others


async def test_one_member_is_everything_and_a_non_member_scans_nothing() -> None:
    cluster = FakeCluster([running_pod(f"web-{i}") for i in range(5)])
    alone = PolicyScanner(cluster, POLICY, SharedCapacity(), Clock(), shards=View("a", {"a"}))
    await alone.scan(cluster.body(spec()))
    assert len({n for n, _ in cluster.fetches}) == 5 and cluster.status["targets"]["selected"] == 5
    cluster.fetches.clear()
    joining = PolicyScanner(cluster, POLICY, SharedCapacity(), Clock(), shards=View("z", {"a"}))
    await joining.scan(cluster.body(spec()))
    assert cluster.fetches == [] and cluster.status["targets"]["selected"] == 5  # it wrote no counts
