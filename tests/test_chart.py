"""charts/leakpatrol: lints, renders, grants exactly the RBAC the operator needs, runs hardened,
ships the one CRD, and refuses contradictory values."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "leakpatrol"
HELM = ROOT / ".tools" / "helm"

pytestmark = pytest.mark.skipif(
    not HELM.exists() and shutil.which("helm") is None,
    reason="helm is not installed: `make setup` puts it in .tools/helm",
)

Rule = tuple[str, str, str]  # (apiGroup, resource, verb)

NAMESPACED_RULES: set[Rule] = {
    *(("leakpatrol.dev", "leakpolicies", v) for v in ("get", "list", "watch", "patch")),
    ("leakpatrol.dev", "leakpolicies/status", "patch"),
    *(("", "pods", v) for v in ("get", "list")),
    *(("", "pods/portforward", v) for v in ("get", "create")),
    *(("", "events", v) for v in ("create", "get", "patch")),
    ("apps", "replicasets", "get"),
    ("batch", "jobs", "get"),
}
HOME_RULES: set[Rule] = {(("", "configmaps", v)) for v in ("get", "create", "patch", "delete")}
CLUSTER_RULES: set[Rule] = {
    ("", "namespaces", "list"),
    ("", "namespaces", "watch"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "list"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
}


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    binary = str(HELM) if HELM.exists() else "helm"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, check=False)


def render(*sets: str, crds: bool = False) -> list[dict[str, Any]]:
    args = ["template", "lp", str(CHART), "--namespace", "leakpatrol-system"]
    args += [a for s in sets for a in ("--set", s)] + (["--include-crds"] if crds else [])
    result = helm(*args)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def rules_of(docs: list[dict[str, Any]], kind: str) -> set[Rule]:
    return {
        (group, resource, verb)
        for doc in docs
        if doc["kind"] == kind
        for rule in doc["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_lint() -> None:
    result = helm("lint", "--strict", str(CHART))
    assert result.returncode == 0, result.stdout + result.stderr


def test_default_render_kinds() -> None:
    kinds = sorted(doc["kind"] for doc in render())
    assert kinds == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
    ]


def test_rbac_is_exactly_what_the_operator_uses() -> None:
    docs = render()
    assert rules_of(docs, "ClusterRole") == NAMESPACED_RULES | CLUSTER_RULES
    verbs = {verb for _, _, verb in rules_of(docs, "ClusterRole")}
    assert not verbs & {"delete", "deletecollection", "*", "escalate", "bind", "impersonate"}
    assert not {r for r in rules_of(docs, "ClusterRole") if r[1] == "configmaps"}
    (home,) = (doc for doc in docs if doc["kind"] == "Role")
    assert home["metadata"]["namespace"] == "leakpatrol-system" and rules_of([home], "Role") == HOME_RULES


def test_namespace_list_grants_roles_per_namespace() -> None:
    docs = render("watch.allNamespaces=false", "watch.namespaces={shop,payments}")
    assert rules_of(docs, "ClusterRole") == CLUSTER_RULES
    roles = [doc for doc in docs if doc["kind"] == "Role" and not doc["metadata"]["name"].endswith("-home")]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["payments", "shop"]
    assert rules_of(roles, "Role") == NAMESPACED_RULES
    (deployment,) = (doc for doc in docs if doc["kind"] == "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=shop" in args
    assert "--all-namespaces" not in args


def test_port_forward_can_be_left_out() -> None:
    assert rules_of(render("rbac.portForward=false"), "ClusterRole") == (NAMESPACED_RULES | CLUSTER_RULES) - {
        ("", "pods/portforward", "create"),
        ("", "pods/portforward", "get"),
    }


REMEDIATION_RULES: set[Rule] = {
    *(("apps", r, v) for r in ("deployments", "statefulsets", "daemonsets") for v in ("get", "patch")),
    ("policy", "poddisruptionbudgets", "list"),
    ("", "pods/eviction", "create"),
}


def test_remediation_rbac_only_behind_its_value() -> None:
    docs = render("remediation.enabled=true")
    assert rules_of(docs, "ClusterRole") == NAMESPACED_RULES | CLUSTER_RULES | REMEDIATION_RULES
    (home,) = (doc for doc in docs if doc["kind"] == "Role")
    assert rules_of([home], "Role") == HOME_RULES | {("", "configmaps", "list")}
    # still never a pod delete, never a ConfigMap write outside the operator's namespace
    assert ("", "pods", "delete") not in rules_of(docs, "ClusterRole")
    assert not {r for r in rules_of(docs, "ClusterRole") if r[1] == "configmaps"}
    per_namespace = render("remediation.enabled=true", "watch.allNamespaces=false", "watch.namespaces={shop}")
    roles = [d for d in per_namespace if d["kind"] == "Role" and not d["metadata"]["name"].endswith("-home")]
    assert rules_of(roles, "Role") == NAMESPACED_RULES | REMEDIATION_RULES


def test_every_rbac_rule_says_why() -> None:
    lines = (CHART / "templates" / "rbac.yaml").read_text().splitlines()
    for i, line in enumerate(lines):
        if line.lstrip().startswith("- apiGroups:"):
            previous = next(p for p in reversed(lines[:i]) if not p.lstrip().startswith("{{"))
            assert previous.lstrip().startswith("#"), f"rbac.yaml:{i + 1} has no comment saying why"


def test_deployment_is_hardened() -> None:
    (deployment,) = (doc for doc in render() if doc["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert deployment["spec"]["replicas"] == 1
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    ctx = container["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"]["drop"] == ["ALL"]
    assert "add" not in ctx["capabilities"]
    assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["args"][0] == "--all-namespaces"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert {"name": "http", "containerPort": 8080, "protocol": "TCP"} in container["ports"]


def test_chart_ships_the_one_crd() -> None:
    assert (CHART / "crds" / "leakpolicy.yaml").read_bytes() == (
        ROOT / "crds" / "leakpolicy.yaml"
    ).read_bytes()
    crds = [doc for doc in render(crds=True) if doc["kind"] == "CustomResourceDefinition"]
    assert crds == [yaml.safe_load((ROOT / "crds" / "leakpolicy.yaml").read_text())]


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["watch.namespaces={shop}"], "choose one"),
        (["watch.allNamespaces=false"], "would watch nothing"),
        (["serviceAccount.create=false"], "serviceAccount.name must name"),
        (["unknownKey=1"], "additional properties"),
        (["securityContext.allowPrivilegeEscalation=true"], "allowPrivilegeEscalation"),
        (["watch.namespaces={Not_A_Namespace}", "watch.allNamespaces=false"], "namespaces"),
    ],
)
def test_contradictory_or_unknown_values_fail(sets: list[str], message: str) -> None:
    args = ["template", "lp", str(CHART)] + [a for s in sets for a in ("--set", s)]
    result = helm(*args)
    assert result.returncode != 0
    assert re.search(re.escape(message), result.stderr), result.stderr


def test_chart_installs_into_a_cluster(sandbox: Any) -> None:
    """helm install against the sandbox API: every rendered object is accepted, the CRD included."""
    env = dict(os.environ, KUBECONFIG=str(sandbox.kubeconfig_path))
    binary = str(HELM) if HELM.exists() else "helm"
    ns = "leakpatrol-system"
    done = subprocess.run(
        [binary, "install", "lp", str(CHART), "-n", ns, "--create-namespace"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    status = subprocess.run(
        [binary, "status", "lp", "-n", ns, "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert '"status":"deployed"' in status.stdout.replace(" ", "")
    kubectl = Path(sys.executable).parent / "kubectl"
    names = subprocess.run(
        [str(kubectl), "get", "deployment,serviceaccount,service,crd", "-n", ns, "-o", "name"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert "deployment.apps/lp-leakpatrol" in names
    assert "customresourcedefinition.apiextensions.k8s.io/leakpolicies.leakpatrol.dev" in names
    subprocess.run(
        [binary, "uninstall", "lp", "-n", ns], env=env, capture_output=True, timeout=120, check=True
    )
