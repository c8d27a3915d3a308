"""Pods as real Go processes: status, restarts, port-forward (official client), eviction with PDBs."""

from __future__ import annotations

import http.client
import json
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.stream import portforward

HELLO = "leakpatrol.test/hello-pprof"


@pytest.fixture(scope="module")
def core(sandbox: Any) -> Iterator[client.CoreV1Api]:
    with config.new_client_from_config(config_file=str(sandbox.kubeconfig_path)) as api_client:
        yield client.CoreV1Api(api_client)


@pytest.fixture
def ns(core: client.CoreV1Api) -> Iterator[str]:
    name = f"p-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


def pod(
    name: str, image: str = HELLO, port: int = 6060, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    container = {"name": "app", "image": image, "ports": [{"containerPort": port}]}
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"containers": [container]}}


def wait(read: Callable[[], Any], check: Callable[[Any], bool], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if check(value):
            return value
        assert time.monotonic() < deadline, f"timed out; last: {value}"
        time.sleep(0.1)


def ready(p: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (p.status.conditions or []))


def http_get(ip: str, port: int, path: str) -> str:
    conn = http.client.HTTPConnection(ip, port, timeout=5)
    conn.request("GET", path)
    return conn.getresponse().read().decode()


def test_pod_runs_a_real_process_on_its_own_ip(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_pod(ns, pod("web"))
    p = wait(lambda: core.read_namespaced_pod("web", ns), ready)
    assert (
        p.status.phase == "Running"
        and p.status.pod_ip.startswith("127.")
        and not p.status.pod_ip.startswith("127.0.0.")
        and p.status.host_ip == "127.0.0.1"
    )
    assert {c.type for c in p.status.conditions} >= {"Ready", "ContainersReady", "PodScheduled"}
    cs = p.status.container_statuses[0]
    assert cs.ready and cs.started and cs.restart_count == 0 and cs.state.running.started_at is not None
    assert (
        cs.image == HELLO and cs.image_id.startswith(HELLO + "@sha256:") and p.status.start_time is not None
    )
    assert "hello from" in http_get(p.status.pod_ip, 6060, "/")  # a Direct dial to podIP:containerPort


def test_exited_process_is_restarted_like_a_kubelet(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_pod(ns, pod("crashy"))
    p = wait(lambda: core.read_namespaced_pod("crashy", ns), ready)
    pid = int(http_get(p.status.pod_ip, 6060, "/").split("pid ")[1].rstrip(")\n"))
    os.kill(pid, signal.SIGKILL)
    p = wait(
        lambda: core.read_namespaced_pod("crashy", ns),
        lambda p: ready(p) and p.status.container_statuses[0].restart_count == 1,
    )
    assert p.status.container_statuses[0].last_state.terminated.exit_code != 0
    assert str(pid) not in http_get(p.status.pod_ip, 6060, "/")


def test_unknown_image_stays_pending_with_err_image_pull(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_pod(ns, pod("nope", image="example.com/not-mapped:1.0"))
    p = wait(
        lambda: core.read_namespaced_pod("nope", ns),
        lambda p: (
            bool(p.status.container_statuses)
            and p.status.container_statuses[0].state.waiting
            and p.status.container_statuses[0].state.waiting.reason in ("ErrImagePull", "ImagePullBackOff")
        ),
    )
    assert p.status.phase == "Pending" and not ready(p)
    reasons = {
        e.reason for e in core.list_namespaced_event(ns, field_selector="involvedObject.name=nope").items
    }
    assert "Failed" in reasons


def test_port_forward_with_the_official_client(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_pod(ns, pod("pf"))
    wait(lambda: core.read_namespaced_pod("pf", ns), ready)
    pf = portforward(core.connect_get_namespaced_pod_portforward, "pf", ns, ports="6060")
    sock = pf.socket(6060)
    sock.setblocking(True)
    sock.sendall(b"GET /debug/pprof/goroutine?debug=1 HTTP/1.1\r\nHost: pod\r\nConnection: close\r\n\r\n")
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    sock.close()
    assert received.startswith(b"HTTP/1.1 200 OK") and b"goroutine profile: total" in received
    assert pf.error(6060) is None


def test_port_forward_to_a_closed_port_reports_on_the_error_channel(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_pod(ns, pod("pfx"))
    p = wait(lambda: core.read_namespaced_pod("pfx", ns), ready)
    pf = portforward(core.connect_get_namespaced_pod_portforward, "pfx", ns, ports="7777")
    sock = pf.socket(7777)
    sock.setblocking(True)
    assert sock.recv(1024) == b""  # closed once the error arrives
    error = wait(lambda: pf.error(7777), lambda e: e is not None, timeout=5)
    assert error.startswith(f"error forwarding port 7777 to pod {p.metadata.uid}, uid : ")
    assert "connect: connection refused" in error


def test_eviction_honours_the_pod_disruption_budget(sandbox: Any, core: client.CoreV1Api, ns: str) -> None:
    for name in ("e1", "e2"):
        core.create_namespaced_pod(ns, pod(name, labels={"app": "evictme"}))
    for name in ("e1", "e2"):
        wait(lambda name=name: core.read_namespaced_pod(name, ns), ready)
    with config.new_client_from_config(config_file=str(sandbox.kubeconfig_path)) as api_client:
        policy = client.PolicyV1Api(api_client)
        policy.create_namespaced_pod_disruption_budget(
            ns,
            {
                "metadata": {"name": "pdb"},
                "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "evictme"}}},
            },
        )
        wait(
            lambda: policy.read_namespaced_pod_disruption_budget("pdb", ns),
            lambda b: b.status is not None and b.status.current_healthy == 2,
        )

        def eviction(name: str) -> dict[str, Any]:
            return {
                "apiVersion": "policy/v1",
                "kind": "Eviction",
                "metadata": {"name": name, "namespace": ns},
            }

        core.create_namespaced_pod_eviction("e1", ns, eviction("e1"))  # 2 healthy, 1 needed: allowed
        wait(
            lambda: policy.read_namespaced_pod_disruption_budget("pdb", ns),
            lambda b: b.status.disruptions_allowed == 0 and b.status.expected_pods == 1,
        )
        with pytest.raises(ApiException) as blocked:
            core.create_namespaced_pod_eviction("e2", ns, eviction("e2"))
    assert blocked.value.status == 429
    body = json.loads(blocked.value.body)
    assert body["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert body["details"]["causes"][0]["reason"] == "DisruptionBudget"
    assert core.read_namespaced_pod("e2", ns).status.phase == "Running"
