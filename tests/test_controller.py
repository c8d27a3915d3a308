"""The operator's pure domain: which pods are targets, what the status says, which Events to post."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from leakpatrol.api import (
    ConditionStatus,
    ConditionType,
    Finding,
    GrowthOf,
    MemoryForecast,
    Spread,
    Workload,
    get_condition,
)
from leakpatrol.api.remediation import RemediationAction
from leakpatrol.controller.collect.targets import select_targets
from leakpatrol.controller.ports import Unscannable
from leakpatrol.controller.remediation.messages import action_message
from leakpatrol.controller.report.events import (
    POD_EVENT_CHARS,
    POLICY_EVENT_CHARS,
    WORKLOAD_EVENT_CHARS,
    failure_events,
    leak_events,
)
from leakpatrol.controller.report.status import ScanPass, scanned_status, status_body, suspended_status
from leakpatrol.core import LeakState, ObjectRef, SignalKind
from leakpatrol.detect.signals import CulpritGroup, Signal
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
    story = next(e.message for e in confirmed if e.about.kind == "Deployment")
    assert "Fix: share one Client" in story  # the workload's Event tells the story
    assert "Culprit: net/http.(*persistConn).readLoop transport.go:2493." in story
    assert "kubectl describe leakpolicy demo -n shop" in story  # where the cause and the fix are
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
    events = leak_events(POLICY, [], [f], {("Deployment", "web"): DEPLOY}, pods)
    for event in events:
        assert "360 goroutines proven blocked forever" in event.message or event.about.kind == "Pod"
        assert "+0/h" not in event.message and "0 -> 360" not in event.message
        assert "leak leak" not in event.message and "goroutineleak leak" not in event.message


# --- issue 21: statuses, messages and numbers an on-call can trust ---------------------------------
def _conditions(status: Any) -> dict[str, Any]:
    return {c.type.value: c for c in status.conditions}


def test_a_policy_that_selects_nothing_is_not_ready_and_says_so() -> None:
    status = scanned_status(None, ScanPass("shop", 0, 0, 0, [], selector="app=web, tier=api"), 1, NOW)
    c = _conditions(status)
    assert (c["Ready"].status, c["Ready"].reason) == (ConditionStatus.FALSE, "NoTargets")
    assert "namespace shop with labels app=web, tier=api" in c["Ready"].message
    assert (c["LeakDetected"].status, c["LeakDetected"].reason) == (ConditionStatus.UNKNOWN, "NoTargets")
    # not "all 0 selected target(s) answered"
    assert (c["Degraded"].status, c["Degraded"].reason) == (ConditionStatus.FALSE, "NoTargets")


def test_a_policy_none_of_whose_targets_answer_is_not_ready_and_says_why() -> None:
    failures = [Unscannable(f"web-{i}", Reason.PPROF_NOT_EXPOSED, "HTTP 404") for i in range(2)]
    status = scanned_status(None, ScanPass("shop", 2, 0, 0, [], failures), 1, NOW)
    c = _conditions(status)
    assert (c["Ready"].status, c["Ready"].reason) == (ConditionStatus.FALSE, "NoTargetsScanned")
    assert "none of the 2 selected target(s) could be scanned (2 PprofNotExposed)" in c["Ready"].message
    # not "InsufficientData: not enough samples yet": these targets give no samples at all
    assert (c["LeakDetected"].status, c["LeakDetected"].reason) == (
        ConditionStatus.UNKNOWN,
        "NoTargetsScanned",
    )
    assert c["Degraded"].reason == "PprofNotExposed"
    # One answers again: Ready, and the failing one is still counted in its message.
    partial = scanned_status(status, ScanPass("shop", 2, 1, 0, [], failures[:1]), 1, NOW)
    ready = _conditions(partial)["Ready"]
    assert (ready.status, ready.reason) == (ConditionStatus.TRUE, "Scanned")
    assert ready.message == "scanned 1 of 2 target(s); 1 failing (see Degraded)"
    assert _conditions(partial)["LeakDetected"].reason == "InsufficientData"


def heap_finding(workload: str = "sessions", **update: Any) -> Finding:
    return Finding(
        workload=Workload(kind="Deployment", name=workload),
        pods=[f"{workload}-1-x"],
        signal=SignalKind.HEAP,
        state=LeakState.CONFIRMED,
        since=NOW,
        baseline=62163926,
        current=89161992,
        total_growth_per_hour=6267467247,
        growth_per_hour=69206016,
        p_value="1e-09",
        culprit=["main.(*Cache).Put /src/cache.go:42"],
    ).model_copy(update=update)


def orders_finding() -> Finding:
    return finding().model_copy(
        update={
            "workload": Workload(kind="Deployment", name="orders"),
            "baseline": 266,
            "current": 1018,
            "total_growth_per_hour": 540,
            "growth_per_hour": 138,
        }
    )


def test_the_leak_condition_has_one_clause_per_workload_with_its_own_signal_rate_and_rule() -> None:
    status = status_after([orders_finding(), heap_finding()])
    message = _conditions(status)["LeakDetected"].message
    clauses = message.split(". ")[0].split("; ")
    assert clauses == [
        "Deployment/orders: goroutines total 266 -> 1018 (+540/h), culprit group +138/h,"
        " rule http-transport-per-request",
        "Deployment/sessions: heap total 59.3 MiB -> 85.0 MiB (+5.8 GiB/h), culprit group +66.0 MiB/h,"
        " no rule matched",
    ]


def test_two_signals_of_one_workload_share_its_clause() -> None:
    both = [orders_finding(), heap_finding("orders", rule_id="unbounded-cache")]
    message = _conditions(status_after(both))["LeakDetected"].message
    assert message.count("Deployment/orders") == 1
    assert "rule http-transport-per-request and heap total 59.3 MiB" in message
    assert message.endswith(
        "rule unbounded-cache. The culprit, cause and fix: status.findings and the workload's Events"
    )


def test_a_total_flagged_without_one_culprit_group_says_so() -> None:
    f = orders_finding().model_copy(update={"growth_of": GrowthOf.TOTAL, "growth_per_hour": 400})
    message = _conditions(status_after([f]))["LeakDetected"].message
    assert "total 266 -> 1018 (+540/h), beyond its load +400/h" in message and "culprit group" not in message


RAW_BYTES = re.compile(r"\d{6,}")  # a heap number a person would have to count the digits of


def test_heap_numbers_read_with_units_in_every_condition_and_event() -> None:
    words = "at this rate the container reaches its 512Mi limit in ~2h (1.5h-3h)"
    forecast = MemoryForecast(
        pod="sessions-1-x", limit="512Mi", eta="2h", eta_min="1.5h", eta_max="3h",
        reach_time=NOW + timedelta(hours=2), message=words,
    )  # fmt: skip
    f = heap_finding(forecast=forecast)
    status = status_after([f])
    pods = {"sessions-1-x": ObjectRef("v1", "Pod", "sessions-1-x", "x-uid", "shop")}
    workloads = {("Deployment", "sessions"): DEPLOY}
    events = leak_events(POLICY, [], status.findings, workloads, pods)
    messages = [c.message for c in status.conditions] + [e.message for e in events]
    messages.append(action_message(RemediationAction.ROLLOUT_RESTART, f, [], True, ""))  # its Event too
    for text in messages:
        assert not RAW_BYTES.search(text), text
    story = next(e.message for e in events if e.about.kind == "Deployment")
    assert "total 59.3 MiB -> 85.0 MiB (+5.8 GiB/h), culprit group +66.0 MiB/h." in story
    assert status.findings[0].current == 89161992  # the status fields keep the raw numbers


def test_every_event_is_short_and_the_pods_carry_their_own_numbers() -> None:
    names = [f"web-{i}" for i in range(12)]
    f = finding().model_copy(
        update={
            "pods": names,
            "spread": Spread(leaking=12, of=12),
            "cause": "a very long cause " * 40,
            "fix": "Create one http.Client at start-up and share it. " + "More advice. " * 40,
            "culprit": [f"pkg.F{i} /very/long/path/to/the/source/file{i}.go:{i}" for i in range(5)],
        }
    )
    pods = {n: ObjectRef("v1", "Pod", n, f"{n}-uid", "shop") for n in names}
    group = CulpritGroup("s", "select", (), 9, 9, 1.0)
    own_signal = Signal(SignalKind.GOROUTINES, LeakState.CONFIRMED, group, (), None, 30.0, 0.001, 40.0, 90.0,
                        0.0, total_growth_per_hour=33.0)  # fmt: skip
    events = leak_events(
        POLICY, [], [f], {("Deployment", "web"): DEPLOY}, pods, own={("web-3", "goroutines"): own_signal}
    )
    assert len(events) == 14  # policy, workload, 12 pods
    limits = {"LeakPolicy": POLICY_EVENT_CHARS, "Deployment": WORKLOAD_EVENT_CHARS, "Pod": POD_EVENT_CHARS}
    for e in events:
        assert len(e.message) <= limits[e.about.kind], (e.about.kind, len(e.message))
    (mine,) = (e.message for e in events if e.about.name == "web-3")
    assert mine.startswith("this pod's goroutines: 40 -> 90 (+33/h); Deployment/web leaks in 12 of 12 pods")
    assert "a very long cause" not in " ".join(e.message for e in events)  # the cause stays in the status
    assert all(f.cause in g.cause for g in status_after([f]).findings if g.cause)


def test_a_suspended_policy_marks_what_it_last_saw_and_clears_the_relative_eta() -> None:
    words = "at this rate the container reaches its 512Mi limit in ~9.2m"
    forecast = MemoryForecast(
        pod="sessions-1-x", limit="512Mi", eta="9.2m", reach_time=NOW + timedelta(minutes=9), message=words
    )
    scanned = status_after([heap_finding(forecast=forecast)])
    assert scanned.worst_eta == "~9.2m Deployment/sessions"
    assert scanned.worst_eta_time == NOW + timedelta(minutes=9)
    later = NOW + timedelta(minutes=4)
    suspended = suspended_status(scanned, 4, later)
    c = _conditions(suspended)
    assert (c["Ready"].status, c["Ready"].reason) == (ConditionStatus.FALSE, "Suspended")
    assert "as of the last scan, 2030-01-01T12:00:00Z" in c["Ready"].message
    assert (c["LeakDetected"].status, c["LeakDetected"].reason) == (ConditionStatus.UNKNOWN, "Suspended")
    assert "at the last scan (2030-01-01T12:00:00Z) it was True LeakDetected: Deployment/sessions" in (
        c["LeakDetected"].message
    )
    assert c["Degraded"].status is ConditionStatus.UNKNOWN
    assert suspended.worst_eta is None  # "~9.2m", frozen at the last scan, would be false
    assert suspended.worst_eta_time == NOW + timedelta(minutes=9)  # absolute: still true
    body = status_body(suspended)
    assert body["worstEta"] is None and body["worstEtaTime"] == "2030-01-01T12:09:00Z"
    again = suspended_status(suspended, 4, later + timedelta(minutes=1))
    assert _conditions(again)["LeakDetected"].message == c["LeakDetected"].message  # not nested


def test_events_stay_under_their_size_whatever_the_names() -> None:
    long = "w" * 253  # the longest name a workload or pod may have
    f = finding().model_copy(update={"workload": Workload(kind="StatefulSet", name=long), "pods": [long]})
    pods = {long: ObjectRef("v1", "Pod", long, "x-uid", "shop")}
    workload = ObjectRef("apps/v1", "StatefulSet", long, "s-uid", "shop")
    events = leak_events(POLICY, [], [f], {("StatefulSet", long): workload}, pods)
    limits = {"LeakPolicy": POLICY_EVENT_CHARS, "StatefulSet": WORKLOAD_EVENT_CHARS, "Pod": POD_EVENT_CHARS}
    assert len(events) == 3
    for e in events:
        assert 0 < len(e.message) <= limits[e.about.kind], (e.about.kind, len(e.message))
