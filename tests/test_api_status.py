"""Status models and set_condition: lastTransitionTime moves only when status does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from leakpatrol.api import (
    Condition,
    ConditionStatus,
    ConditionType,
    Finding,
    LeakPolicyStatus,
    get_condition,
    set_condition,
    worst_first,
)
from leakpatrol.core import LeakState, SignalKind

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def cond(status: str, reason: str = "ScanSucceeded", message: str = "ok", type_: str = "Ready") -> Condition:
    return Condition.model_validate(
        {"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": T0}
    )


def test_new_condition_is_stamped_now_and_appended() -> None:
    result = set_condition([cond("True", type_="Degraded")], cond("True"), T1)
    assert [c.type for c in result] == [ConditionType.DEGRADED, ConditionType.READY]
    assert result[1].last_transition_time == T1


def test_same_status_keeps_the_transition_time_but_takes_reason_and_message() -> None:
    before = set_condition([], cond("False", "InvalidSpec", "bad"), T0)
    after = set_condition(before, cond("False", "ScrapeFailed", "unreachable"), T1)
    ready = get_condition(after, ConditionType.READY)
    assert ready is not None
    assert (ready.last_transition_time, ready.reason, ready.message) == (T0, "ScrapeFailed", "unreachable")


def test_status_change_moves_the_transition_time() -> None:
    after = set_condition(set_condition([], cond("False"), T0), cond("True"), T1)
    assert after[0].last_transition_time == T1
    assert after[0].status is ConditionStatus.TRUE


def test_set_condition_is_pure() -> None:
    original = [cond("False")]
    set_condition(original, cond("True"), T1)
    assert original == [cond("False")]


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValidationError):
        set_condition([], cond("True"), datetime(2026, 1, 1))  # naive: the point of the test


def test_reason_must_be_camel_case() -> None:
    with pytest.raises(ValidationError):
        cond("True", reason="scan failed")


def test_status_serializes_to_the_wire_form() -> None:
    status = LeakPolicyStatus.model_validate(
        {"observedGeneration": 3, "conditions": [cond("True").model_dump()], "lastScanTime": T1}
    )
    dumped = status.model_dump(exclude_none=True)
    assert dumped["lastScanTime"] == "2026-01-02T03:09:05Z"
    assert dumped["conditions"][0]["lastTransitionTime"] == "2026-01-02T03:04:05Z"
    assert LeakPolicyStatus.model_validate(dumped) == status


def finding(name: str, state: str = "Confirmed", signal: str = "goroutines", growth: int = 100) -> Finding:
    raw: dict[str, Any] = {
        "workload": {"kind": "Deployment", "name": name},
        "signal": signal,
        "state": state,
        "since": T0,
        "baseline": 100,
        "current": 100 + growth,
        "growthPerHour": growth,
        "pValue": "1.2e-05",
        "culprit": ["net/http.(*persistConn).readLoop transport.go:2205"],
    }
    return Finding.model_validate(raw)


def test_worst_first_orders_and_bounds() -> None:
    findings = [finding(f"slow{i}", growth=10) for i in range(12)]
    findings += [finding("suspect", state="Suspected", growth=10_000), finding("fast", growth=5000)]
    findings.append(finding("proven", signal="goroutineleak", growth=1))
    ranked = worst_first(findings)
    assert len(ranked) == 10
    assert [f.workload.name for f in ranked[:2]] == ["proven", "fast"]
    assert "suspect" not in {f.workload.name for f in ranked}
    assert {f.signal for f in ranked} <= set(SignalKind)
    assert all(f.state is LeakState.CONFIRMED for f in ranked)


def test_findings_are_bounded_by_the_model() -> None:
    with pytest.raises(ValidationError):
        LeakPolicyStatus(findings=[finding(str(i)) for i in range(11)])
