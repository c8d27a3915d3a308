"""Each rail alone: a pure function of data and a `now`, failing closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leakpatrol.api import (
    Finding,
    RemediationAction,
    RemediationStatus,
    TimeWindow,
    Workload,
    WorkloadRemediation,
)
from leakpatrol.controller.remediation import rails, state, timewindow
from leakpatrol.reasons import Reason

NOW = datetime(2030, 1, 7, 12, 0, tzinfo=UTC)  # a Monday
WEB = Workload(kind="Deployment", name="web")


def finding(
    state: str = "Confirmed", signal: str = "goroutines", since: datetime = NOW, **kw: Any
) -> Finding:
    return Finding.model_validate(
        {
            "workload": {"kind": "Deployment", "name": "web"},
            "pods": ["web-1"],
            "signal": signal,
            "state": state,
            "since": since,
            "baseline": 100,
            "current": 900,
            "growthPerHour": 400,
            "pValue": "0.001",
            "culprit": ["net/http.(*persistConn).readLoop transport.go:2493"],
        }
        | kw
    )


def acted(at: datetime, **kw: Any) -> WorkloadRemediation:
    return WorkloadRemediation(workload=WEB, last_action_time=at, signature=rails.signature(finding()), **kw)


def test_only_a_confirmed_leak_held_for_min_confirmations_passes() -> None:
    assert rails.confirmed(finding("Suspected"), 9, 2).reason == "NotConfirmed"  # type: ignore[union-attr]
    assert rails.confirmed(finding(), 1, 2).reason == "AwaitingConfirmations"  # type: ignore[union-attr]
    assert rails.confirmed(finding(), 2, 2) is None
    # A heap-only finding needs twice as many passes: heap blips are common.
    assert rails.confirmed(finding(signal="heap"), 3, 2) is not None
    assert rails.confirmed(finding(signal="heap"), 4, 2) is None


@pytest.mark.parametrize(
    ("action", "kind", "ok"),
    [
        (RemediationAction.ROLLOUT_RESTART, "Deployment", True),
        (RemediationAction.ROLLOUT_RESTART, "StatefulSet", True),
        (RemediationAction.ROLLOUT_RESTART, "DaemonSet", True),
        (RemediationAction.ROLLOUT_RESTART, "ReplicaSet", False),
        (RemediationAction.ROLLOUT_RESTART, "Pod", False),
        (RemediationAction.EVICT_POD, "ReplicaSet", True),
        (RemediationAction.EVICT_POD, "Pod", False),  # nobody would re-create it
        (RemediationAction.EVICT_POD, "Job", False),
        (RemediationAction.NONE, "Deployment", False),
    ],
)
def test_the_workload_kind_must_support_the_action(action: RemediationAction, kind: str, ok: bool) -> None:
    assert (rails.kind_supports(action, kind) is None) is ok


def test_cooldown_per_workload() -> None:
    assert rails.cooldown_over(None, 3600, NOW) is None
    block = rails.cooldown_over(acted(NOW - timedelta(minutes=10)), 3600, NOW)
    assert block is not None and block.reason == "Cooldown" and block.until == NOW + timedelta(minutes=50)
    assert rails.cooldown_over(acted(NOW - timedelta(hours=1)), 3600, NOW) is None


def test_max_actions_per_rolling_window() -> None:
    times = [NOW - timedelta(hours=h) for h in (1, 5, 30)]  # the 30h-old one is outside a 24h window
    assert rails.budget_left(times, 3, 86400, NOW) is None
    block = rails.budget_left(times, 2, 86400, NOW)
    assert block is not None and block.reason == "ActionBudgetExhausted"
    assert block.until == NOW - timedelta(hours=5) + timedelta(hours=24)  # when the oldest counted ages out


def test_an_action_recorded_in_our_future_still_holds() -> None:
    """A replica whose clock is behind the one that acted sees the action "in the future": the
    cooldown runs from it, the budget counts it, and pruning keeps it."""
    later = NOW + timedelta(hours=2)
    block = rails.cooldown_over(acted(later), 600, NOW)
    assert block is not None and block.reason == "Cooldown" and block.until == later + timedelta(minutes=10)
    assert rails.budget_left([later], 1, 3600, NOW) is not None
    assert state.prune_actions(RemediationStatus(actions=[later]), 3600, NOW).actions == [later]
    assert rails.is_recurrence(acted(later), finding(since=later + timedelta(minutes=1)), 86400, NOW)


def test_one_workload_in_action_at_a_time() -> None:
    assert rails.one_at_a_time(None, WEB) is None
    assert rails.one_at_a_time(WEB, WEB) is None
    other = rails.one_at_a_time(Workload(kind="Deployment", name="api"), WEB)
    assert other is not None and other.reason == "AnotherWorkloadInAction"


def test_suspended_workloads_are_left_alone() -> None:
    assert rails.not_suspended(acted(NOW, suspended=True)).reason == "RemediationSuspended"  # type: ignore[union-attr]
    assert rails.not_suspended(acted(NOW)) is None


def test_recurrence_is_the_same_leak_confirmed_anew_soon_after_an_action() -> None:
    action = NOW - timedelta(minutes=30)
    w = acted(action)
    assert rails.is_recurrence(w, finding(since=NOW - timedelta(minutes=5)), 86400, NOW)
    # flagged before the action: the old finding, not a recurrence
    assert not rails.is_recurrence(w, finding(since=action - timedelta(minutes=1)), 86400, NOW)
    # a different culprit is another leak
    other = finding(since=NOW, culprit=["main.worker main.go:12"])
    assert not rails.is_recurrence(w, other, 86400, NOW)
    assert not rails.is_recurrence(w, finding(since=NOW), 600, NOW)  # after escalateAfter
    assert not rails.is_recurrence(w, finding(since=NOW), 0, NOW)  # 0s: never escalate
    assert not rails.is_recurrence(None, finding(since=NOW), 86400, NOW)


def deployment(**status: Any) -> dict[str, Any]:
    base = {"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}
    return {"metadata": {"name": "web", "generation": 3}, "spec": {"replicas": 2}, "status": base | status}


def test_fully_available_and_not_mid_rollout() -> None:
    assert rails.fully_available("Deployment", deployment()) is None
    assert rails.fully_available("Deployment", deployment(observedGeneration=2)).reason == "RolloutInProgress"  # type: ignore[union-attr]
    assert rails.fully_available("Deployment", deployment(updatedReplicas=1)).reason == "WorkloadNotAvailable"  # type: ignore[union-attr]
    assert rails.fully_available("Deployment", deployment(availableReplicas=1)) is not None
    assert rails.fully_available("Deployment", deployment(replicas=3)) is not None  # old pods still there
    assert (
        rails.fully_available("Deployment", {"metadata": {"generation": 1}}) is not None
    )  # no status: closed
    ds = {
        "metadata": {"name": "agent", "generation": 1},
        "status": {
            "observedGeneration": 1,
            "desiredNumberScheduled": 3,
            "updatedNumberScheduled": 3,
            "numberAvailable": 3,
        },
    }
    assert rails.fully_available("DaemonSet", ds) is None
    ds["status"]["numberAvailable"] = 2
    assert rails.fully_available("DaemonSet", ds) is not None


def pdb(allowed: int, selector: dict[str, Any] | None, observed: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"name": "web-pdb", "generation": 1},
        "spec": {"selector": selector},
        "status": {"observedGeneration": observed, "disruptionsAllowed": allowed},
    }


def test_every_pdb_selecting_the_pods_must_allow_a_disruption() -> None:
    labels = {"app": "web", "tier": "front"}
    assert rails.budgets_allow([pdb(1, {"matchLabels": {"app": "web"}})], labels) is None
    block = rails.budgets_allow([pdb(0, {"matchLabels": {"app": "web"}})], labels)
    assert block is not None and block.reason == "DisruptionBudgetExhausted"
    assert rails.budgets_allow([pdb(0, {"matchLabels": {"app": "api"}})], labels) is None  # not ours
    assert rails.budgets_allow([pdb(0, None)], labels) is None  # a null selector selects nothing
    assert rails.budgets_allow([pdb(0, {})], labels) is not None  # an empty one selects everything
    expr = {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]}
    assert rails.budgets_allow([pdb(0, expr)], labels) is not None
    assert (
        rails.budgets_allow([pdb(1, {"matchLabels": {"app": "web"}}, observed=0)], labels) is not None
    )  # stale


def test_time_windows_in_their_own_zone() -> None:
    berlin_office = TimeWindow(days=["Mon", "Tue"], start="09:00", end="17:00", time_zone="Europe/Berlin")
    assert timewindow.inside([berlin_office], NOW)  # 13:00 in Berlin on a Monday
    assert not timewindow.inside([berlin_office], NOW.replace(hour=17))  # 18:00 in Berlin
    assert timewindow.next_opening([berlin_office], NOW.replace(hour=17)) == datetime(
        2030, 1, 8, 8, tzinfo=UTC
    )
    night = TimeWindow(start="22:00", end="06:00")  # UTC, past midnight, every day
    assert timewindow.inside([night], NOW.replace(hour=23)) and timewindow.inside(
        [night], NOW.replace(hour=3)
    )
    assert not timewindow.inside([night], NOW)
    assert timewindow.inside([], NOW)  # no windows: any time
    block = rails.inside_windows([night], NOW)
    assert (
        block is not None and block.reason == "OutsideAllowedWindow" and block.until == NOW.replace(hour=22)
    )
    assert "2030-01-07T22:00:00Z" in block.message


def test_what_the_schema_cannot_say_is_invalid_spec_naming_the_field() -> None:
    from leakpatrol.api import validate_spec  # noqa: PLC0415

    raw = {
        "selector": {"matchLabels": {"app": "web"}},
        "remediation": {
            "action": "RolloutRestart",
            "allowedWindows": [
                {"timeZone": "Mars/Olympus_Mons"},
                {"start": "09:00", "end": "09:00"},
                {"start": "24:00", "end": "06:00"},
                {"days": ["Mon", "Mon"]},
            ],
        },
    }
    paths = {i.path for i in validate_spec(raw)}
    assert paths == {
        "spec.remediation.allowedWindows[0].timeZone",
        "spec.remediation.allowedWindows[1].end",
        "spec.remediation.allowedWindows[2].start",
        "spec.remediation.allowedWindows[3].days",
    }
    assert validate_spec(raw | {"remediation": {"action": "Restart"}})[0].path == "spec.remediation.action"
    assert validate_spec({"selector": {"matchLabels": {"app": "web"}}, "remediation": {}}) == []


def test_the_workload_must_select_every_pod_it_acts_for() -> None:
    web = {"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}}}}
    assert rails.selects("Deployment", web, {"web-1": {"app": "web", "pod-template-hash": "x"}}) is None
    stray = rails.selects("Deployment", web, {"web-1": {"app": "web"}, "evil": {"app": "billing"}})
    assert stray is not None and stray.reason is Reason.OWNER_MISMATCH
    assert "does not select pod evil" in stray.message
    # Fail closed: no selector to check with, or no pod of the finding known to this pass.
    assert rails.selects("Deployment", {"metadata": {"name": "web"}, "spec": {}}, {"w": {}}) is not None
    assert rails.selects("Deployment", web, {}) is not None
