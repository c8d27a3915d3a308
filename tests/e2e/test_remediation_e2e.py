"""Remediation end to end: the real `leakpatrol operator` process against the sandbox, the real
leaking Go service (`leaky-http`) beside a healthy one, kubectl to apply, describe and check.

One operator process serves the module; each test works in its own namespace, labelled
`leakpatrol.dev/remediation=enabled` as the cluster admin would (remediation acts nowhere else), and
the admin's floors as shipped but one: this module's operator lets a policy turn escalation off
(`--remediation-min-escalate-after=0s`), so the first test sees its cooldown hold. Demo-scale times:
scans every 2 s, a leak confirmed about 20 s after the pod starts (an action needs 12 samples).
"""

from __future__ import annotations

import base64
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness import Kubectl, OperatorProcess, condition, wait_until
from support import DEMO_POLICY, apply, deploy_services, free_port, namespace

from kubesandbox import ThreadedSandbox

HOME = "default"  # the operator's own namespace here: evidence lives there
ENABLED = "leakpatrol.dev/remediation=enabled"  # the admin's label


@pytest.fixture(scope="module")
def operator(sandbox: ThreadedSandbox, kubectl: Kubectl) -> Iterator[OperatorProcess]:
    """The module's operator: the admin's settings as shipped, but a policy may turn escalation off."""
    args = ["--remediation-min-escalate-after=0s"]
    with OperatorProcess(sandbox.kubeconfig_path, metrics_port=free_port(), args=args) as op:
        yield op
    assert "Traceback" not in op.log(), op.log()[-3000:]


def start(k: Kubectl, ns: str, replicas: int = 1, **remediation: Any) -> None:
    """A namespace the admin enabled remediation in, leakyhttp (`replicas` of it) and healthy-http
    Available, then the demo policy with `remediation`."""
    doc = yaml.safe_load(DEMO_POLICY)
    doc["spec"]["remediation"] = {
        "action": "RolloutRestart",
        "minConfirmations": 2,
        "cooldown": "10m",
        "escalateAfter": "0s",
    } | remediation
    namespace(k, ns)
    k("label", "namespace", ns, ENABLED)
    deploy_services(k, ns)
    if replicas != 1:
        k("scale", "deployment", "leaky-http", f"--replicas={replicas}", "-n", ns)
        k(
            "wait",
            "-n",
            ns,
            "--for=condition=Available",
            "deployment/leaky-http",
            "--timeout=120s",
            timeout=130,
        )
        wait_until(lambda: len(pods(k, ns, "leaky-http")) == replicas, within=60, what=f"{replicas} pods")
    apply(k, ns, yaml.safe_dump(doc))


def state(k: Kubectl, ns: str) -> dict[str, Any]:
    result: dict[str, Any] = (k.json("get", "leakpolicy", "demo", "-n", ns).get("status") or {}).get(
        "remediation"
    ) or {}
    return result


def pods(k: Kubectl, ns: str, app: str) -> dict[str, str]:
    """name -> uid of the app's pods."""
    items = k.json("get", "pods", "-n", ns, "-l", f"app={app}")["items"]
    return {p["metadata"]["name"]: p["metadata"]["uid"] for p in items}


def replicasets(k: Kubectl, ns: str, app: str) -> list[str]:
    return [rs["metadata"]["name"] for rs in k.json("get", "rs", "-n", ns, "-l", f"app={app}")["items"]]


def reasons(k: Kubectl, ns: str, kind: str, name: str) -> list[str]:
    items = k.json("get", "events", "-n", ns)["items"]
    return [
        e["reason"]
        for e in items
        if e["involvedObject"]["kind"] == kind and e["involvedObject"]["name"] == name
    ]


def restarted_at(k: Kubectl, ns: str) -> str | None:
    deploy = k.json("get", "deployment", "leaky-http", "-n", ns)
    annotations = deploy["spec"]["template"]["metadata"].get("annotations") or {}
    value: str | None = annotations.get("kubectl.kubernetes.io/restartedAt")
    return value


def test_a_confirmed_leak_restarts_the_deployment_once_then_the_cooldown_holds(
    kubectl: Kubectl, operator: OperatorProcess, sandbox: ThreadedSandbox
) -> None:
    ns = "rem-restart"
    start(kubectl, ns)
    (old_pod,) = pods(kubectl, ns, "leaky-http")
    old_pids = set(sandbox.pids()[old_pod])
    healthy = pods(kubectl, ns, "healthy-http")
    wait_until(lambda: state(kubectl, ns).get("lastAction"), within=150, what="the restart")
    action = state(kubectl, ns)["lastAction"]
    assert action["reason"] == "RolloutRestarted" and action["workload"]["name"] == "leaky-http"
    assert restarted_at(kubectl, ns)  # exactly what `kubectl rollout restart` sets
    # New ReplicaSet, new pod, new process.
    wait_until(lambda: len(replicasets(kubectl, ns, "leaky-http")) == 2, within=30, what="a new ReplicaSet")
    new_pod = wait_until(
        lambda: (
            next(iter(set(pods(kubectl, ns, "leaky-http")) - {old_pod}), None)
            if old_pod not in pods(kubectl, ns, "leaky-http")
            else None
        ),
        within=60,
        what="the old pod replaced",
    )
    assert not set(sandbox.pids().get(new_pod, [])) & old_pids

    # The series reset: the new process leaks again and is confirmed afresh, naming only the new
    # pod, after the restart; the cooldown holds the second restart off.
    def confirmed_again() -> dict[str, Any] | None:
        lp = kubectl.json("get", "leakpolicy", "demo", "-n", ns)
        status = lp.get("status") or {}
        leaks = [f for f in status.get("findings") or [] if f["workload"]["name"] == "leaky-http"]
        skip = (status.get("remediation") or {}).get("lastSkip") or {}
        fresh = any(f["state"] == "Confirmed" and f["pods"] == [new_pod] for f in leaks)
        return status if fresh and skip.get("reason") == "Cooldown" else None

    status = wait_until(
        confirmed_again, within=150, what="the leak confirmed again, held off by the cooldown"
    )
    assert status["remediation"]["actions"] == [action["time"]]
    assert len(replicasets(kubectl, ns, "leaky-http")) == 2
    assert pods(kubectl, ns, "healthy-http") == healthy  # never touched
    assert len(replicasets(kubectl, ns, "healthy-http")) == 1
    described = kubectl("describe", "deployment", "leaky-http", "-n", ns)
    assert "RolloutRestarted" in described and "EvidenceSaved" in described and "Cooldown" in described
    assert "RolloutRestarted" not in kubectl("describe", "deployment", "healthy-http", "-n", ns)

    # Evidence: ConfigMaps in the operator's namespace, labelled, and the extracted file opens.
    evidence = status["remediation"]["evidence"]
    assert evidence and all(e["namespace"] == HOME for e in evidence)
    cm = kubectl.json("get", "configmap", evidence[-1]["configMap"], "-n", HOME)
    labels = cm["metadata"]["labels"]
    assert (
        labels["leakpatrol.dev/namespace"] == ns
        and labels["leakpatrol.dev/workload"] == "Deployment.leaky-http"
    )
    assert {"goroutine.pb.gz", "heap.pb.gz", "goroutine-waits.txt"} <= set(cm["binaryData"])
    assert_diagnose_opens(cm, "goroutine.pb.gz", "persistConn")
    # debug=2 is never kept as the pod served it: its parse, re-rendered and bounded
    waits = base64.b64decode(cm["binaryData"]["goroutine-waits.txt"]).decode()
    assert "parsed and re-rendered" in waits and "persistConn" in waits and len(waits) <= 64 << 10


def assert_diagnose_opens(cm: dict[str, Any], key: str, expected: str) -> None:
    """What the status' one-line command does (jsonpath | base64 -d), then `leakpatrol diagnose`."""
    path = Path(tempfile.mkdtemp()) / key
    path.write_bytes(base64.b64decode(cm["binaryData"][key]))
    cli = str(Path(sys.executable).parent / "leakpatrol")
    done = subprocess.run(
        [cli, "diagnose", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and expected in done.stdout, done.stdout + done.stderr


def test_dry_run_changes_nothing_and_says_what_it_would_do(
    kubectl: Kubectl, operator: OperatorProcess
) -> None:
    ns = "rem-dryrun"
    start(kubectl, ns, dryRun=True)
    before = pods(kubectl, ns, "leaky-http")
    wait_until(lambda: state(kubectl, ns).get("lastAction"), within=150, what="the dry-run decision")
    action = state(kubectl, ns)["lastAction"]
    assert action["dryRun"] is True and action["reason"] == "RemediationDryRun"
    assert action["message"].startswith("would restart Deployment/leaky-http")
    time.sleep(6)  # a few more passes: still nothing changed
    assert restarted_at(kubectl, ns) is None
    assert pods(kubectl, ns, "leaky-http") == before and len(replicasets(kubectl, ns, "leaky-http")) == 1
    assert "RemediationDryRun" in reasons(kubectl, ns, "Deployment", "leaky-http")
    assert "would restart Deployment/leaky-http" in kubectl("describe", "deployment", "leaky-http", "-n", ns)


def test_evict_pod_blocked_by_a_budget_is_retried_later_never_deleted(
    kubectl: Kubectl, operator: OperatorProcess
) -> None:
    ns = "rem-evict"
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "leaky-http"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "leaky-http"}}},
    }
    # Two replicas: leakpatrol never evicts a workload's last available pod.
    start(kubectl, ns, replicas=2, action="EvictPod", cooldown="10m")
    apply(kubectl, ns, yaml.safe_dump(pdb))  # seconds before a leak can be confirmed
    before = pods(kubectl, ns, "leaky-http")
    wait_until(
        lambda: (state(kubectl, ns).get("lastSkip") or {}).get("reason") == "EvictionBlocked",
        within=150,
        what="the eviction refused by the budget",
    )
    time.sleep(6)  # more passes retry it: each one refused, none deletes
    assert pods(kubectl, ns, "leaky-http") == before
    assert not state(kubectl, ns).get("lastAction")
    assert "EvictionBlocked" in reasons(kubectl, ns, "Deployment", "leaky-http")
    kubectl("delete", "pdb", "leaky-http", "-n", ns)  # the budget is lifted: a later pass evicts
    wait_until(lambda: state(kubectl, ns).get("lastAction"), within=60, what="the eviction")
    assert state(kubectl, ns)["lastAction"]["reason"] == "PodEvicted"
    wait_until(
        lambda: len(set(before) - set(pods(kubectl, ns, "leaky-http"))) == 1, within=30, what="one pod gone"
    )
    time.sleep(6)  # more passes: the other replica stays (one pod at a time; the cooldown holds)
    assert len(set(before) & set(pods(kubectl, ns, "leaky-http"))) == 1
    assert len(state(kubectl, ns)["lastAction"]["message"].split(" of ")[0].split(",")) == 1  # one pod named
    assert len(replicasets(kubectl, ns, "leaky-http")) == 1  # evicted and re-created, not rolled out


def test_a_leak_back_soon_after_a_restart_suspends_remediation(
    kubectl: Kubectl, operator: OperatorProcess
) -> None:
    ns = "rem-escalate"
    start(kubectl, ns, cooldown="5s", escalateAfter="10m")

    def suspended() -> dict[str, Any] | None:
        lp = kubectl.json("get", "leakpolicy", "demo", "-n", ns)
        c = condition(lp, "RemediationSuspended")
        return lp if c and c["status"] == "True" else None

    lp = wait_until(suspended, within=240, what="RemediationSuspended")
    assert lp["status"]["remediation"]["suspended"] == ["Deployment/leaky-http"]
    assert len(lp["status"]["remediation"]["actions"]) == 1  # one restart, then it stopped
    time.sleep(6)
    assert len(replicasets(kubectl, ns, "leaky-http")) == 2
    described = kubectl("describe", "deployment", "leaky-http", "-n", ns)
    assert "RemediationSuspended" in described and "masking a code bug" in described
    suspensions = [
        e
        for e in kubectl.json("get", "events", "-n", ns)["items"]
        if e["reason"] == "RemediationSuspended" and e["involvedObject"]["kind"] == "Deployment"
    ]
    # The suspension itself is a Warning; later passes' skips of the suspended workload are Normal
    # Events with the same reason, and the API lists Events in no particular order.
    warning = [e for e in suspensions if e["type"] == "Warning"]
    assert len(warning) == 1 and "masking a code bug" in warning[0]["message"]
