"""Whole scan passes with `spec.remediation` against the in-memory `FakeCluster`: a recorded real
leak (the transport-per-request corpus) is confirmed, then the rails decide. Real scanner, real
evaluator, real Remediator; only the cluster is in memory (the sandbox tests run it for real)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fakecluster import NO_FLOORS, POLICY, Clock, FakeCluster, running_pod, spec

from leakpatrol import metrics
from leakpatrol.api import parse_spec
from leakpatrol.controller.capacity import SharedCapacity
from leakpatrol.controller.ports import ScanTarget
from leakpatrol.controller.remediation import evidence
from leakpatrol.controller.remediation.admin import AdminPolicy
from leakpatrol.controller.scanner import PolicyScanner
from leakpatrol.core import Obj, ObjectRef
from leakpatrol.detect.evaluator import PodIdentity
from leakpatrol.kube import errors
from leakpatrol.profiles import Profile, load

CORPUS = Path(__file__).parent / "corpus" / "transport-per-request"
FIRST_STAMP = 1800000000
SAMPLES = 120


class Service:
    """Pods of Deployment `client` serving the recorded leak from their own start: a restart
    (a new pod) starts the recorded series over, like a real restarted process."""

    def __init__(self, clock: Clock) -> None:
        self.clock, self.started = clock, {"client-1": clock.now}
        self.cluster = FakeCluster([self._pod("client-1")], self.serve)
        self.cluster.workload_objs[("Deployment", "client")] = available("Deployment")
        self.cluster.workload_objs[("StatefulSet", "client")] = available("StatefulSet")

    def _pod(self, name: str) -> Obj:
        stamp = self.clock.now - 20  # a container start 20 s before its first sample, as recorded
        started = datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return running_pod(name, started=started, owner="client-5f6b")

    def serve(self, target: ScanTarget, path: str) -> bytes:
        if "goroutineleak" in path:
            raise errors.PprofNotExposed(path, "HTTP 404")
        index = min(int(self.clock.now - self.started[target.name]) // 60, SAMPLES - 1)
        return (CORPUS / f"{FIRST_STAMP + 60 * index}.goroutine.pb.gz").read_bytes()

    def replace_pod(self, name: str) -> None:
        """What a rollout restart does: the old pod goes, a new process starts."""
        self.started[name] = self.clock.now
        self.cluster.pods = [self._pod(name)]


def available(kind: str, **status: Any) -> Obj:
    """Two replicas, every one updated and available: one pod may go at a time, never the last."""
    st = {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}
    labels = {"app": "client"}
    return {
        "metadata": {"name": "client", "generation": 1},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}},
        },
        "status": st | status,
    }


def remediating(**remediation: Any) -> Obj:
    return spec() | {"remediation": {"action": "RolloutRestart", "minConfirmations": 2} | remediation}


async def run(svc: Service, scan: PolicyScanner, raw: Obj, passes: int) -> None:
    for _ in range(passes):
        await scan.scan(svc.cluster.body(raw))
        svc.clock.now += 60


async def until(svc: Service, scan: PolicyScanner, raw: Obj, probe: Any, limit: int = 60) -> int:
    for n in range(limit):
        await scan.scan(svc.cluster.body(raw))
        svc.clock.now += 60
        if probe():
            return n
    raise AssertionError(f"not reached in {limit} passes; status {svc.cluster.status.get('remediation')}")


def setup(admin: AdminPolicy = NO_FLOORS, **remediation: Any) -> tuple[Service, PolicyScanner, Obj]:
    """The service, a scanner and a policy with `remediation`; the admin's floors off by default:
    these tests are of the policy's own rails (tests/test_tenant_rails.py: of the admin's)."""
    clock = Clock(FIRST_STAMP)
    svc = Service(clock)
    return (
        svc,
        PolicyScanner(svc.cluster, POLICY, SharedCapacity(admin=admin), clock),
        remediating(**remediation),
    )


def trending(svc: Service) -> bool:
    """A Confirmed finding an action may rest on: raised by its trend over minSamples (12 here)."""
    findings = svc.cluster.status.get("findings") or []
    return any(f["state"] == "Confirmed" and f.get("basis") == "Trend" for f in findings)


def events(svc: Service, reason: str) -> list[tuple[str, str]]:
    return [(e.about.kind, e.message) for e in svc.cluster.events if e.reason == reason]


def remediation(svc: Service) -> dict[str, Any]:
    result: dict[str, Any] = svc.cluster.status["remediation"]
    return result


async def test_a_confirmed_leak_is_restarted_once_with_evidence_then_the_cooldown_holds() -> None:
    svc, scan, raw = setup(escalateAfter="0s")
    confirmed_at = await until(svc, scan, raw, lambda: svc.cluster.status.get("leaking"))
    assert svc.cluster.restarts == []  # Confirmed once is not enough: minConfirmations 2
    await until(svc, scan, raw, lambda: trending(svc))  # raised early; acted on only once a trend
    assert svc.cluster.restarts == []
    await until(svc, scan, raw, lambda: svc.cluster.restarts, limit=3)
    assert svc.cluster.restarts == [("Deployment", "client", False)]
    state = remediation(svc)
    assert state["lastAction"]["reason"] == "RolloutRestarted" and state["lastAction"]["dryRun"] is False
    assert state["inAction"] == {"kind": "Deployment", "name": "client"}
    # Evidence: saved at the first confirmation and again right before the restart.
    assert len(svc.cluster.evidence) == 2 and len(state["evidence"]) == 2
    capture = next(iter(svc.cluster.evidence.values()))
    assert set(capture.files) == {"goroutine.pb.gz", "heap.pb.gz", "goroutine-waits.txt"}  # < 10k goroutines
    assert "go tool pprof" in state["evidence"][-1]["command"]
    restarted = events(svc, "RolloutRestarted")
    assert {kind for kind, _ in restarted} == {"LeakPolicy", "Deployment"}
    assert "restarted Deployment/client: confirmed goroutines leak" in restarted[0][1]
    assert "http-transport-per-request" in restarted[0][1] and "leakpatrol-evidence" in restarted[0][1]
    # The new process leaks again (same code): the cooldown holds the next restart off.
    svc.replace_pod("client-2")
    await run(svc, scan, raw, 40)
    assert svc.cluster.restarts == [("Deployment", "client", False)]
    assert remediation(svc)["lastSkip"]["reason"] == "Cooldown"
    assert "inAction" not in remediation(svc)  # settled: the Deployment is fully available again
    assert ("Deployment", "client") in {(k, "client") for k, _ in events(svc, "Cooldown")}
    assert confirmed_at > 5
    sample = metrics.REGISTRY.get_sample_value(
        "leakpatrol_remediation_decisions_total",
        {
            "namespace": "shop",
            "policy": "demo",
            "workload": "Deployment/client",
            "action": "RolloutRestart",
            "outcome": "RolloutRestarted",
        },
    )
    assert sample is not None and sample >= 1


async def test_state_survives_an_operator_restart() -> None:
    svc, scan, raw = setup(escalateAfter="0s")
    await until(svc, scan, raw, lambda: svc.cluster.restarts)
    fresh = PolicyScanner(svc.cluster, POLICY, SharedCapacity(), svc.clock)  # a new process: empty memory
    await run(svc, fresh, raw, 30)
    assert svc.cluster.restarts == [("Deployment", "client", False)]


async def test_dry_run_decides_everything_and_changes_nothing() -> None:
    svc, scan, raw = setup(dryRun=True)
    await until(svc, scan, raw, lambda: svc.cluster.restarts)
    assert svc.cluster.restarts == [("Deployment", "client", True)]  # the API server's dryRun=All
    would = events(svc, "RemediationDryRun")
    assert would and all(m.startswith("would restart Deployment/client") for _, m in would)
    assert events(svc, "RolloutRestarted") == []
    assert remediation(svc)["lastAction"]["dryRun"] is True


async def test_an_api_error_while_deciding_means_no_action() -> None:
    svc, scan, raw = setup()
    await until(svc, scan, raw, lambda: trending(svc))
    svc.cluster.fail_next("read_workload", *[errors.ServerError(500, "InternalError", "etcd")] * 3)
    await run(svc, scan, raw, 3)
    assert svc.cluster.restarts == []
    assert remediation(svc)["lastSkip"]["reason"] == "DecisionFailed"
    assert [k for k, _ in events(svc, "DecisionFailed")] == ["LeakPolicy", "Deployment"]  # once, not per pass
    svc.cluster.fail_next("list_pdbs", errors.ApiUnavailable("connection reset"))
    await run(svc, scan, raw, 1)
    assert svc.cluster.restarts == []
    await run(svc, scan, raw, 1)  # the API answers again
    assert svc.cluster.restarts == [("Deployment", "client", False)]


def confirmed_passes(svc: Service) -> int:
    workloads = (svc.cluster.status.get("remediation") or {}).get("workloads") or [{}]
    passes: int = workloads[0].get("confirmedPasses", 0)
    return passes


async def test_an_action_that_cannot_be_recorded_first_is_not_taken() -> None:
    svc, scan, raw = setup()
    await until(svc, scan, raw, lambda: confirmed_passes(svc) == 1)
    # The next pass would act; its first status write is the write-ahead record of the action.
    svc.cluster.fail_next("patch_status", errors.ServerError(500, "InternalError", "etcd timeout"))
    await run(svc, scan, raw, 1)
    assert svc.cluster.restarts == [] and remediation(svc)["lastSkip"]["reason"] == "DecisionFailed"
    await run(svc, scan, raw, 1)
    assert svc.cluster.restarts == [("Deployment", "client", False)]


async def test_evidence_that_cannot_be_saved_blocks_the_action() -> None:
    svc, scan, raw = setup()
    await until(svc, scan, raw, lambda: trending(svc))
    svc.cluster.fail_next("save_evidence", *[errors.Forbidden(403, "Forbidden", "configmaps")] * 2)
    await run(svc, scan, raw, 1)
    assert svc.cluster.restarts == [] and remediation(svc)["lastSkip"]["reason"] == "EvidenceNotSaved"
    await until(svc, scan, raw, lambda: svc.cluster.restarts, limit=3)


async def test_rollout_restart_waits_for_availability_and_disruption_budgets() -> None:
    svc, scan, raw = setup()
    svc.cluster.workload_objs[("Deployment", "client")] = available("Deployment", updatedReplicas=0)
    await until(svc, scan, raw, lambda: trending(svc))
    await run(svc, scan, raw, 3)
    assert svc.cluster.restarts == [] and remediation(svc)["lastSkip"]["reason"] == "WorkloadNotAvailable"
    svc.cluster.workload_objs[("Deployment", "client")] = available("Deployment")
    pdb = {
        "metadata": {"name": "client", "generation": 1},
        "spec": {"selector": {"matchLabels": {"app": "client"}}},
        "status": {"observedGeneration": 1, "disruptionsAllowed": 0},
    }
    svc.cluster.pdbs = [pdb]
    await run(svc, scan, raw, 2)
    assert (
        svc.cluster.restarts == [] and remediation(svc)["lastSkip"]["reason"] == "DisruptionBudgetExhausted"
    )
    pdb["status"]["disruptionsAllowed"] = 1
    await run(svc, scan, raw, 1)
    assert svc.cluster.restarts == [("Deployment", "client", False)]


async def test_outside_the_allowed_windows_it_waits_and_says_until_when() -> None:
    # The corpus runs 2027-01-15 08:00 UTC onwards; allow only 22:00-23:00 UTC.
    svc, scan, raw = setup(allowedWindows=[{"start": "22:00", "end": "23:00"}])
    await until(svc, scan, raw, lambda: trending(svc))
    await run(svc, scan, raw, 3)
    assert svc.cluster.restarts == []
    state = remediation(svc)
    assert state["lastSkip"]["reason"] == "OutsideAllowedWindow"
    assert state["nextAllowedTime"] == "2027-01-15T22:00:00Z"
    assert "waiting until 2027-01-15T22:00:00Z" in state["lastSkip"]["message"]


async def test_evict_pod_blocked_by_a_budget_is_retried_later_never_deleted() -> None:
    svc, scan, raw = setup(action="EvictPod")
    svc.cluster.blocked_pods = {"client-1"}
    await until(svc, scan, raw, lambda: trending(svc))
    await run(svc, scan, raw, 3)
    assert svc.cluster.evictions == [] and remediation(svc)["lastSkip"]["reason"] == "EvictionBlocked"
    assert "lastAction" not in remediation(svc) or remediation(svc)["lastAction"] is None
    svc.cluster.blocked_pods = set()  # the budget allows it now: the next pass retries, no cooldown
    await run(svc, scan, raw, 1)
    assert svc.cluster.evictions == [("client-1", False)]
    assert [k for k, _ in events(svc, "PodEvicted")] == ["LeakPolicy", "Deployment"]
    assert "evicted pod(s) client-1 of Deployment/client" in events(svc, "PodEvicted")[0][1]


async def test_an_eviction_names_the_pod_it_judged_by_uid() -> None:
    svc, scan, raw = setup(action="EvictPod")
    await until(svc, scan, raw, lambda: svc.cluster.evictions)
    assert svc.cluster.evictions == [("client-1", False)]
    assert svc.cluster.eviction_uids == ["client-1-uid"]


async def test_a_pod_its_owner_does_not_select_acts_on_nothing() -> None:
    """The pod names Deployment client's ReplicaSet as its controller, but the Deployment's selector
    (app=client) does not select it: its leak restarts and evicts nothing, and says why."""
    for action in ("RolloutRestart", "EvictPod"):
        svc, scan, raw = setup(action=action)
        svc.cluster.pods[0]["metadata"]["labels"] = {"app": "imposter"}
        await run(svc, scan, raw, 20)
        assert svc.cluster.restarts == [] and svc.cluster.evictions == []
        skip = remediation(svc)["lastSkip"]
        assert skip["reason"] == "OwnerMismatch", skip
        assert "its selector does not select pod client-1" in skip["message"]


async def test_a_leak_that_comes_back_soon_after_a_restart_suspends_remediation() -> None:
    svc, scan, raw = setup(cooldown="1m")
    await until(svc, scan, raw, lambda: svc.cluster.restarts)
    svc.replace_pod("client-2")  # the restart: a new process, the series starts over, and leaks again
    await until(svc, scan, raw, lambda: remediation(svc)["suspended"])
    assert svc.cluster.restarts == [("Deployment", "client", False)]  # not restarted again
    assert remediation(svc)["suspended"] == ["Deployment/client"]
    cond = svc.cluster.condition("RemediationSuspended")
    assert cond["status"] == "True" and "Deployment/client" in cond["message"]
    warnings = [e for e in svc.cluster.events if e.reason == "RemediationSuspended"]
    assert {e.about.kind for e in warnings} == {"LeakPolicy", "Deployment"}
    assert all(e.type == "Warning" for e in warnings)
    assert "masking a code bug" in warnings[0].message and "Fix:" in warnings[0].message
    assert "kubectl annotate namespace shop leakpatrol.dev/resume-remediation" in warnings[0].message
    await run(svc, scan, raw, 5)
    assert len(svc.cluster.restarts) == 1  # stays suspended
    # A person fixed it and the admin resumes: the Namespace's annotation, a time after the suspension.
    now = datetime.fromtimestamp(svc.clock.now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    svc.cluster.namespaces["shop"]["metadata"]["annotations"]["leakpatrol.dev/resume-remediation"] = now
    await scan.scan(svc.cluster.body(raw))
    assert remediation(svc)["suspended"] == []
    assert svc.cluster.condition("RemediationSuspended")["status"] == "False"
    assert len(svc.cluster.restarts) == 2  # the cooldown (1m) is over: acting again is the person's call


async def owned_by(kind: str) -> Service:
    svc, scan, raw = setup()
    svc.cluster.owner_kind = kind
    svc.cluster.workload_objs[(kind, "client")] = available(kind)
    await until(svc, scan, raw, lambda: trending(svc))
    await run(svc, scan, raw, 3)
    return svc


async def test_statefulsets_and_daemonsets_restart_replicasets_are_not_restartable() -> None:
    assert (await owned_by("StatefulSet")).cluster.restarts == [("StatefulSet", "client", False)]
    svc = await owned_by("ReplicaSet")
    assert svc.cluster.restarts == [] and remediation(svc)["lastSkip"]["reason"] == "UnsupportedWorkload"
    svc, scan, raw = setup()
    svc.cluster.owner_kind = "DaemonSet"
    ds = {
        "observedGeneration": 1,
        "desiredNumberScheduled": 2,
        "updatedNumberScheduled": 2,
        "numberAvailable": 2,
    }
    svc.cluster.workload_objs[("DaemonSet", "client")] = {
        "metadata": {"name": "client", "generation": 1},
        "spec": {"selector": {"matchLabels": {"app": "client"}}},
        "status": ds,
    }
    await until(svc, scan, raw, lambda: svc.cluster.restarts)
    assert svc.cluster.restarts == [("DaemonSet", "client", False)]


async def test_a_healthy_workload_is_never_touched() -> None:
    cluster = FakeCluster([running_pod("web-1")])  # the golden profile, the same every pass
    cluster.workload_objs[("Deployment", "web")] = available("Deployment")
    clock = Clock()
    scan = PolicyScanner(cluster, POLICY, SharedCapacity(), clock)
    for _ in range(30):
        await scan.scan(cluster.body(remediating(minConfirmations=1)))
        clock.now += 60
    assert cluster.restarts == [] and cluster.evidence == {} and cluster.evictions == []
    assert cluster.status["remediation"]["workloads"] == []


async def test_remediation_off_writes_nothing_new() -> None:
    svc, scan, _ = setup()
    await run(svc, scan, spec(), 30)
    assert "remediation" not in svc.cluster.status and svc.cluster.restarts == []
    assert all(c["type"] != "RemediationSuspended" for c in svc.cluster.status["conditions"])


async def test_evidence_asks_debug2_only_below_the_count_this_pass_saw_and_parses_by_its_parser() -> None:
    """Every body is parsed by the `parse` it is given (the operator's pool, in the namespace's turn),
    never inline; the debug=2 dump is kept only as re-rendered from its parse."""
    clock = Clock(FIRST_STAMP)
    svc = Service(clock)
    target = ScanTarget("default", "client-1", "client-1-uid", "10.0.0.1", 6060, PodIdentity(), None)
    workload = ObjectRef("apps/v1", "Deployment", "client", "deploy-uid", "default")
    parsed: list[int] = []

    async def parse(body: bytes) -> Profile:
        parsed.append(len(body))
        return load(body)

    cases = {12: True, 10_000: False, None: False}  # None: the pod's profile was not read this pass
    for goroutines, debug2 in cases.items():
        svc.cluster.fetches.clear()
        parsed.clear()
        _, files = await evidence.capture(
            svc.cluster,
            policy=POLICY,
            workload=workload,
            target=target,
            spec=parse_spec(spec()),
            now=datetime.fromtimestamp(clock.now, UTC),
            goroutines=goroutines,
            parse=parse,
        )
        asked = any("debug=2" in path for _, path in svc.cluster.fetches)
        assert (evidence.WAITS in files, asked) == (debug2, debug2), goroutines
        assert len(parsed) == len(svc.cluster.fetches)  # every body the pod served, and only through `parse`
