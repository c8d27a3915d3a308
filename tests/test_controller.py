"""The operator's pure domain: which pods are targets, what the status says, which Events to post."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from leakpatrol.api import (
    ConditionStatus,
    ConditionType,
    Finding,
    Workload,
    get_condition,
)
from leakpatrol.controller.collect.targets import select_targets
from leakpatrol.controller.ports import Unscannable
from leakpatrol.controller.report.events import failure_events, leak_events
from leakpatrol.controller.report.status import ScanPass, scanned_status
from leakpatrol.core import LeakState, ObjectRef, SignalKind
from leakpatrol.reasons import Reason

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
POLICY = ObjectRef("leakpatrol.dev/v1alpha1", "LeakPolicy", "demo", "p-uid", "shop")
DEPLOY = ObjectRef("apps/v1", "Deployment", "web", "d-uid", "shop")


def pod(
    name: str,
    *,
    phase: str = "Running",
    ready: bool = True,
    restarts: int = 0,
    port_name: str = "pprof",
    deleting: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": "shop",
        "uid": f"{name}-uid",
        "ownerReferences": [{"kind": "ReplicaSet", "name": "web-1", "controller": True}],
    }
    if deleting:
        meta["deletionTimestamp"] = "2030-01-01T11:59:00Z"
    return {
        "metadata": meta,
        "spec": {"containers": [{"name": "app", "ports": [{"name": port_name, "containerPort": 6060}]}]},
        "status": {
            "phase": phase,
            "podIP": "10.0.0.7",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "app", "restartCount": restarts,
                                   "state": {"running": {"startedAt": "2030-01-01T11:00:00Z"}}}],
        },
    }  # fmt: skip


def test_only_running_ready_pods_are_targets_and_ports_resolve_by_name() -> None:
    pods = [pod("a"), pod("b", ready=False), pod("c", phase="Pending"), pod("d", deleting=True),
            pod("e", port_name="http")]  # fmt: skip
    targets, problems = select_targets(pods, "pprof")
    assert [t.name for t in targets] == ["a"]
    assert targets[0].port == 6060 and targets[0].owner == ("ReplicaSet", "web-1")
    assert targets[0].identity.started_at == datetime(2030, 1, 1, 11, tzinfo=UTC).timestamp()
    assert [(p.pod, p.reason) for p in problems] == [("e", "PortNotFound")]
    assert "'pprof'" in problems[0].message


def test_a_port_number_needs_no_declaration() -> None:
    targets, problems = select_targets([pod("e", port_name="http")], 7777)
    assert targets[0].port == 7777 and not problems


def test_a_restart_changes_the_identity_that_resets_a_series() -> None:
    (before,), _ = select_targets([pod("a")], "pprof")
    (after,), _ = select_targets([pod("a", restarts=1)], "pprof")
    assert before.identity != after.identity


def finding(state: LeakState = LeakState.CONFIRMED) -> Finding:
    return Finding(
        workload=Workload(kind="Deployment", name="web"),
        pods=["web-1-x"],
        signal=SignalKind.GOROUTINES,
        state=state,
        since=NOW,
        baseline=100,
        current=400,
        growth_per_hour=300,
        p_value="1e-05",
        culprit=["net/http.(*persistConn).readLoop /usr/lib/go/src/net/http/transport.go:2493"],
        rule_id="http-transport-per-request",
        cause="a Transport per request",
        fix="share one Client",
    )


def status_after(
    findings: list[Finding],
    failures: list[Unscannable] | None = None,
    previous: Any = None,
    now: datetime = NOW,
    evaluated: int = 2,
) -> Any:
    return scanned_status(previous, ScanPass("shop", 2, 2, evaluated, findings, failures or []), 3, now)


def test_conditions_say_what_a_person_acts_on() -> None:
    status = status_after([finding()])
    leak = get_condition(status.conditions, ConditionType.LEAK_DETECTED)
    assert leak is not None and leak.status is ConditionStatus.TRUE and leak.reason == "LeakDetected"
    assert "Deployment/web" in leak.message and "http-transport-per-request" in leak.message
    assert status.leaking == 1 and status.observed_generation == 3
    assert all(c.observed_generation == 3 for c in status.conditions)


def test_insufficient_data_is_unknown_not_false() -> None:
    leak = get_condition(status_after([], evaluated=0).conditions, ConditionType.LEAK_DETECTED)
    assert leak is not None and leak.status is ConditionStatus.UNKNOWN and leak.reason == "InsufficientData"


def test_last_transition_time_moves_only_when_status_changes() -> None:
    first = status_after([finding()])
    later = status_after([finding()], previous=first, now=NOW + timedelta(minutes=5))
    resolved = status_after([], previous=later, now=NOW + timedelta(minutes=10))

    def ltt(s: Any) -> datetime:
        c = get_condition(s.conditions, ConditionType.LEAK_DETECTED)
        assert c is not None
        return c.last_transition_time

    assert ltt(later) == ltt(first) == NOW
    assert ltt(resolved) == NOW + timedelta(minutes=10)


def test_failing_targets_degrade_with_their_reason() -> None:
    status = status_after([], [Unscannable("web-1-x", Reason.PPROF_NOT_EXPOSED, "HTTP 404")])
    degraded = get_condition(status.conditions, ConditionType.DEGRADED)
    assert (
        degraded is not None
        and degraded.status is ConditionStatus.TRUE
        and degraded.reason == "PprofNotExposed"
    )
    assert status.targets is not None and status.targets.failing == 1


def test_events_only_on_transitions() -> None:
    pods = {"web-1-x": ObjectRef("v1", "Pod", "web-1-x", "x-uid", "shop")}
    workloads = {("Deployment", "web"): DEPLOY}
    suspected = leak_events(POLICY, [], [finding(LeakState.SUSPECTED)], workloads, pods)
    assert {(e.about.kind, e.reason) for e in suspected} == {("LeakPolicy", "LeakSuspected"),
                                                             ("Deployment", "LeakSuspected")}  # fmt: skip
    confirmed = leak_events(POLICY, [finding(LeakState.SUSPECTED)], [finding()], workloads, pods)
    assert {(e.about.kind, e.reason, e.type) for e in confirmed} == {
        ("LeakPolicy", "LeakDetected", "Warning"), ("Deployment", "LeakDetected", "Warning"),
        ("Pod", "LeakDetected", "Warning")}  # fmt: skip
    assert "Fix: share one Client" in confirmed[0].message
    assert "Culprit: net/http.(*persistConn).readLoop transport.go:2493." in confirmed[0].message
    assert leak_events(POLICY, [finding()], [finding()], workloads, pods) == []
    resolved = leak_events(POLICY, [finding()], [], workloads, pods)
    assert {e.reason for e in resolved} == {"LeakResolved"}


def test_a_failing_target_is_reported_once() -> None:
    pods = {"web-1-x": ObjectRef("v1", "Pod", "web-1-x", "x-uid", "shop")}
    failure = [Unscannable("web-1-x", Reason.SCRAPE_TIMEOUT, "not complete within 5s")]
    first = failure_events(POLICY, [], failure, pods)
    assert {(e.about.kind, e.reason) for e in first} == {
        ("LeakPolicy", "ScrapeTimeout"),
        ("Pod", "ScrapeTimeout"),
    }
    assert failure_events(POLICY, ["web-1-x"], failure, pods) == []


def test_a_missed_scrape_never_resolves_a_leak() -> None:
    """A leaking pod paused past one scrape: no evaluation this pass, so the finding stands and no
    LeakResolved is posted; the pod's evaluations (not its silence) decide later."""
    pods = {"web-1-x": ObjectRef("v1", "Pod", "web-1-x", "x-uid", "shop")}
    workloads = {("Deployment", "web"): DEPLOY}
    confirmed = status_after([finding()])
    missed = status_after(
        [], [Unscannable("web-1-x", Reason.SCRAPE_TIMEOUT, "not complete within 5s")], previous=confirmed
    )
    assert [f.state for f in missed.findings] == [LeakState.CONFIRMED] and missed.leaking == 1
    leak = get_condition(missed.conditions, ConditionType.LEAK_DETECTED)
    assert leak is not None and leak.status is ConditionStatus.TRUE
    assert leak_events(POLICY, confirmed.findings, missed.findings, workloads, pods) == []
    # Scraped again and evaluated without the leak: now it is resolved.
    back = status_after([], previous=missed)
    assert back.findings == []
    assert {e.reason for e in leak_events(POLICY, missed.findings, back.findings, workloads, pods)} == {
        "LeakResolved"
    }


def test_a_failing_pod_does_not_keep_another_pods_finding() -> None:
    other = finding().model_copy(update={"pods": ["web-1-y"]})
    status = status_after(
        [], [Unscannable("web-1-x", Reason.SCRAPE_TIMEOUT, "timeout")], previous=status_after([other])
    )
    assert status.findings == []


def test_a_missed_scrape_keeps_the_worse_finding() -> None:
    previous = status_after([finding()])
    fresh = finding(LeakState.SUSPECTED).model_copy(update={"pods": ["web-1-y"]})
    status = status_after(
        [fresh], [Unscannable("web-1-x", Reason.SCRAPE_TIMEOUT, "timeout")], previous=previous
    )
    assert [(f.state, f.pods) for f in status.findings] == [(LeakState.CONFIRMED, ["web-1-x"])]


def test_goroutineleak_reads_as_a_proof_not_a_trend() -> None:
    f = finding().model_copy(update={"signal": SignalKind.GOROUTINELEAK, "baseline": 0, "current": 360,
                                     "growth_per_hour": 0})  # fmt: skip
    status = status_after([f])
    leak = get_condition(status.conditions, ConditionType.LEAK_DETECTED)
    assert leak is not None and "360 goroutines proven blocked forever" in leak.message
    pods = {"web-1-x": ObjectRef("v1", "Pod", "web-1-x", "x-uid", "shop")}
    (event, *_) = leak_events(POLICY, [], [f], {("Deployment", "web"): DEPLOY}, pods)
    assert "360 goroutines the runtime's GC proved unreachable and blocked forever" in event.message
    assert "+0/h" not in event.message and "0 -> 360" not in event.message
