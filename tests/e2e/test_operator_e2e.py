"""The operator end to end: `leakpatrol operator` (a real process) against the sandbox cluster,
real Go services as pods, the real port-forward protocol, and real kubectl to apply and describe.

One operator process serves the module; each test works in its own namespace.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
from harness import Kubectl, OperatorProcess, condition, wait_until
from support import DEMO_POLICY, apply, demo, events, has_condition, namespace, policy


def test_leak_is_found_healthy_is_not_and_describe_shows_it(
    kubectl: Kubectl, operator: OperatorProcess
) -> None:
    ns = demo(kubectl, "e2e-leak")
    healthy_flagged: list[str] = []

    def confirmed() -> dict[str, Any] | None:
        lp = policy(kubectl, ns)
        findings = (lp.get("status") or {}).get("findings") or []
        healthy_flagged.extend(f["state"] for f in findings if f["workload"]["name"] == "healthy-http")
        leak = condition(lp, "LeakDetected")  # from the same read as the findings above
        return lp if leak and leak["status"] == "True" else None

    lp = wait_until(confirmed, within=120, what="LeakDetected")
    finding = next(f for f in lp["status"]["findings"] if f["workload"]["name"] == "leaky-http")
    assert finding["workload"]["kind"] == "Deployment"
    assert finding["ruleId"] == "http-transport-per-request"
    assert finding["signal"] == "goroutines" and finding["state"] == "Confirmed"
    assert any("persistConn" in frame for frame in finding["culprit"])
    assert finding["current"] > finding["baseline"]
    assert lp["status"]["targets"] == {"selected": 2, "scanned": 2, "failing": 0}
    # Watch a little longer: the healthy service must never appear, not even as a suspicion.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        confirmed()
        time.sleep(1)
    assert healthy_flagged == []

    wait_until(
        lambda: "LeakDetected" in kubectl("describe", "deployment", "leaky-http", "-n", ns),
        within=20,
        what="the Event on the Deployment",
    )
    described = kubectl("describe", "deployment", "leaky-http", "-n", ns)
    assert "http-transport-per-request" in described and "persistConn" in described
    assert "LeakDetected" in kubectl("describe", "leakpolicy", "demo", "-n", ns)
    assert "LeakDetected" not in kubectl("describe", "deployment", "healthy-http", "-n", ns)
    table = kubectl("get", "leakpolicies", "-n", ns)
    assert re.search(r"demo\s+True\s+Scanned\s+2\s+0\s+1\s", table), (
        table
    )  # READY REASON TARGETS FAILING LEAKING

    metrics = httpx.get(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5).text
    assert re.search(
        rf'leakpatrol_target_goroutines{{namespace="{ns}",pod="leaky-http-[^"]+",policy="demo",'
        rf'workload="Deployment/leaky-http"}} \d+',
        metrics,
    )
    assert re.search(
        rf'leakpatrol_workload_leak{{[^}}]*namespace="{ns}"[^}}]*signal="goroutines"[^}}]*}} 1\.0', metrics
    )
    assert "leakpatrol_scan_duration_seconds_count" in metrics
    assert httpx.get(f"http://127.0.0.1:{operator.metrics_port}/healthz", timeout=5).text == "ok"


def test_policy_edits_take_effect_and_delete_stops_scanning(
    kubectl: Kubectl, operator: OperatorProcess
) -> None:
    ns = demo(kubectl, "e2e-edit")
    wait_until(lambda: has_condition(kubectl, ns, "Ready", "True", "Scanned"), within=30, what="first scan")

    kubectl("patch", "leakpolicy", "demo", "-n", ns, "--type=merge", "-p", '{"spec":{"suspend":true}}')
    wait_until(lambda: has_condition(kubectl, ns, "Ready", "False", "Suspended"), within=15, what="Suspended")
    kubectl(
        "patch",
        "leakpolicy",
        "demo",
        "-n",
        ns,
        "--type=merge",
        "-p",
        '{"spec":{"suspend":false,"selector":{"matchExpressions":null,"matchLabels":{"app":"healthy-http"}}}}',
    )
    wait_until(
        lambda: (
            (policy(kubectl, ns).get("status") or {}).get("targets", {}).get("selected") == 1
            and has_condition(kubectl, ns, "Ready", "True")
        ),
        within=20,
        what="the narrowed selector",
    )

    cm = f"leakpatrol-checkpoint.{ns}.demo"  # in the operator's own namespace (here: default)
    assert kubectl("get", "configmap", cm, "-n", "default", check=False)
    kubectl("delete", "leakpolicy", "demo", "-n", ns, "--timeout=30s", timeout=40)
    time.sleep(3)  # let an in-flight pass finish
    passes = operator.log().count(f"policy {ns}/demo: scanned")  # one INFO line per pass
    assert passes > 0
    time.sleep(6)
    assert operator.log().count(f"policy {ns}/demo: scanned") == passes, "still scanning after delete"
    assert f"{ns}:8080/debug/pprof" not in operator.log(), "httpx's per-request lines are not logged"
    assert "Will escalate" not in operator.log(), "the daemon was cancelled instead of stopping"
    assert not kubectl("get", "configmap", cm, "-n", "default", "--ignore-not-found"), (
        "checkpoint left behind"
    )


def test_restart_resumes_series_from_checkpoint(kubectl: Kubectl, operator: OperatorProcess) -> None:
    ns = demo(kubectl, "e2e-restart", DEMO_POLICY.replace("minSamples: 8", "minSamples: 14"))
    cm = f"leakpatrol-checkpoint.{ns}.demo"  # in the operator's own namespace (here: default)
    wait_until(
        lambda: kubectl("get", "configmap", cm, "-n", "default", check=False), within=30, what="a checkpoint"
    )
    labels = kubectl.json("get", "configmap", cm, "-n", "default")["metadata"]["labels"]
    assert labels["leakpatrol.dev/policy-uid"] == policy(kubectl, ns)["metadata"]["uid"]
    time.sleep(6)  # a few more samples into the series
    operator.kill()  # a crash: no goodbye
    operator.start()
    wait_until(
        lambda: has_condition(kubectl, ns, "LeakDetected", "True"),
        within=90,
        what="LeakDetected after restart",
    )
    assert re.search(rf"policy {ns}/demo: resumed 2 series from checkpoint", operator.log())


def test_invalid_policy_is_not_ready_and_names_the_field(kubectl: Kubectl, operator: OperatorProcess) -> None:
    ns = namespace(kubectl, "e2e-invalid")
    # The CRD's CEL rules refuse warmup >= window at the API server (the sandbox evaluates them)...
    too_long = DEMO_POLICY.replace("warmup: 4s", "warmup: 5m")
    refused = kubectl.run("apply", "-n", ns, "-f", "-", stdin=too_long, check=False)
    assert 'spec.detection: Invalid value: "object": warmup must be shorter than window' in refused.stderr
    # ... so the operator's own check is reached with what no schema refuses: a regex that does not compile.
    broken = "    extraRules: [{id: broken, match: {frame: '('}, cause: c, fix: f}]"
    apply(kubectl, ns, DEMO_POLICY.replace("    confirmations: 2", f"    confirmations: 2\n{broken}"))
    c = wait_until(
        lambda: has_condition(kubectl, ns, "Ready", "False", "InvalidSpec"), within=20, what="InvalidSpec"
    )
    assert "spec.detection.extraRules[0].match.frame" in c["message"]
    assert any(e["reason"] == "InvalidSpec" for e in events(kubectl, ns))


BAD_PODS = {  # badpprof mode -> the reason the operator must report for that pod
    "notfound": "PprofNotExposed",
    "forbidden": "PprofUnauthorized",
    "error": "ScrapeFailed",
    "slow": "ScrapeTimeout",
    "huge": "ProfileTooLarge",
    "garbage": "MalformedProfile",
}


def _bad_pod(mode: str) -> str:
    return f"""apiVersion: v1
kind: Pod
metadata:
  name: bad-{mode}
  labels: {{app: bad}}
spec:
  containers:
    - name: app
      image: leakpatrol.test/badpprof:{mode}
      ports: [{{name: http, containerPort: 8080}}]
"""


def test_bad_targets_are_reported_never_crash(kubectl: Kubectl, operator: OperatorProcess) -> None:
    ns = namespace(kubectl, "e2e-bad")
    apply(kubectl, ns, "---\n".join(_bad_pod(m) for m in BAD_PODS))
    kubectl("wait", "-n", ns, "--for=condition=Ready", "pod", "--all", "--timeout=60s", timeout=70)
    apply(
        kubectl,
        ns,
        """apiVersion: leakpatrol.dev/v1alpha1
kind: LeakPolicy
metadata: {name: demo}
spec:
  selector: {matchLabels: {app: bad}}
  target: {port: http, timeouts: {connect: 1s, read: 2s, total: 4s}}
  schedule: {interval: 1s}
  profiles: {heap: Disabled, goroutineleak: Disabled}
""",
    )
    expected = {f"bad-{m}": reason for m, reason in BAD_PODS.items()}

    def reported() -> dict[str, str] | None:
        seen = {
            e["involvedObject"]["name"]: e["reason"]
            for e in events(kubectl, ns)
            if e["involvedObject"]["kind"] == "Pod" and e["source"].get("component") == "leakpatrol"
        }
        return seen if all(seen.get(p) == r for p, r in expected.items()) else None

    wait_until(reported, within=60, what="a reason for every bad pod")
    status = policy(kubectl, ns)["status"]
    assert status["targets"]["selected"] == len(BAD_PODS)
    assert has_condition(kubectl, ns, "Degraded", "True", "TargetsFailing")
    assert has_condition(kubectl, ns, "Ready", "False", "NoTargetsScanned")  # none answers: not working

    kubectl("delete", "pod", "bad-slow", "-n", ns)  # a pod leaving mid-series
    wait_until(
        lambda: policy(kubectl, ns)["status"]["targets"]["selected"] == len(BAD_PODS) - 1,
        within=20,
        what="the deleted pod dropped",
    )
    assert operator.proc is not None and operator.proc.poll() is None, "the operator died"
