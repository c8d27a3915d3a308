"""Real kubectl against the sandbox: CRDs, printer columns, validation, describe with Events, rollouts."""

from __future__ import annotations

import os
import subprocess
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Kubectl
from support import HELM

CRD = textwrap.dedent("""
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata: {name: gadgets.sandbox.leakpatrol.test}
    spec:
      group: sandbox.leakpatrol.test
      scope: Namespaced
      names: {plural: gadgets, singular: gadget, kind: Gadget, shortNames: [gdg], categories: [all]}
      versions:
        - name: v1
          served: true
          storage: true
          subresources: {status: {}}
          additionalPrinterColumns:
            - {name: Target, type: string, jsonPath: .spec.target}
            - {name: Interval, type: integer, jsonPath: .spec.intervalSeconds}
            - {name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}
            - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
          schema:
            openAPIV3Schema:
              type: object
              properties:
                spec:
                  type: object
                  required: [target]
                  properties:
                    target: {type: string, pattern: '^[a-z0-9-]+$'}
                    intervalSeconds: {type: integer, minimum: 1, default: 30}
                status: {type: object, x-kubernetes-preserve-unknown-fields: true}
""")

DEPLOYMENT = textwrap.dedent("""
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: hello}
    spec:
      replicas: 2
      selector: {matchLabels: {app: hello}}
      template:
        metadata: {labels: {app: hello}}
        spec:
          containers:
            - name: app
              image: leakpatrol.test/hello-pprof
              ports: [{containerPort: 6060}]
""")


@pytest.fixture
def ns(kubectl: Kubectl) -> Iterator[str]:
    name = f"k-{uuid.uuid4().hex[:8]}"
    kubectl.run("create", "namespace", name)  # kubectl posts this one as protobuf
    yield name
    kubectl.run("delete", "namespace", name, "--wait=false")  # stops the namespace's pod processes


def test_apply_crd_and_resource_then_get_with_printer_columns(
    sandbox: Any, kubectl: Kubectl, ns: str
) -> None:
    assert (
        "customresourcedefinition.apiextensions.k8s.io/gadgets"
        in kubectl.run("apply", "-f", "-", stdin=CRD).stdout
    )
    cr = "apiVersion: sandbox.leakpatrol.test/v1\nkind: Gadget\nmetadata: {name: g1}\nspec: {target: web}\n"
    assert (
        "gadget.sandbox.leakpatrol.test/g1 created"
        in kubectl.run("apply", "-n", ns, "-f", "-", stdin=cr).stdout
    )
    assert "unchanged" in kubectl.run("apply", "-n", ns, "-f", "-", stdin=cr).stdout
    updated = cr.replace("target: web", "target: api")
    assert "configured" in kubectl.run("apply", "-n", ns, "-f", "-", stdin=updated).stdout
    kubectl.run(
        "patch",
        "-n",
        ns,
        "gadget",
        "g1",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"conditions":[{"type":"Ready","status":"True"}]}}',
    )
    table = kubectl.run("get", "-n", ns, "gdg").stdout.splitlines()
    assert table[0].split() == ["NAME", "TARGET", "INTERVAL", "READY", "AGE"]
    assert table[1].split()[:4] == ["g1", "api", "30", "True"]


def test_schema_violation_is_rejected_with_the_field_path(kubectl: Kubectl, ns: str) -> None:
    kubectl.run("apply", "-f", "-", stdin=CRD)
    bad = (
        "apiVersion: sandbox.leakpatrol.test/v1\nkind: Gadget\nmetadata: {name: bad}\nspec: {target: Web!}\n"
    )
    done = kubectl.run("apply", "-n", ns, "-f", "-", stdin=bad, check=False)
    assert done.returncode != 0
    # kubectl rewords the server's Status message from its details, as with a real cluster.
    assert 'The Gadget "bad" is invalid: spec.target: Invalid value: "Web!"' in done.stderr


def test_describe_custom_resource_shows_events(sandbox: Any, kubectl: Kubectl, ns: str) -> None:
    kubectl.run("apply", "-f", "-", stdin=CRD)
    cr = "apiVersion: sandbox.leakpatrol.test/v1\nkind: Gadget\nmetadata: {name: g2}\nspec: {target: db}\n"
    kubectl.run("apply", "-n", ns, "-f", "-", stdin=cr)
    uid = kubectl.run("get", "-n", ns, "gadget", "g2", "-o", "jsonpath={.metadata.uid}").stdout
    event = textwrap.dedent(f"""
        apiVersion: v1
        kind: Event
        metadata: {{generateName: g2-}}
        involvedObject:
          {{apiVersion: sandbox.leakpatrol.test/v1, kind: Gadget, name: g2, namespace: {ns}, uid: {uid}}}
        reason: LeakSuspected
        message: goroutines climbing
        type: Warning
        firstTimestamp: "2026-01-01T00:00:00Z"
        lastTimestamp: "2026-01-01T00:00:00Z"
        source: {{component: leakpatrol}}
    """)
    kubectl.run("create", "-n", ns, "-f", "-", stdin=event)
    described = kubectl.run("describe", "-n", ns, "gadget", "g2").stdout
    assert "Kind:         Gadget" in described and "Target:" in described
    assert "LeakSuspected" in described and "goroutines climbing" in described


def test_rollout_restart_replaces_the_processes(sandbox: Any, kubectl: Kubectl, ns: str) -> None:
    kubectl.run("apply", "-n", ns, "-f", "-", stdin=DEPLOYMENT)
    kubectl.run("rollout", "status", "-n", ns, "deployment/hello", "--timeout=30s")
    before = {pid for name, pids in sandbox.pids().items() if name.startswith("hello-") for pid in pids}
    assert len(before) == 2
    kubectl.run("rollout", "restart", "-n", ns, "deployment/hello")
    kubectl.run("rollout", "status", "-n", ns, "deployment/hello", "--timeout=30s")
    deadline = time.monotonic() + 10
    while True:
        pods = kubectl.run("get", "-n", ns, "pods", "-o", "name").stdout.split()
        after = {pid for name, pids in sandbox.pids().items() if name.startswith("hello-") for pid in pids}
        if (len(pods) == 2 and len(after) == 2) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(after) == 2 and not before & after
    for pid in before:
        assert (
            not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
        )
    described = kubectl.run("describe", "-n", ns, "deployment", "hello").stdout
    assert "ScalingReplicaSet" in described and "Scaled down replica set" in described
    pod_events = kubectl.run("describe", "-n", ns, pods[0]).stdout
    assert "Started container app" in pod_events and "Successfully assigned" in pod_events
    table = kubectl.run("get", "-n", ns, "deployment", "hello").stdout.splitlines()
    assert table[1].split()[:4] == ["hello", "2/2", "2", "2"]


def test_server_side_apply_and_server_dry_run(kubectl: Kubectl, ns: str) -> None:
    dry = kubectl.run("apply", "-n", ns, "--dry-run=server", "-f", "-", stdin=DEPLOYMENT).stdout
    assert "created (server dry run)" in dry
    assert "No resources found" in kubectl.run("get", "-n", ns, "deployments").stderr
    assert (
        "serverside-applied"
        in kubectl.run("apply", "-n", ns, "--server-side", "-f", "-", stdin=DEPLOYMENT).stdout
    )
    assert (
        "serverside-applied"
        in kubectl.run("apply", "-n", ns, "--server-side", "-f", "-", stdin=DEPLOYMENT).stdout
    )
    kubectl.run("rollout", "status", "-n", ns, "deployment/hello", "--timeout=30s")


@pytest.mark.skipif(not HELM.exists(), reason="helm is installed by `make setup` into .tools/")
def test_helm_install_upgrade_uninstall(sandbox: Any, ns: str, tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    (chart / "templates" / "deploy.yaml").write_text(
        DEPLOYMENT.replace("name: hello}", "name: {{ .Release.Name }}}")
    )
    env = {
        **os.environ,
        "KUBECONFIG": str(sandbox.kubeconfig_path),
        "HELM_CACHE_HOME": str(tmp_path / "cache"),
        "HELM_CONFIG_HOME": str(tmp_path / "config"),
        "HELM_DATA_HOME": str(tmp_path / "data"),
    }

    def helm(*args: str) -> str:
        done = subprocess.run(
            [str(HELM), *args, "-n", ns], env=env, capture_output=True, text=True, timeout=90, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "STATUS: deployed" in helm("install", "demo", str(chart), "--wait", "--timeout=60s")
    assert "REVISION: 2" in helm("upgrade", "demo", str(chart), "--set", "x=1")
    assert "uninstalled" in helm("uninstall", "demo")
