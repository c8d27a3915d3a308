"""Install, upgrade and uninstall against the sandbox: the chart installs; the templated CRD is
upgraded by `helm upgrade` and kept by `helm uninstall`; what the pre-delete hook runs (`leakpatrol
release-finalizers`) leaves no LeakPolicy or namespace stuck behind kopf's finalizer once the
operator is gone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from harness import ROOT, Kubectl, OperatorProcess, wait_until
from support import HELM

from kubesandbox import ThreadedSandbox

pytestmark = pytest.mark.skipif(not HELM.exists(), reason="helm is not installed: `make setup`")
CRD = "leakpolicies.leakpatrol.dev"
FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"
POLICY = """
apiVersion: leakpatrol.dev/v1alpha1
kind: LeakPolicy
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
"""


def helm(sandbox: ThreadedSandbox, *args: str) -> str:
    env = dict(os.environ, KUBECONFIG=str(sandbox.kubeconfig_path))
    done = subprocess.run(
        [str(HELM), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_chart_installs_into_a_cluster(sandbox: ThreadedSandbox) -> None:
    """helm install against the sandbox API: every rendered object is accepted, the CRD included."""
    ns = "leakpatrol-system"
    helm(sandbox, "install", "lp", str(ROOT / "charts" / "leakpatrol"), "-n", ns, "--create-namespace")
    status = helm(sandbox, "status", "lp", "-n", ns, "-o", "json")
    assert '"status":"deployed"' in status.replace(" ", "")
    names = Kubectl(sandbox.kubeconfig_path)(
        "get", "deployment,serviceaccount,service,crd", "-n", ns, "-o", "name"
    )
    assert "deployment.apps/lp-leakpatrol" in names
    assert "customresourcedefinition.apiextensions.k8s.io/leakpolicies.leakpatrol.dev" in names
    # --no-hooks: the sandbox stores Jobs but runs none, so the pre-delete hook would never finish;
    # what it runs is tested below.
    helm(sandbox, "uninstall", "lp", "-n", ns, "--no-hooks")


def test_templated_crd_upgrades_and_survives_uninstall_and_nothing_hangs(
    sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    k = Kubectl(sandbox.kubeconfig_path)
    k("delete", "crd", CRD, "--ignore-not-found")
    suffix = uuid.uuid4().hex[:5]
    home, app = f"lp-home-{suffix}", f"lp-app-{suffix}"
    chart = tmp_path / "leakpatrol"
    shutil.copytree(ROOT / "charts" / "leakpatrol", chart, symlinks=False)
    templated = ("--set", "crds.templated=true")
    helm(sandbox, "install", "lp", str(chart), "-n", home, "--create-namespace", "--skip-crds", *templated)
    crd = k.json("get", "crd", CRD)
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"

    # A new chart version changes the CRD: `helm upgrade` applies it (crds/ alone never would).
    text = (chart / "crds" / "leakpolicy.yaml").read_text()
    (chart / "crds" / "leakpolicy.yaml").write_text(
        text.replace("categories: [leakpatrol]", "categories: [leakpatrol, go]")
    )
    helm(sandbox, "upgrade", "lp", str(chart), "-n", home, *templated)
    assert k.json("get", "crd", CRD)["spec"]["names"]["categories"] == ["leakpatrol", "go"]

    k("create", "namespace", app)
    (tmp_path / "policy.yaml").write_text(POLICY)
    k("apply", "-n", app, "-f", str(tmp_path / "policy.yaml"))
    env = dict(os.environ, POD_NAMESPACE=home)
    with OperatorProcess(sandbox.kubeconfig_path, env=env, args=["--lease-name", f"lp-{suffix}"]):
        wait_until(lambda: FINALIZER in _finalizers(k, app), within=60, what="kopf's finalizer")

    # The cluster-wide ledger of actions, as a replica that acted leaves it (and a ConfigMap of
    # someone else's beside it, which stays).
    k("create", "configmap", "leakpatrol-actions", "-n", home, "--from-literal=actions.json=[]")
    k("create", "configmap", "not-ours", "-n", home, "--from-literal=a=b")

    # What the pre-delete hook runs: scale the operator's Deployment to 0, wait, drop finalizers,
    # then the ledger.
    done = subprocess.run(
        [str(Path(sys.executable).parent / "leakpatrol"), "release-finalizers",
         "--kubeconfig", str(sandbox.kubeconfig_path),
         "--home-namespace", home, "--deployment", "lp-leakpatrol"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "removed the operator's finalizer from 1 LeakPolicies" in done.stderr
    assert k.json("get", "deployment", "lp-leakpatrol", "-n", home)["spec"]["replicas"] == 0
    assert _finalizers(k, app) == []
    assert f"ConfigMap {home}/leakpatrol-actions deleted" in done.stderr
    assert not k("get", "configmap", "leakpatrol-actions", "-n", home, "--ignore-not-found")
    assert k("get", "configmap", "not-ours", "-n", home, "-o", "name").strip() == "configmap/not-ours"

    # --no-hooks: the sandbox runs no Jobs (the hook's work was done above, as the Job would).
    helm(sandbox, "uninstall", "lp", "-n", home, "--no-hooks")
    k("delete", "namespace", app, "--timeout=30s", timeout=40)  # would hang on the finalizer
    assert not k("get", "namespace", app, "--ignore-not-found")
    assert k.json("get", "crd", CRD)["metadata"]["name"] == CRD  # kept: policies elsewhere survive
    k("apply", "-f", str(ROOT / "crds"))  # the documented manual upgrade path works on it too


def _finalizers(k: Kubectl, ns: str) -> list[Any]:
    policy = k.json("get", "leakpolicy", "web", "-n", ns)
    return list(policy["metadata"].get("finalizers") or [])
