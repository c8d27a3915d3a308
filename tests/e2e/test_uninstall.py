"""Install, upgrade and uninstall against the sandbox, the chart's operator and its hook Job run by
the sandbox's kubelet: the chart installs; an existing release takes the CRD over as the chart
README says; the templated CRD is upgraded by `helm upgrade` and kept by `helm uninstall`; the
pre-delete hook (and `leakpatrol release-finalizers` by hand, for --no-hooks) leaves no LeakPolicy or
namespace stuck behind kopf's finalizer once the operator is gone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from harness import ROOT, Kubectl, wait_until
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


def helm_run(sandbox: ThreadedSandbox, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, KUBECONFIG=str(sandbox.kubeconfig_path))
    return subprocess.run(
        [str(HELM), *args], env=env, capture_output=True, text=True, timeout=240, check=False
    )


def helm(sandbox: ThreadedSandbox, *args: str) -> str:
    done = helm_run(sandbox, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_chart_installs_then_takes_the_crd_over_as_its_readme_says(sandbox: ThreadedSandbox) -> None:
    """helm install against the sandbox API: every rendered object is accepted, the CRD included;
    the chart README's steps switch an existing release to crds.templated=true (without them Helm
    refuses: invalid ownership metadata); uninstall runs the hook Job and keeps the CRD."""
    ns = "leakpatrol-system"
    k = Kubectl(sandbox.kubeconfig_path)
    helm(sandbox, "install", "lp", str(ROOT / "charts" / "leakpatrol"), "-n", ns, "--create-namespace")
    status = helm(sandbox, "status", "lp", "-n", ns, "-o", "json")
    assert '"status":"deployed"' in status.replace(" ", "")
    names = k("get", "deployment,serviceaccount,service,crd", "-n", ns, "-o", "name")
    assert "deployment.apps/lp-leakpatrol" in names
    assert "customresourcedefinition.apiextensions.k8s.io/leakpolicies.leakpatrol.dev" in names

    templated = ("upgrade", "lp", str(ROOT / "charts" / "leakpatrol"), "-n", ns, "--reuse-values",
                 "--set", "crds.templated=true")  # fmt: skip
    refused = helm_run(sandbox, *templated)
    assert refused.returncode != 0 and "invalid ownership metadata" in refused.stderr, refused.stderr
    k("label", "crd", CRD, "app.kubernetes.io/managed-by=Helm", "--overwrite")
    k(
        "annotate",
        "crd",
        CRD,
        "meta.helm.sh/release-name=lp",
        f"meta.helm.sh/release-namespace={ns}",
        "--overwrite",
    )
    helm(sandbox, *templated)
    assert k.json("get", "crd", CRD)["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"

    helm(sandbox, "uninstall", "lp", "-n", ns, "--wait", "--timeout", "180s")  # with the hook Job
    assert k.json("get", "crd", CRD)["metadata"]["name"] == CRD
    assert not k("get", "pods,jobs", "-n", ns, "-o", "name")


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
    helm(sandbox, "upgrade", "lp", str(chart), "-n", home, *templated, "--wait", "--timeout", "180s")
    assert k.json("get", "crd", CRD)["spec"]["names"]["categories"] == ["leakpatrol", "go"]

    # The chart's own operator (its Deployment, run by the sandbox's kubelet) serves the policy.
    k("create", "namespace", app)
    (tmp_path / "policy.yaml").write_text(POLICY)
    k("apply", "-n", app, "-f", str(tmp_path / "policy.yaml"))
    wait_until(lambda: FINALIZER in _finalizers(k, app), within=90, what="kopf's finalizer")

    # The cluster-wide ledger of actions, as a replica that acted leaves it (and a ConfigMap of
    # someone else's beside it, which stays).
    k("create", "configmap", "leakpatrol-actions", "-n", home, "--from-literal=actions.json=[]")
    k("create", "configmap", "not-ours", "-n", home, "--from-literal=a=b")

    # Uninstall with the pre-delete hook: its Job scales the operator to 0, waits, drops finalizers,
    # then deletes the ledger (its Role grants that one ConfigMap's delete and nothing more).
    helm(sandbox, "uninstall", "lp", "-n", home, "--wait", "--timeout", "180s")
    assert _finalizers(k, app) == []
    assert not k("get", "deployment,pods,jobs", "-n", home, "-o", "name")
    assert not k("get", "configmap", "leakpatrol-actions", "-n", home, "--ignore-not-found")
    assert k("get", "configmap", "not-ours", "-n", home, "-o", "name").strip() == "configmap/not-ours"
    k("delete", "namespace", app, "--timeout=30s", timeout=40)  # would hang on the finalizer
    assert not k("get", "namespace", app, "--ignore-not-found")
    assert k.json("get", "crd", CRD)["metadata"]["name"] == CRD  # kept: policies elsewhere survive
    k("apply", "-f", str(ROOT / "crds"))  # the documented manual upgrade path works on it too


def test_release_finalizers_by_hand_for_no_hooks(sandbox: ThreadedSandbox, tmp_path: Path) -> None:
    """Without the hook (`--no-hooks`), the README says to run `leakpatrol release-finalizers`
    from a checkout first: outside any pod, with the admin's kubeconfig."""
    k = Kubectl(sandbox.kubeconfig_path)
    k("apply", "-f", str(ROOT / "crds"))
    suffix = uuid.uuid4().hex[:5]
    home, app = f"lp-hand-{suffix}", f"lp-hand-app-{suffix}"
    helm(sandbox, "install", "lp", str(ROOT / "charts" / "leakpatrol"), "-n", home, "--create-namespace",
         "--wait", "--timeout", "180s")  # fmt: skip
    k("create", "namespace", app)
    (tmp_path / "policy.yaml").write_text(POLICY)
    k("apply", "-n", app, "-f", str(tmp_path / "policy.yaml"))
    wait_until(lambda: FINALIZER in _finalizers(k, app), within=90, what="kopf's finalizer")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "leakpatrol"), "release-finalizers",
         "--kubeconfig", str(sandbox.kubeconfig_path),
         "--home-namespace", home, "--deployment", "lp-leakpatrol"],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "removed the operator's finalizer from 1 LeakPolicies" in done.stderr
    assert k.json("get", "deployment", "lp-leakpatrol", "-n", home)["spec"]["replicas"] == 0
    assert _finalizers(k, app) == []
    helm(sandbox, "uninstall", "lp", "-n", home, "--no-hooks")
    k("delete", "namespace", app, "--timeout=30s", timeout=40)


def _finalizers(k: Kubectl, ns: str) -> list[Any]:
    policy = k.json("get", "leakpolicy", "web", "-n", ns)
    return list(policy["metadata"].get("finalizers") or [])
