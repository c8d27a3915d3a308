"""Two replicas, their clocks, and an operator killed mid-action: the real `Remediator` on the
in-memory `FakeCluster`, passes driven by hand (a Confirmed finding given, no scan), the status
written back as the scan pass writes it. Done when a skewed replica and the two crash points make
no extra restart, no phantom one, and post the action's Event and metric once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fakecluster import NO_FLOORS, POLICY, Clock, FakeCluster, running_pod, spec

from leakpatrol import metrics
from leakpatrol.api import Finding, LeakPolicyStatus, PendingAction, parse_spec
from leakpatrol.controller.collect.targets import select_targets
from leakpatrol.controller.ports import ScanTarget
from leakpatrol.controller.remediation import Remediator, pending
from leakpatrol.controller.report.status import status_body
from leakpatrol.core import Obj, ObjectRef
from leakpatrol.kube import errors

START = datetime(2030, 1, 7, 12, 0, tzinfo=UTC).timestamp()  # a Monday, noon
CLIENT = ObjectRef("apps/v1", "Deployment", "client", "client-uid", POLICY.namespace)
TWO_HOURS = 7200.0


def finding(since: float = START - 3600) -> Finding:
    return Finding.model_validate(
        {
            "workload": {"kind": "Deployment", "name": "client"},
            "pods": ["client-1"],
            "signal": "goroutines",
            "state": "Confirmed",
            "since": datetime.fromtimestamp(since, UTC),
            "baseline": 100,
            "current": 900,
            "growthPerHour": 400,
            "pValue": "0.001",
            "culprit": ["net/http.(*persistConn).readLoop transport.go:2493"],
            "basis": "Trend",
            "samples": 24,
        }
    )


def policy(**remediation: Any) -> Obj:
    rails = {
        "action": "RolloutRestart",
        "minConfirmations": 1,
        "captureEvidence": False,
        "cooldown": "10m",
        "maxActions": 1,
        "window": "1h",
        "escalateAfter": "0s",
    }
    return spec() | {"remediation": rails | remediation}


def deployment() -> Obj:
    """Two replicas, both available: one may be evicted (never the last available one)."""
    st = {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}
    template = {"metadata": {"labels": {"app": "client"}}}
    return {
        "metadata": {"name": "client", "generation": 1},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "client"}}, "template": template},
        "status": st,
    }


class KilledError(Exception):
    """The operator process killed (SIGKILL, OOM, node lost): nothing after this point runs. Not a
    LeakpatrolError: no code of ours handles it."""


class Mortal(FakeCluster):
    """A call may go through and its caller never hear of it: `after[method]` is raised once the
    call is done (KilledError: the operator died; an ApiError: the answer was lost)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.after: dict[str, Exception] = {}

    async def restart_workload(self, ref: ObjectRef, at: datetime, *, dry_run: bool) -> None:
        await super().restart_workload(ref, at, dry_run=dry_run)
        self._then("restart_workload")

    async def evict_pod(self, namespace: str, name: str, *, uid: str, dry_run: bool) -> None:
        await super().evict_pod(namespace, name, uid=uid, dry_run=dry_run)
        self._then("evict_pod")

    def _then(self, method: str) -> None:
        if method in self.after:
            raise self.after.pop(method)


def cluster_with_server_clock() -> tuple[Mortal, Clock]:
    server = Clock(START)
    cluster = Mortal([running_pod("client-1", owner="client-5f6b")])
    cluster.workload_objs[("Deployment", "client")] = deployment()
    cluster.server_clock = server
    return cluster, server


class Replica:
    """One operator process: its own memory and its own node's clock (`skew` seconds off)."""

    def __init__(self, cluster: FakeCluster, server: Clock, skew: float = 0.0) -> None:
        self.cluster, self.skew = cluster, skew
        self.remediator = Remediator(cluster, POLICY, lambda: server.now + skew, NO_FLOORS)

    def targets(self) -> list[ScanTarget]:
        """The pods as this pass listed them (their labels and uids are what the rails check)."""
        return select_targets(self.cluster.pods, "pprof")[0]

    async def decide(self, raw: Obj, flagged: float = START - 3600) -> None:
        """One pass: the leak is Confirmed, flagged at `flagged` (true time) as this replica's clock
        stamped it; the status written back as the scan pass does."""
        body = self.cluster.body(raw)
        status = LeakPolicyStatus(findings=[finding(flagged + self.skew)], leaking=1)
        out = await self.remediator.after_pass(
            body, parse_spec(raw), status, [], targets=self.targets(), workloads=[CLIENT]
        )
        await self.cluster.patch_status(POLICY, status_body(out))


def remediation(cluster: FakeCluster) -> dict[str, Any]:
    result: dict[str, Any] = cluster.status["remediation"]
    return result


def told(cluster: FakeCluster, reason: str) -> list[str]:
    return [e.about.kind for e in cluster.events if e.reason == reason]


def counted(outcome: str, action: str = "RolloutRestart") -> float:
    labels = {
        "namespace": POLICY.namespace or "",
        "policy": POLICY.name,
        "workload": "Deployment/client",
        "action": action,
        "outcome": outcome,
    }
    return metrics.REGISTRY.get_sample_value("leakpatrol_remediation_decisions_total", labels) or 0.0


# --- clocks ---------------------------------------------------------------------------------------
async def test_a_replica_two_hours_ahead_does_not_restart_through_the_cooldown_and_budget() -> None:
    cluster, server = cluster_with_server_clock()
    raw = policy()
    await Replica(cluster, server).decide(raw)
    assert cluster.restarts == [("Deployment", "client", False)]
    server.now += 18  # the other replica takes over 18 s later, on a node whose clock is 2 h ahead
    ahead = Replica(cluster, server, skew=TWO_HOURS)
    await ahead.decide(raw)
    assert cluster.restarts == [("Deployment", "client", False)]
    assert remediation(cluster)["lastSkip"]["reason"] in ("Cooldown", "ActionBudgetExhausted")
    for _ in range(9):  # the 10-minute cooldown, then the 1-per-hour budget, both on the server's clock
        server.now += 60
        await ahead.decide(raw)
    assert cluster.restarts == [("Deployment", "client", False)]
    server.now = START + 3600 + 60  # an hour after the restart, by the server's clock: allowed again
    await ahead.decide(raw)
    assert len(cluster.restarts) == 2
    restarted = remediation(cluster)["workloads"][0]["lastActionTime"]
    assert restarted == datetime.fromtimestamp(server.now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_a_replica_behind_still_holds_an_action_it_sees_in_its_future() -> None:
    cluster, server = cluster_with_server_clock()
    raw = policy()
    await Replica(cluster, server).decide(raw)
    cluster.server_clock = None  # it has not heard the API server yet: its own clock, 2 h behind
    behind = Replica(cluster, server, skew=-TWO_HOURS)
    for _ in range(70):
        server.now += 60
        await behind.decide(raw)
    assert cluster.restarts == [("Deployment", "client", False)]
    assert remediation(cluster)["lastSkip"]["reason"] in ("Cooldown", "ActionBudgetExhausted")
    assert remediation(cluster)["actions"]  # the action, in its future, still counted in the budget


async def test_a_replica_behind_sees_a_leak_back_after_the_restart_as_a_recurrence() -> None:
    cluster, server = cluster_with_server_clock()
    raw = policy(maxActions=5, escalateAfter="24h")
    await Replica(cluster, server).decide(raw)
    assert cluster.restarts == [("Deployment", "client", False)]
    behind = Replica(cluster, server, skew=-TWO_HOURS)  # its clock stamps the new finding 2 h early
    server.now += 900  # past the 10-minute cooldown; the leak was flagged again 5 minutes after the restart
    await behind.decide(raw, flagged=START + 300)
    assert cluster.restarts == [("Deployment", "client", False)]  # suspended, not restarted again
    assert remediation(cluster)["suspended"] == ["Deployment/client"]


# --- killed between the write-ahead and the action ---------------------------------------------
RESTARTED = [("Deployment", "client", False)]


async def test_killed_after_the_write_ahead_before_the_restart_no_phantom_no_cooldown() -> None:
    cluster, server = cluster_with_server_clock()
    raw = policy()
    cluster.fail_next("restart_workload", KilledError("before the PATCH was sent"))
    with pytest.raises(KilledError):
        await Replica(cluster, server).decide(raw)
    assert cluster.restarts == []
    written = remediation(cluster)
    assert "lastAction" not in written and not written.get("actions")  # no phantom restart on record
    assert written["pending"]["action"] == "RolloutRestart"
    assert all("lastActionTime" not in w for w in written["workloads"])
    before = counted("RolloutRestarted")
    successor = Replica(cluster, server)
    server.now += 20  # it takes over: a request of the dead one might still be applied, so it waits
    await successor.decide(raw)
    assert cluster.restarts == [] and remediation(cluster)["lastSkip"]["reason"] == "PendingActionUnresolved"
    server.now += 120  # not seen on the Deployment: it did not happen, no cooldown from it
    await successor.decide(raw)
    assert cluster.restarts == RESTARTED
    for _ in range(9):
        server.now += 60
        await successor.decide(raw)
    assert cluster.restarts == RESTARTED
    assert told(cluster, "RolloutRestarted") == ["LeakPolicy", "Deployment"]
    assert counted("RolloutRestarted") == before + 1
    assert "pending" not in remediation(cluster)
    assert (
        remediation(cluster)["lastAction"]["time"] == remediation(cluster)["workloads"][0]["lastActionTime"]
    )


async def test_killed_after_the_restart_before_recording_it_the_successor_finishes_it_once() -> None:
    cluster, server = cluster_with_server_clock()
    raw = policy()
    cluster.after["restart_workload"] = KilledError("after the PATCH, before the status write")
    with pytest.raises(KilledError):
        await Replica(cluster, server).decide(raw)
    assert cluster.restarts == RESTARTED and told(cluster, "RolloutRestarted") == []
    pending_time = remediation(cluster)["pending"]["time"]
    before = counted("RolloutRestarted")
    successor = Replica(cluster, server)
    server.now += 18
    await successor.decide(raw)
    assert told(cluster, "RolloutRestarted") == ["LeakPolicy", "Deployment"]
    assert counted("RolloutRestarted") == before + 1
    written = remediation(cluster)
    assert "pending" not in written and written["lastAction"]["reason"] == "RolloutRestarted"
    assert written["lastAction"]["time"] == pending_time  # when it happened, so the cooldown runs from then
    assert "Recorded at a later pass" in written["lastAction"]["message"]
    for _ in range(9):  # the 10-minute cooldown from the restart holds
        server.now += 60
        await successor.decide(raw)
    assert cluster.restarts == RESTARTED
    assert told(cluster, "RolloutRestarted") == ["LeakPolicy", "Deployment"]
    assert counted("RolloutRestarted") == before + 1


async def test_a_restart_whose_record_fails_is_recorded_and_said_by_the_next_pass_once() -> None:
    cluster, server = cluster_with_server_clock()
    raw = policy()
    replica = Replica(cluster, server)
    cluster.after["restart_workload"] = errors.ServerError(500, "InternalError", "etcd timeout")
    await replica.decide(raw)  # the restart went through, its answer was lost
    assert cluster.restarts == RESTARTED and told(cluster, "RolloutRestarted") == []
    assert remediation(cluster)["lastSkip"]["reason"] == "DecisionFailed" and remediation(cluster)["pending"]
    server.now += 60
    await replica.decide(raw)  # seen on the Deployment: done, said once, no second restart
    assert cluster.restarts == RESTARTED and told(cluster, "RolloutRestarted") == ["LeakPolicy", "Deployment"]
    assert "pending" not in remediation(cluster)


async def test_an_action_call_that_failed_holds_no_cooldown_once_the_workload_shows_it_did_not_happen() -> (
    None
):
    cluster, server = cluster_with_server_clock()
    raw = policy()
    replica = Replica(cluster, server)
    cluster.fail_next("restart_workload", errors.ApiUnavailable("connection reset by peer"))
    await replica.decide(raw)
    assert cluster.restarts == [] and remediation(cluster)["lastSkip"]["reason"] == "DecisionFailed"
    cluster.fail_next("read_workload", errors.ServerError(503, "ServiceUnavailable", "leader changed"))
    for _ in range(2):  # unreadable, then not seen within the in-flight wait: nothing acts, pending kept
        server.now += 40
        await replica.decide(raw)
        assert cluster.restarts == [] and remediation(cluster)["pending"]
    assert remediation(cluster)["lastSkip"]["reason"] == "PendingActionUnresolved"
    server.now += 60  # 2 min after it: not seen, so it did not happen; no cooldown from it
    await replica.decide(raw)
    assert cluster.restarts == RESTARTED and "pending" not in remediation(cluster)


async def test_eviction_killed_after_the_first_pod_went_is_finished_once_never_repeated() -> None:
    cluster, server = cluster_with_server_clock()
    raw = policy(action="EvictPod")
    cluster.after["evict_pod"] = KilledError("after the eviction, before the status write")
    with pytest.raises(KilledError):
        await Replica(cluster, server).decide(raw)
    assert cluster.evictions == [("client-1", False)] and told(cluster, "PodEvicted") == []
    before = counted("PodEvicted", action="EvictPod")
    successor = Replica(cluster, server)
    for _ in range(5):
        server.now += 60
        await successor.decide(raw)
    assert cluster.evictions == [("client-1", False)]  # terminating: it happened, the cooldown holds
    assert told(cluster, "PodEvicted") == ["LeakPolicy", "Deployment"]
    assert counted("PodEvicted", action="EvictPod") == before + 1
    assert "pending" not in remediation(cluster)


async def test_eviction_killed_before_it_was_sent_is_dropped_and_done_later() -> None:
    cluster, server = cluster_with_server_clock()
    raw = policy(action="EvictPod")
    cluster.fail_next("evict_pod", KilledError("before the eviction was sent"))
    with pytest.raises(KilledError):
        await Replica(cluster, server).decide(raw)
    assert "lastAction" not in remediation(cluster)
    successor = Replica(cluster, server)
    for _ in range(4):
        server.now += 60
        await successor.decide(raw)
    assert cluster.evictions == [("client-1", False)]
    assert told(cluster, "PodEvicted") == ["LeakPolicy", "Deployment"]


async def test_a_dry_run_left_pending_is_dropped_unsaid() -> None:
    cluster, server = cluster_with_server_clock()
    raw = policy(dryRun=True)
    cluster.after["restart_workload"] = KilledError("after the dry-run PATCH")
    with pytest.raises(KilledError):
        await Replica(cluster, server).decide(raw)
    assert remediation(cluster)["pending"]["dryRun"] is True
    server.now += 18
    await Replica(cluster, server).decide(raw)  # dropped (nothing changed), so it decides afresh
    assert cluster.restarts == [("Deployment", "client", True)] * 2
    assert told(cluster, "RemediationDryRun") == ["LeakPolicy", "Deployment"]
    assert "pending" not in remediation(cluster)
    assert "kubectl.kubernetes.io/restartedAt" not in str(cluster.workload_objs)


# --- the pure judges ---------------------------------------------------------------------------------
def written_ahead(**kw: Any) -> PendingAction:
    at = datetime.fromtimestamp(START, UTC)
    return pending.intent(
        finding(),
        parse_spec(policy(**kw)).remediation,
        pods=["client-1"],
        uids={"client-1": "u1"},
        evidence="",
        now=at,
    )


def with_restarted_at(value: object) -> Obj:
    return {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": value}}}}}


def test_a_restart_happened_when_the_template_holds_its_exact_time_in_any_rfc3339_form() -> None:
    p = written_ahead()
    assert p.time == datetime(2030, 1, 7, 12, 0, tzinfo=UTC) and p.pods == []
    assert pending.restarted(p, with_restarted_at("2030-01-07T12:00:00Z"))
    assert pending.restarted(p, with_restarted_at("2030-01-07T13:00:00+01:00"))  # kubectl's local time
    for other in ("2030-01-07T12:00:01Z", "2030-01-07T12:00:00", "yesterday", 42, None):
        assert not pending.restarted(p, with_restarted_at(other)), other
    assert not pending.restarted(p, {"spec": {}})


def test_an_eviction_happened_when_a_named_pod_is_gone_terminating_or_another() -> None:
    p = written_ahead(action="EvictPod")
    assert [(x.name, x.uid) for x in p.pods] == [("client-1", "u1")]
    pod = {"metadata": {"name": "client-1", "uid": "u1"}}
    assert not pending.evicted(p, {"client-1": pod})
    assert pending.evicted(p, {"client-1": None})
    assert pending.evicted(p, {"client-1": {"metadata": pod["metadata"] | {"deletionTimestamp": "2030"}}})
    assert pending.evicted(p, {"client-1": {"metadata": {"name": "client-1", "uid": "u2"}}})  # re-created


def test_not_seen_is_not_done_only_once_a_request_in_flight_would_have_landed() -> None:
    p = written_ahead()
    at = datetime.fromtimestamp(START, UTC)
    assert pending.judge(p, True, at)[0] is pending.Outcome.DONE
    assert pending.judge(p, False, at + pending.IN_FLIGHT / 2)[0] is pending.Outcome.UNKNOWN
    assert pending.judge(p, False, at + pending.IN_FLIGHT)[0] is pending.Outcome.NOT_DONE
    assert pending.judge(p, False, at - pending.IN_FLIGHT * 60)[0] is pending.Outcome.UNKNOWN  # we are behind
