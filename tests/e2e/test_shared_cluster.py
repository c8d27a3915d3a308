"""One operator, many tenants, against the sandbox: a hostile pattern and a huge profile in two
namespaces must not slow a third; a deleted checkpoint comes back; a re-created Deployment gets
its own Events; churn leaves nothing behind in /metrics and no failure for a pod that is just gone.

`leakpatrol operator` runs as a real process with real Go services as pods.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

import httpx
from harness import Kubectl, OperatorProcess, condition, wait_until
from hostile import many_stacks_profile
from support import CHART_MEMORY_LIMIT, SERVICES, apply, events, exported_pods, namespace, policy, tree_rss

LEAKY, HEALTHY = SERVICES.split("\n---\n")


def fast_policy(selector: str, extra: str = "") -> str:
    return f"""apiVersion: leakpatrol.dev/v1alpha1
kind: LeakPolicy
metadata: {{name: demo}}
spec:
  selector: {{matchLabels: {{app: {selector}}}}}
  target: {{port: http, timeouts: {{connect: 1s, read: 3s, total: 5s}}}}
  schedule: {{interval: 1s, jitter: 10%}}
  profiles: {{heap: Disabled, goroutineleak: Disabled}}
  detection: {{window: 1m, warmup: 2s, minSamples: 8, maxSamples: 60{extra}}}
"""


def confirmed(kubectl: Kubectl, ns: str) -> dict[str, Any] | None:
    lp = policy(kubectl, ns)
    return lp if (condition(lp, "LeakDetected") or {}).get("status") == "True" else None


def reason_of(obj: dict[str, Any], type_: str, reason: str) -> dict[str, Any] | None:
    c = condition(obj, type_)
    return c if c and c["reason"] == reason else None


def passes(operator: OperatorProcess, ns: str) -> int:
    return operator.log().count(f"policy {ns}/demo: scanned")


def test_hostile_tenants_do_not_stall_the_others(kubectl: Kubectl, operator: OperatorProcess) -> None:
    quiet = namespace(kubectl, "quiet")
    apply(kubectl, quiet, HEALTHY)
    apply(kubectl, quiet, fast_policy("healthy-http"))
    hostile = namespace(kubectl, "hostile")
    apply(kubectl, hostile, LEAKY)
    evil = ', extraRules: [{id: evil, match: {frame: "(.*.*)*Q"}, cause: c, fix: f}]'
    apply(kubectl, hostile, fast_policy("leaky-http", evil))
    backref = fast_policy(
        "leaky-http", r', extraRules: [{id: br, match: {frame: "(a)\\1"}, cause: c, fix: f}]'
    )
    apply(kubectl, hostile, backref.replace("name: demo", "name: backref"))
    huge = namespace(kubectl, "huge")
    with tempfile.NamedTemporaryFile(suffix=".pb.gz", delete=False) as f:
        f.write(many_stacks_profile(120_000))
    apply(
        kubectl,
        huge,
        f"""apiVersion: v1
kind: Pod
metadata: {{name: many-stacks, labels: {{app: many-stacks}}}}
spec:
  containers:
    - name: app
      image: leakpatrol.test/badpprof:file
      args: ["-file", "{f.name}"]
      ports: [{{name: http, containerPort: 8080}}]
""",
    )
    apply(kubectl, huge, fast_policy("many-stacks"))

    # The hostile pattern runs in linear time: the leak in that namespace is still confirmed.
    lp = wait_until(lambda: confirmed(kubectl, hostile), within=180, what="the leak under a hostile pattern")
    assert lp["status"]["findings"][0]["ruleId"] == "http-transport-per-request"
    bad = wait_until(
        lambda: reason_of(policy(kubectl, hostile, "backref"), "Ready", "InvalidSpec"),
        within=30,
        what="InvalidSpec for a backreference",
    )
    assert "spec.detection.extraRules[0].match.frame" in bad["message"] and "RE2" in bad["message"]
    degraded = wait_until(
        lambda: reason_of(policy(kubectl, huge), "Degraded", "ProfileTooLarge"),
        within=60,
        what="ProfileTooLarge for 120k stacks",
    )
    assert "--max-profile-stacks" in degraded["message"]

    # Meanwhile the quiet tenant keeps its 1 s cadence, /healthz answers, memory stays bounded.
    assert operator.proc is not None
    metrics_url = f"http://127.0.0.1:{operator.metrics_port}"
    start, rss, latency = passes(operator, quiet), [], []
    for _ in range(10):
        t0 = time.monotonic()
        assert httpx.get(f"{metrics_url}/healthz", timeout=5).status_code == 200
        latency.append(time.monotonic() - t0)
        rss.append(tree_rss(operator.proc.pid))
        time.sleep(1)
    # A liveness probe times out after 1 s by default; one slow answer on a loaded test machine
    # is noise, a slow median would be the event loop stalling.
    assert sorted(latency)[5] < 1.0 and max(latency) < 2.5, latency
    assert passes(operator, quiet) - start >= 7, "the quiet tenant's passes slowed down"
    assert max(rss) < CHART_MEMORY_LIMIT, f"operator + workers peaked at {max(rss) >> 20} MiB"


def test_a_deleted_checkpoint_is_recreated(kubectl: Kubectl, operator: OperatorProcess) -> None:
    ns = namespace(kubectl, "ckpt-gone")
    apply(kubectl, ns, HEALTHY)
    apply(kubectl, ns, fast_policy("healthy-http"))
    cm = f"leakpatrol-checkpoint.{ns}.demo"
    wait_until(
        lambda: kubectl("get", "configmap", cm, "-n", "default", check=False), within=60, what="a checkpoint"
    )
    kubectl("delete", "configmap", cm, "-n", "default")
    wait_until(
        lambda: kubectl("get", "configmap", cm, "-n", "default", check=False), within=30, what="re-created"
    )
    ready = condition(policy(kubectl, ns), "Ready")
    assert ready and ready["status"] == "True"
    assert "scan pass failed" not in operator.log().split(f"policy {ns}/demo")[-1]


def leak_event_uids(kubectl: Kubectl, ns: str) -> set[str]:
    return {
        e["involvedObject"]["uid"]
        for e in events(kubectl, ns)
        if e["reason"] == "LeakDetected" and e["involvedObject"]["kind"] == "Deployment"
    }


def test_a_recreated_deployment_gets_its_own_events_and_churn_leaves_no_residue(
    kubectl: Kubectl, operator: OperatorProcess
) -> None:
    ns = namespace(kubectl, "recreate")
    apply(kubectl, ns, LEAKY)
    apply(kubectl, ns, fast_policy("leaky-http"))
    first = kubectl.json("get", "deployment", "leaky-http", "-n", ns)["metadata"]["uid"]
    wait_until(
        lambda: first in leak_event_uids(kubectl, ns), within=120, what="LeakDetected on the Deployment"
    )
    old_pods = set(kubectl("get", "pods", "-n", ns, "-o", "name").split())

    kubectl("delete", "deployment", "leaky-http", "-n", ns, "--wait=true", timeout=60)
    apply(kubectl, ns, LEAKY)
    second = kubectl.json("get", "deployment", "leaky-http", "-n", ns)["metadata"]["uid"]
    assert second != first
    wait_until(lambda: second in leak_event_uids(kubectl, ns), within=150, what="LeakDetected on the new one")

    # The old pods went away mid-series: never reported as failing targets.
    gone = {p.removeprefix("pod/") for p in old_pods}
    failing = [
        e for e in events(kubectl, ns) if e["involvedObject"]["name"] in gone and e["type"] == "Warning"
    ]
    assert [e["reason"] for e in failing if e["reason"] != "LeakDetected"] == []

    # /metrics names only the pods that exist now. Read until a pass has scanned every live pod: a
    # pass whose fetch of a pod timed out (the machine under load) rightly exports no count for it.
    def exported_and_live() -> tuple[set[str], set[str]]:
        live = {p.removeprefix("pod/") for p in kubectl("get", "pods", "-n", ns, "-o", "name").split()}
        return exported_pods(operator.metrics_port, ns, "demo"), live

    seen: list[tuple[set[str], set[str]]] = []

    def settled() -> bool:
        seen.append(exported_and_live())
        exported, live = seen[-1]
        assert not exported & gone, f"/metrics still names gone pods: {sorted(exported & gone)}"
        return bool(live) and exported == live

    try:
        wait_until(settled, within=60, what="/metrics to name the live pods")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; last (exported, live): {seen[-1]}") from exc
