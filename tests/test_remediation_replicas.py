"""Two replicas, their clocks, and an operator killed mid-action: the real `Remediator` on the
in-memory `FakeCluster`, passes driven by hand (a Confirmed finding given, no scan), the status
written back as the scan pass writes it. Done when a skewed replica and the two crash points make
no extra restart, no phantom one, and post the action's Event and metric once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fakecluster import POLICY, Clock, FakeCluster, running_pod, spec

from leakpatrol import metrics
from leakpatrol.api import Finding, LeakPolicyStatus, parse_spec
from leakpatrol.controller.remediation import Remediator
from leakpatrol.controller.report.status import status_body
from leakpatrol.core import Obj, ObjectRef

START = datetime(2030, 1, 7, 12, 0, tzinfo=UTC).timestamp()  # a Monday, noon
CLIENT = ObjectRef("apps/v1", "Deployment", "client", "client-uid", POLICY.namespace)
TWO_HOURS = 7200.0


def finding() -> Finding:
    return Finding.model_validate(
        {
            "workload": {"kind": "Deployment", "name": "client"},
            "pods": ["client-1"],
            "signal": "goroutines",
            "state": "Confirmed",
            "since": datetime.fromtimestamp(START - 3600, UTC),
            "baseline": 100,
            "current": 900,
            "growthPerHour": 400,
            "pValue": "0.001",
            "culprit": ["net/http.(*persistConn).readLoop transport.go:2493"],
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
    st = {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}
    template = {"metadata": {"labels": {"app": "client"}}}
    return {
        "metadata": {"name": "client", "generation": 1},
        "spec": {"replicas": 1, "template": template},
        "status": st,
    }


def cluster_with_server_clock() -> tuple[FakeCluster, Clock]:
    server = Clock(START)
    cluster = FakeCluster([running_pod("client-1", owner="client-5f6b")])
    cluster.workload_objs[("Deployment", "client")] = deployment()
    cluster.server_clock = server
    return cluster, server


class Replica:
    """One operator process: its own memory and its own node's clock (`skew` seconds off)."""

    def __init__(self, cluster: FakeCluster, server: Clock, skew: float = 0.0) -> None:
        self.cluster = cluster
        self.remediator = Remediator(cluster, POLICY, lambda: server.now + skew)

    async def decide(self, raw: Obj) -> None:
        """One pass: the leak is Confirmed; the status written back as the scan pass does."""
        body = self.cluster.body(raw)
        status = LeakPolicyStatus(findings=[finding()], leaking=1)
        out = await self.remediator.after_pass(
            body, parse_spec(raw), status, [], targets=[], workloads=[CLIENT]
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
