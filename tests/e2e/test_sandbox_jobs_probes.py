"""The sandbox's kubelet and controllers beyond Deployments: probes (readiness decides Ready,
a failing liveness probe restarts the container with the kubelet's Events), Jobs (completion,
backoffLimit, activeDeadlineSeconds, the generated labels), and what a pod sees of the cluster
(its ServiceAccount's files at the in-cluster path, KUBERNETES_SERVICE_*, the Service's names)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from harness import Kubectl, condition, wait_until
from support import HELLO, namespace_fixture

SHELL = "leakpatrol.test/shell"


@pytest.fixture(scope="module")
def k(sandbox: Any) -> Kubectl:
    return Kubectl(sandbox.kubeconfig_path)


ns = namespace_fixture("jp", scope="function")


def create(k: Kubectl, ns: str, obj: dict[str, Any]) -> None:
    k.run("apply", "-n", ns, "-f", "-", stdin=json.dumps(obj))


def reasons(k: Kubectl, ns: str, name: str) -> list[tuple[str, str]]:
    items = k.json("get", "events", "-n", ns)["items"]
    return [(e["reason"], e["message"]) for e in items if e["involvedObject"]["name"] == name]


def hello(name: str, **container: Any) -> dict[str, Any]:
    spec = {"name": "app", "image": HELLO, "ports": [{"name": "web", "containerPort": 6060}], **container}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [spec]}}


def test_readiness_probe_decides_ready_and_liveness_restarts(k: Kubectl, ns: str) -> None:
    good = {"httpGet": {"path": "/", "port": "web"}, "periodSeconds": 1}
    bad = {"httpGet": {"path": "/", "port": 6061}, "periodSeconds": 1, "failureThreshold": 2}
    # The port accepts connections, but the readiness probe dials another: never Ready.
    create(k, ns, hello("unready", readinessProbe=bad))
    create(k, ns, hello("ready", readinessProbe=good, livenessProbe=good))
    create(k, ns, hello("dying", livenessProbe={**bad, "initialDelaySeconds": 1}))
    wait_until(
        lambda: (
            (condition(k.json("get", "pod", "ready", "-n", ns), "Ready") or {}).get("status") == "True"
            or None
        ),
        within=30,
        what="ready Ready",
    )
    unready = k.json("get", "pod", "unready", "-n", ns)
    assert unready["status"]["phase"] == "Running"
    assert (condition(unready, "Ready") or {})["status"] == "False"
    failed = wait_until(
        lambda: [m for r, m in reasons(k, ns, "unready") if r == "Unhealthy"] or None,
        within=20,
        what="Unhealthy",
    )
    assert (
        failed[0].startswith('Readiness probe failed: Get "http://')
        and "connect: connection refused" in failed[0]
    )

    def restarted() -> dict[str, Any] | None:
        pod = k.json("get", "pod", "dying", "-n", ns)
        statuses = pod["status"].get("containerStatuses") or []
        return pod if statuses and statuses[0]["restartCount"] >= 1 else None

    wait_until(restarted, within=40, what="the liveness restart")
    events = reasons(k, ns, "dying")
    assert ("Killing", "Container app failed liveness probe, will be restarted") in events
    assert any(r == "Unhealthy" and m.startswith("Liveness probe failed:") for r, m in events)
    # (Its first probes may fail before the process listens, as on a real node: never three in a row.)
    assert not [r for r, _ in reasons(k, ns, "ready") if r == "Killing"]
    assert k.json("get", "pod", "ready", "-n", ns)["status"]["containerStatuses"][0]["restartCount"] == 0


def job(name: str, script: str, **spec: Any) -> dict[str, Any]:
    container = {"name": "main", "image": SHELL, "command": ["sh", "-c", script]}
    template = {"spec": {"restartPolicy": "Never", "containers": [container]}}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {"template": template, **spec},
    }


def finished(k: Kubectl, ns: str, name: str) -> dict[str, Any] | None:
    found: dict[str, Any] = k.json("get", "job", name, "-n", ns)
    done = [c for c in found.get("status", {}).get("conditions") or [] if c["type"] in ("Complete", "Failed")]
    return found if done else None


def test_jobs_complete_fail_by_backoff_limit_and_by_deadline(k: Kubectl, ns: str) -> None:
    create(k, ns, job("ok", "exit 0"))
    create(k, ns, job("flaky", "exit 3", backoffLimit=1))
    create(k, ns, job("slow", "sleep 60", activeDeadlineSeconds=2))
    create(k, ns, job("brief", "exit 0", ttlSecondsAfterFinished=1))
    ok = wait_until(lambda: finished(k, ns, "ok"), within=30, what="ok finished")
    assert ok["status"]["succeeded"] == 1 and ok["status"]["completionTime"]
    assert {c["type"] for c in ok["status"]["conditions"]} == {"SuccessCriteriaMet", "Complete"}
    uid = ok["metadata"]["uid"]
    (pod,) = k.json("get", "pods", "-n", ns, "-l", "batch.kubernetes.io/job-name=ok")["items"]
    assert pod["metadata"]["labels"]["batch.kubernetes.io/controller-uid"] == uid
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Job"
    assert pod["status"]["phase"] == "Succeeded"

    flaky = wait_until(lambda: finished(k, ns, "flaky"), within=30, what="flaky finished")
    assert flaky["status"]["failed"] == 2  # the first try and one retry
    failed = condition(flaky, "Failed") or {}
    assert failed["status"] == "True" and failed["reason"] == "BackoffLimitExceeded"

    slow = wait_until(lambda: finished(k, ns, "slow"), within=30, what="slow finished")
    assert (condition(slow, "Failed") or {})["reason"] == "DeadlineExceeded"
    wait_until(
        lambda: not k.json("get", "pods", "-n", ns, "-l", "job-name=slow")["items"] or None,
        within=20,
        what="the deadline's pod gone",
    )
    assert ("Completed", "Job completed") in reasons(k, ns, "ok")
    wait_until(  # ttlSecondsAfterFinished: the Job and its pod go a second after it finished
        lambda: not k("get", "job,pods", "-n", ns, "-l", "job-name=brief", "-o", "name") or None,
        within=20,
        what="the brief Job deleted by its TTL",
    )
    assert not k("get", "job", "brief", "-n", ns, "--ignore-not-found")


def test_pod_sees_its_service_account_and_the_api_service(sandbox: Any, k: Kubectl, ns: str) -> None:
    k("create", "serviceaccount", "reader", "-n", ns)
    sa = "/var/run/secrets/kubernetes.io/serviceaccount"
    script = "; ".join((
        f"cat {sa}/namespace", "echo", 'echo "$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"',
        f"cat {sa}/token", "echo", "grep -c kubernetes.default.svc /etc/hosts", f"ls {sa}",
    ))  # fmt: skip
    container = {"name": "main", "image": SHELL, "command": ["sh", "-c", script]}
    spec = {"serviceAccountName": "reader", "restartPolicy": "Never", "containers": [container]}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "files"}, "spec": spec}
    create(k, ns, pod)
    no_token = {
        **pod,
        "metadata": {"name": "bare"},
        "spec": {**pod["spec"], "automountServiceAccountToken": False},
    }
    create(k, ns, no_token)
    for name in ("files", "bare"):
        wait_until(
            lambda name=name: (
                k.json("get", "pod", name, "-n", ns)["status"].get("phase") == "Succeeded" or None
            ),
            within=30,
            what=f"{name} done",
        )
    lines = k("logs", "files", "-n", ns).splitlines()
    assert lines[0] == ns
    host, port = lines[1].split(":")
    assert host.startswith("127.") and port == "443"
    claims = json.loads(base64.urlsafe_b64decode(lines[2].split(".")[1] + "=="))
    assert claims["sub"] == f"system:serviceaccount:{ns}:reader"
    assert lines[3] == "1"
    assert sorted(lines[4:]) == ["ca.crt", "namespace", "token"]
    assert f"{sa}/token: No such file or directory" in k("logs", "bare", "-n", ns)
