"""Helpers shared by the tests/test_kube_*.py files (no tests here): namespaces and pods in the sandbox.

The sandbox (`sandbox` fixture, a ThreadedSandbox) runs on its own thread; setup goes through its
in-process helpers (sync), and the code under test talks to it over HTTP from the test's loop.
"""

from __future__ import annotations

import uuid
from typing import Any

import yaml

HELLO = "leakpatrol.test/hello-pprof"
NO_PROCESS = "leakpatrol.test/not-mapped"  # a pod that never runs a process: cheap, for API tests
Obj = dict[str, Any]


def ready(pod: Obj | None) -> bool:
    conditions = ((pod or {}).get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def make_namespace(sandbox: Any, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    sandbox.apply_yaml(f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}}}\n")
    return name


def delete_namespace(sandbox: Any, name: str) -> None:
    sb = sandbox.sandbox
    sandbox.run(sb.store.delete_quietly, sb.kind("v1", "namespaces"), None, name)


def pod_manifest(
    name: str, namespace: str, *, image: str = HELLO, labels: dict[str, str] | None = None
) -> Obj:
    container = {"name": "app", "image": image, "ports": [{"name": "pprof", "containerPort": 6060}]}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {"containers": [container]},
    }


def run_pod(sandbox: Any, namespace: str, name: str, **kwargs: Any) -> Obj:
    """Create a pod running a real Go program and wait until it is Ready (its port accepts)."""
    sandbox.apply_yaml(yaml.safe_dump(pod_manifest(name, namespace, **kwargs)))
    return wait_pod(sandbox, namespace, name, ready)


def wait_pod(sandbox: Any, namespace: str, name: str, condition: Any, timeout: float = 20) -> Obj:
    obj: Obj = sandbox.call(
        sandbox.sandbox.wait_for("v1", "pods", namespace, name, condition, within=timeout)
    )
    return obj
