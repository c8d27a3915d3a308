"""The operator as the chart deploys it: `helm install` into the sandbox, where the kubelet runs the
chart's Deployment (this checkout's `leakpatrol` for the image, the rendered args and env, its
probes, the ServiceAccount's token and CA at the in-cluster path, over HTTPS and under the chart's
RBAC); it finds the demo leak, survives a `helm upgrade`, and `helm uninstall` runs the pre-delete
hook Job, which leaves no LeakPolicy behind kopf's finalizer."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from typing import Any

import pytest
from harness import ROOT, Kubectl, condition, wait_until
from support import HELM, demo, policy

from kubesandbox import ThreadedSandbox

pytestmark = pytest.mark.skipif(not HELM.exists(), reason="helm is not installed: `make setup`")
CHART = str(ROOT / "charts" / "leakpatrol")
FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"
SELECTOR = "app.kubernetes.io/name=leakpatrol,app.kubernetes.io/instance=lp"


def helm(sandbox: ThreadedSandbox, *args: str) -> str:
    env = dict(os.environ, KUBECONFIG=str(sandbox.kubeconfig_path))
    done = subprocess.run(
        [str(HELM), *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def operator_pods(k: Kubectl, home: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = k.json("get", "pods", "-n", home, "-l", SELECTOR)["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def ready_pod(k: Kubectl, home: str, not_named: str = "") -> dict[str, Any] | None:
    pods = operator_pods(k, home)
    if len(pods) != 1 or pods[0]["metadata"]["name"] == not_named:
        return None
    ready = condition(pods[0], "Ready")
    return pods[0] if ready and ready["status"] == "True" else None


def no_forbidden(log: str) -> None:
    refused = [line for line in log.splitlines() if "Forbidden" in line or " 403" in line]
    assert not refused, "\n".join(refused[:5])


def test_chart_deployed_operator_finds_the_leak_upgrades_and_uninstalls_with_its_hook(
    sandbox: ThreadedSandbox,
) -> None:
    k = Kubectl(sandbox.kubeconfig_path)
    suffix = uuid.uuid4().hex[:5]
    home = f"lp-chart-{suffix}"
    helm(sandbox, "install", "lp", CHART, "-n", home, "--create-namespace", "--wait", "--timeout", "180s")
    pod = wait_until(lambda: ready_pod(k, home), within=60, what="the operator pod Ready")
    container = pod["spec"]["containers"][0]
    assert pod["spec"]["serviceAccountName"] == "lp-leakpatrol"
    assert "--leader-election" in container["args"]  # the chart's args, as rendered

    ns = demo(k, f"lp-chart-app-{suffix}")

    def leak_detected() -> dict[str, Any] | None:
        leak = condition(policy(k, ns), "LeakDetected")
        return leak if leak and leak["status"] == "True" else None

    leak = wait_until(leak_detected, within=240, every=2, what="LeakDetected by the chart's operator")
    assert "leaky-http" in leak["message"]
    assert "LeakDetected" in k("describe", "leakpolicy", "demo", "-n", ns)
    assert FINALIZER in (policy(k, ns)["metadata"].get("finalizers") or [])
    first_log = k("logs", "-n", home, pod["metadata"]["name"])
    assert "Activity 'login' succeeded" in first_log
    no_forbidden(first_log)

    # An upgrade that changes the pod template: the operator pod rolls and the new one keeps scanning.
    helm(sandbox, "upgrade", "lp", CHART, "-n", home, "--reuse-values", "--set", "logLevel=debug",
         "--wait", "--timeout", "180s")  # fmt: skip
    name = pod["metadata"]["name"]
    rolled = wait_until(lambda: ready_pod(k, home, not_named=name), within=120, what="the upgraded pod")
    assert "--log-level=debug" in rolled["spec"]["containers"][0]["args"]
    before = policy(k, ns)["status"]["lastScanTime"]
    wait_until(
        lambda: policy(k, ns)["status"]["lastScanTime"] != before or None,
        within=60,
        what="a scan by the upgraded operator",
    )
    second_log = k("logs", "-n", home, rolled["metadata"]["name"])
    no_forbidden(second_log)

    # Uninstall WITH the hook: the Job runs in the sandbox, stops the operator, drops the finalizer.
    started = time.monotonic()
    helm(sandbox, "uninstall", "lp", "-n", home, "--wait", "--timeout", "180s")
    took = time.monotonic() - started
    assert took < 100, f"helm uninstall took {took:.0f}s: did the hook wait for itself?"
    assert (policy(k, ns)["metadata"].get("finalizers") or []) == []
    assert operator_pods(k, home) == []
    leftovers = k("get", "jobs,pods,serviceaccounts,roles,rolebindings", "-n", home, "-o", "name")
    assert "cleanup" not in leftovers, leftovers
    cluster_wide = k("get", "clusterroles,clusterrolebindings", "-o", "name")
    assert "lp-leakpatrol" not in cluster_wide, cluster_wide
    completed = [e for e in k.json("get", "events", "-n", home)["items"] if e["reason"] == "Completed"]
    assert [e["involvedObject"]["name"] for e in completed] == ["lp-leakpatrol-cleanup"]
    k("delete", "namespace", ns, "--timeout=60s", timeout=70)  # would hang behind the finalizer


def test_namespaced_mode_gets_only_its_namespaces_and_uninstalls(sandbox: ThreadedSandbox) -> None:
    """watch.allNamespaces=false: Roles in the listed namespace only, and that is enough (no 403)
    to find the leak there and for the hook to release the policy."""
    k = Kubectl(sandbox.kubeconfig_path)
    suffix = uuid.uuid4().hex[:5]
    home, app = f"lp-ns-{suffix}", f"lp-ns-app-{suffix}"
    k("apply", "-f", str(ROOT / "crds"))  # the policy goes in first (helm then leaves the CRD as is)
    ns = demo(k, app)  # the watched namespace exists before the chart's Roles go in
    helm(sandbox, "install", "lp", CHART, "-n", home, "--create-namespace", "--wait", "--timeout", "180s",
         "--set", "watch.allNamespaces=false", "--set", f"watch.namespaces={{{app}}}")  # fmt: skip
    cluster = k.json("get", "clusterrole", "lp-leakpatrol")["rules"]
    assert not {"pods", "leakpolicies"} & {r for rule in cluster for r in rule["resources"]}, cluster
    assert k.json("get", "role", "lp-leakpatrol", "-n", app)["rules"]  # what it needs, where it looks
    pod = wait_until(lambda: ready_pod(k, home), within=60, what="the operator pod Ready")

    def leak_detected() -> dict[str, Any] | None:
        leak = condition(policy(k, ns), "LeakDetected")
        return leak if leak and leak["status"] == "True" else None

    wait_until(leak_detected, within=240, every=2, what="LeakDetected in the watched namespace")
    no_forbidden(k("logs", "-n", home, pod["metadata"]["name"]))
    helm(sandbox, "uninstall", "lp", "-n", home, "--wait", "--timeout", "180s")
    assert (policy(k, ns)["metadata"].get("finalizers") or []) == []
    assert operator_pods(k, home) == []
    k("delete", "namespace", ns, "--timeout=60s", timeout=70)
