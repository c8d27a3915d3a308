"""Helpers shared by the tests in tests/e2e/ (no tests here; the fixtures are in conftest.py).

kubectl-level helpers take a `Kubectl` (tests/harness.py) and work in one namespace. Sandbox-level
helpers take the `sandbox` fixture (a ThreadedSandbox), which runs on its own thread: setup goes
through its in-process helpers (sync), and the code under test talks to it over HTTP.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from harness import ROOT, Kubectl, condition
from prometheus_client.parser import text_string_to_metric_families

HELM = ROOT / ".tools" / "helm"  # `make setup` puts it there
SERVICES = (ROOT / "examples/demo/services.yaml").read_text()  # leaky-http and healthy-http
DEMO_POLICY = (ROOT / "examples/leakpolicy-demo.yaml").read_text()
HELLO = "leakpatrol.test/hello-pprof"
NO_PROCESS = "leakpatrol.test/not-mapped"  # a pod that never runs a process: cheap, for API tests
Obj = dict[str, Any]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for an operator's --metrics-port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def say(config: Any, text: str) -> None:
    """A line in the test output even without -s (output capture suspended for it)."""
    capture = config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(text, flush=True)


CHART_MEMORY_LIMIT = 512 << 20  # charts/leakpatrol/values.yaml resources.limits.memory


def tree_rss(pid: int) -> int:
    """Bytes resident in the process and its children (the parse workers): what a container's
    memory limit counts."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if stat.parent.name == str(pid) or int(fields[1]) == pid:  # fields[1]: the parent pid
                total += int(fields[21]) * 4096  # rss in pages
        except (OSError, IndexError, ValueError):
            continue
    return total


def chart_args(release: str, home: str, *values: str) -> list[str]:
    """The operator container's args from `helm template` of the chart with these `--set` values."""
    sets = [a for v in values for a in ("--set", v)]
    out = subprocess.run(
        [str(HELM), "template", release, str(ROOT / "charts/leakpatrol"), "-n", home, *sets],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    (deployment,) = (d for d in yaml.safe_load_all(out) if d and d["kind"] == "Deployment")
    args: list[str] = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    return args


# --- with kubectl -----------------------------------------------------------------------------------


def apply(k: Kubectl, namespace: str, manifest: str) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(manifest)
    k("apply", "-n", namespace, "-f", f.name)


def namespace(k: Kubectl, name: str) -> str:
    k("create", "namespace", name)
    return name


def deploy_services(k: Kubectl, ns: str) -> None:
    """leaky-http and healthy-http (examples/demo/services.yaml), Available."""
    apply(k, ns, SERVICES)
    k("wait", "-n", ns, "--for=condition=Available", "deployment", "--all", "--timeout=120s", timeout=130)


def demo(k: Kubectl, name: str, manifest: str = DEMO_POLICY) -> str:
    """Namespace `name` with leaky-http and healthy-http Available, then the policy `manifest` in it."""
    ns = namespace(k, name)
    deploy_services(k, ns)
    apply(k, ns, manifest)
    return ns


def deployment(
    name: str, image: str, replicas: int, *, labels: dict[str, str] | None = None, **container: Any
) -> str:
    """A Deployment `name` of pods labelled app=<name> (and `labels`), one container `app` with `image`
    serving `http` on 8080; `container` adds to the container (env, resources, ...)."""
    app = {"app": name}
    spec = {"name": "app", "image": image, "ports": [{"name": "http", "containerPort": 8080}], **container}
    template = {"metadata": {"labels": app | (labels or {})}, "spec": {"containers": [spec]}}
    return yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": app},
        "spec": {"replicas": replicas, "selector": {"matchLabels": app}, "template": template},
    })  # fmt: skip


def policy(k: Kubectl, ns: str, name: str = "demo") -> Obj:
    result: Obj = k.json("get", "leakpolicy", name, "-n", ns)
    return result


def has_condition(k: Kubectl, ns: str, type_: str, status: str, reason: str | None = None) -> Obj | None:
    c = condition(policy(k, ns), type_)
    if c and c["status"] == status and (reason is None or c["reason"] == reason):
        return c
    return None


def events(k: Kubectl, ns: str) -> list[Obj]:
    items: list[Obj] = k.json("get", "events", "-n", ns)["items"]
    return items


# --- in the sandbox, directly -----------------------------------------------------------------------


def exported_pods(metrics_port: int, ns: str, policy_name: str) -> set[str]:
    """The pods the operator's /metrics has a goroutine count for, in `ns` under `policy_name`
    (parsed, so the label order and any label added later do not matter)."""
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    return {
        sample.labels["pod"]
        for family in text_string_to_metric_families(text)
        if family.name == "leakpatrol_target_goroutines"
        for sample in family.samples
        if sample.labels["namespace"] == ns and sample.labels["policy"] == policy_name
    }


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


def namespace_fixture(prefix: str, *, scope: str = "module") -> Callable[..., Iterator[str]]:
    """The `ns` fixture of a module: a throwaway namespace `prefix-xxxxxx`, deleted after (its
    pods' processes with it). In the module: `ns = namespace_fixture("ev")`."""

    @pytest.fixture(scope=scope)  # type: ignore[call-overload]
    def ns(sandbox: Any) -> Iterator[str]:
        name = make_namespace(sandbox, prefix)
        yield name
        delete_namespace(sandbox, name)

    return ns  # type: ignore[no-any-return]


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


def crd(
    group: str,
    version: str,
    kind: str,
    properties: Obj,
    *,
    required: tuple[str, ...] = (),
    short_names: tuple[str, ...] = (),
) -> Obj:
    """A namespaced CustomResourceDefinition of one version, plural `<kind>s`, with a status
    subresource: `.spec` is an object of `properties` (`required` among them), `.status` anything."""
    singular = kind.lower()
    names: Obj = {"plural": f"{singular}s", "singular": singular, "kind": kind}
    if short_names:
        names["shortNames"] = list(short_names)
    spec: Obj = {"type": "object"} | ({"required": list(required)} if required else {})
    spec["properties"] = properties
    schema = {
        "type": "object",
        "properties": {
            "spec": spec,
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }
    version_ = {
        "name": version,
        "served": True,
        "storage": True,
        "subresources": {"status": {}},
        "schema": {"openAPIV3Schema": schema},
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{singular}s.{group}"},
        "spec": {"group": group, "scope": "Namespaced", "names": names, "versions": [version_]},
    }
