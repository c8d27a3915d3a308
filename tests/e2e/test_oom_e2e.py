"""leak -> OOMKilled -> restart -> leak again, end to end: the real `leakpatrol operator` process
against the sandbox, whose kubelet enforces memory limits (a memory cgroup per container, or the
watchdog) and restarts an OOM-killed container with CrashLoopBackOff's back-off.

Two Deployments with the same life length (~a minute) under one policy whose window (2 minutes,
60 samples) no single life fills:

- `oom-leaky`: the seed's service (an `http.Client` with its own `Transport` per request), its leak
  at 3x, under a 48Mi limit: OOMKilled about every minute, over and over;
- `oom-healthy`: a lazy pool that fills over its first ten seconds after every start, then holds,
  crashing on a timer (`-exit-after 60s`, exit 1): as restarted, never leaking.

The leak is confirmed across lives within three lives, with its culprit and rule, and said
(oomKills, lives, the Event); the healthy one is never flagged, not even Suspected; the policy's
`spec.remediation` takes no action on the OOM-looping workload and says why (OOMLoop).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import yaml
from harness import Kubectl, OperatorProcess, wait_until
from support import apply, deployment, events, namespace, policy, say

from kubesandbox import ThreadedSandbox

LIFE_LIMIT = "48Mi"
POLICY = """
apiVersion: leakpatrol.dev/v1alpha1
kind: LeakPolicy
metadata:
  name: demo
spec:
  selector:
    matchExpressions:
      - {key: app, operator: In, values: [oom-leaky, oom-healthy]}
  target:
    port: http
    timeouts: {connect: 1s, read: 3s, total: 5s}
  schedule: {interval: 2s, jitter: 10%}
  profiles: {goroutineleak: Disabled}
  detection:
    window: 2m      # longer than any life: no single life can confirm a leak
    warmup: 4s
    minSamples: 60  # two minutes of samples: a one-minute life never has them
    maxSamples: 80
    confirmations: 2
  remediation:
    action: RolloutRestart
    dryRun: false
    minConfirmations: 2
    cooldown: 10m
    escalateAfter: 0s
"""


@pytest.fixture(scope="module", autouse=True)
def _say_the_mechanism(sandbox: ThreadedSandbox, pytestconfig: pytest.Config) -> None:
    say(pytestconfig, f"\nkubesandbox memory limits enforced by: {sandbox.sandbox.limits.mechanism}")


def services() -> str:
    limits = {"limits": {"memory": LIFE_LIMIT}}
    leaky = deployment(
        "oom-leaky",
        "leakpatrol.test/scenario:transport-per-request",
        1,
        args=["-leak-rate", "3"],
        resources=limits,
    )
    healthy = deployment(
        "oom-healthy",
        "leakpatrol.test/scenario:warmup-fill",
        1,
        args=["-exit-after", "60s"],
        resources={"limits": {"memory": "256Mi"}},
    )
    return f"{leaky}---\n{healthy}"


def container(k: Kubectl, ns: str, app: str) -> dict[str, Any]:
    items = k.json("get", "pods", "-n", ns, "-l", f"app={app}")["items"]
    statuses = (items[0].get("status") or {}).get("containerStatuses") or [{}] if items else [{}]
    return statuses[0]


def test_oom_loop_is_confirmed_across_lives_healthy_restarts_are_not_and_remediation_holds(
    kubectl: Kubectl, operator: OperatorProcess, pytestconfig: pytest.Config
) -> None:
    ns = namespace(kubectl, "e2e-oom")
    apply(kubectl, ns, services())
    apply(kubectl, ns, POLICY)
    healthy_flagged: list[str] = []
    confirmed_at: list[int] = []

    def confirmed() -> dict[str, Any] | None:
        status = policy(kubectl, ns).get("status") or {}
        findings = status.get("findings") or []
        healthy_flagged.extend(f["state"] for f in findings if f["workload"]["name"] == "oom-healthy")
        f = next(
            (f for f in findings if f["workload"]["name"] == "oom-leaky" and f["state"] == "Confirmed"), None
        )
        if f is not None:
            confirmed_at.append(int(container(kubectl, ns, "oom-leaky").get("restartCount", 0)))
        return f

    began = time.monotonic()
    f = wait_until(confirmed, within=300, every=2, what="the OOM-looping leak confirmed")
    took = time.monotonic() - began
    # Within three lives: confirmed while its container was in its first, second or third life.
    assert confirmed_at[0] <= 2, confirmed_at
    assert f["ruleId"] == "http-transport-per-request", f
    assert any("persistConn" in frame for frame in f["culprit"]), f
    assert f["oomKills"] >= 1 and f["lastOomKill"], f
    assert f["lives"]["across"] >= 2 and f["lives"]["message"].startswith("OOMKilled"), f
    leaky = container(kubectl, ns, "oom-leaky")
    last = (leaky.get("lastState") or {}).get("terminated") or {}
    assert (last.get("reason"), last.get("exitCode")) == ("OOMKilled", 137), leaky

    # Remediation: no action on a workload the OOM killer already restarts, and it says why.
    def skipped() -> dict[str, Any] | None:
        remediation = (policy(kubectl, ns).get("status") or {}).get("remediation") or {}
        skip = remediation.get("lastSkip") or {}
        return remediation if skip.get("reason") == "OOMLoop" else None

    remediation = wait_until(skipped, within=60, every=2, what="the OOMLoop skip")
    assert "lastAction" not in remediation, remediation
    assert "already restarting on its own" in remediation["lastSkip"]["message"]
    template = kubectl.json("get", "deployment", "oom-leaky", "-n", ns)["spec"]["template"]
    assert "kubectl.kubernetes.io/restartedAt" not in (
        (template.get("metadata") or {}).get("annotations") or {}
    )
    said = [e for e in events(kubectl, ns) if e["reason"] == "OOMLoop"]
    assert said and said[0]["type"] == "Warning", said

    # The healthy service, restarted as often, is never flagged: watch it through three lives.
    wait_until(
        lambda: int(container(kubectl, ns, "oom-healthy").get("restartCount", 0)) >= 3 or None,
        within=300,
        every=3,
        what="three lives of the healthy service",
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        confirmed()
        time.sleep(2)
    healthy = container(kubectl, ns, "oom-healthy")
    assert (healthy.get("lastState") or {}).get("terminated", {}).get("reason") == "Error", healthy
    assert healthy_flagged == []
    say(
        pytestconfig,
        f"\noom-leaky confirmed after {took:.0f}s, in life {confirmed_at[0] + 1}:"
        f" {f['lives']['message']}; oom-healthy: {healthy['restartCount']} restarts, never flagged",
    )
    # What a person sees: the pod's OOMKilled restarts and leakpatrol's finding on it.
    pod = kubectl.json("get", "pods", "-n", ns, "-l", "app=oom-leaky")["items"][0]["metadata"]["name"]
    described = kubectl("describe", "pod", pod, "-n", ns)
    assert "OOMKilled" in described and "LeakDetected" in described, described
    assert (
        yaml.safe_load(kubectl("get", "leakpolicy", "demo", "-n", ns, "-o", "yaml"))["status"]["leaking"] >= 1
    )
