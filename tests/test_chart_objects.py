"""charts/leakpatrol, object by object: every rendered object is valid for the oldest and newest
Kubernetes we support, every pod passes Pod Security "restricted", the monitoring objects read
metrics the operator exports, and the chart works as a dependency of an umbrella chart."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import promql_parser
import pytest
import test_chart
import yaml
from test_chart import CHART, KUBE_VERSIONS, MODES, MONITORING, helm, render

from leakpatrol import metrics

pytestmark = test_chart.pytestmark  # runs helm; helm missing: skip this module too


@pytest.mark.parametrize("mode", sorted(MODES))
def test_every_object_is_valid_for_the_oldest_and_newest_kubernetes(mode: str) -> None:
    docs = render(*MODES[mode], crds=True)
    unknown = set()
    for doc in docs:
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                unknown.add(doc["kind"])  # the Prometheus Operator's kinds: checked below
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{mode}: {doc['kind']}/{doc['metadata']['name']} on {version}: {exc.message}")
    assert unknown <= {"ServiceMonitor", "PrometheusRule"}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_every_pod_passes_pod_security_restricted(mode: str) -> None:
    pods = [d["spec"]["template"]["spec"] for d in render(*MODES[mode]) if d["kind"] in ("Deployment", "Job")]
    assert len(pods) == 2  # the operator and the uninstall hook
    for pod in pods:
        assert restricted_violations(pod) == [], pod


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """The Pod Security Standards "restricted" profile (v1.25+), checked field by field."""
    found = []
    psc = pod.get("securityContext") or {}
    allowed_volumes = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                       "projected", "secret"}  # fmt: skip
    for volume in pod.get("volumes") or []:
        if not set(volume) - {"name"} <= allowed_volumes:
            found.append(f"volume {volume['name']} type")
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            found.append(key)
    for c in pod["containers"] + pod.get("initContainers", []):
        ctx = c.get("securityContext") or {}
        if ctx.get("privileged"):
            found.append(f"{c['name']}: privileged")
        if ctx.get("allowPrivilegeEscalation") is not False:
            found.append(f"{c['name']}: allowPrivilegeEscalation")
        if ctx.get("runAsNonRoot", psc.get("runAsNonRoot")) is not True:
            found.append(f"{c['name']}: runAsNonRoot")
        if ctx.get("runAsUser", psc.get("runAsUser")) == 0:
            found.append(f"{c['name']}: runAsUser 0")
        seccomp = (ctx.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{c['name']}: seccompProfile")
        caps = ctx.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []) or set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            found.append(f"{c['name']}: capabilities")
        if any(port.get("hostPort") for port in c.get("ports") or []):
            found.append(f"{c['name']}: hostPort")
    return found


def test_monitoring_objects() -> None:
    docs = {doc["kind"]: doc for doc in render(*MONITORING)}
    endpoint = docs["ServiceMonitor"]["spec"]["endpoints"][0]
    assert endpoint["port"] == "http-metrics" and endpoint["honorLabels"] is True
    rules = docs["PrometheusRule"]["spec"]["groups"][0]["rules"]
    assert {r["alert"] for r in rules} == {
        "LeakpatrolLeakConfirmed",
        "LeakpatrolOOMSoon",
        "LeakpatrolScansFailing",
        "LeakpatrolOperatorDown",
        "LeakpatrolNoLeader",
    }  # tests/test_alerts.py runs each through promtool
    for rule in rules:  # every alert parses, and reads only metrics the operator exports
        promql_parser.parse(rule["expr"])
        for metric in re.findall(r"leakpatrol_[a-z_]+", rule["expr"]):
            assert metric.removesuffix("_total") in EXPORTED, metric
    dashboard = json.loads(docs["ConfigMap"]["data"]["leakpatrol.json"])
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    for query in queries:  # with Grafana's variables filled in, every panel's query parses
        promql_parser.parse(re.sub(r"\$(__rate_interval|namespace|policy)", _grafana_value, query))
    exprs = " ".join(queries)
    for metric in ("leakpatrol_target_goroutines", "leakpatrol_target_heap_inuse_bytes",
                   "leakpatrol_workload_leak", "leakpatrol_scrape_errors_total"):  # fmt: skip
        assert metric in exprs
    assert docs["ConfigMap"]["metadata"]["labels"]["grafana_dashboard"] == "1"
    # The workload is the operator's label, the same on the target and the leak series: no guess
    # from the pod name (`web-backend-abcde` -> `web`), and the panels join.
    assert "label_replace" not in exprs
    by_title = {p["title"]: " ".join(t["expr"] for t in p["targets"]) for p in dashboard["panels"]}
    assert "max by (namespace, workload) (leakpatrol_target_goroutines" in by_title["Goroutines per workload"]
    states = next(p for p in dashboard["panels"] if p["title"] == "Leak state")
    assert "leakpatrol_workload_leak_suspected" in by_title["Leak state"]
    texts = {v["text"] for m in states["fieldConfig"]["defaults"]["mappings"] for v in m["options"].values()}
    assert texts == {"ok", "suspected", "LEAK"}  # a Suspected leak is not a green "ok"
    policy = docs["NetworkPolicy"]["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]


def _grafana_value(variable: re.Match[str]) -> str:
    return "5m" if variable.group(1) == "__rate_interval" else ".*"


EXPORTED = {m.name.removesuffix("_total") for m in metrics.REGISTRY.collect()}


def test_installs_as_a_dependency_of_an_umbrella_chart_with_global_values(tmp_path: Path) -> None:
    umbrella = tmp_path / "platform"
    shutil.copytree(CHART, umbrella / "charts" / "leakpatrol", symlinks=False)
    (umbrella / "Chart.yaml").write_text(
        "apiVersion: v2\nname: platform\nversion: 1.0.0\n"
        "dependencies:\n  - name: leakpatrol\n    version: 0.1.0\n"
    )
    (umbrella / "values.yaml").write_text(
        "global:\n  imageRegistry: registry.example.com\n  labels: {team: platform}\n"
        "leakpatrol:\n  replicaCount: 2\n"
    )
    result = helm("template", "p", str(umbrella), "-n", "platform", "--set", "global.x=1")
    assert result.returncode == 0, result.stderr
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    (deployment,) = (d for d in docs if d["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 2
    for doc in docs:
        for version in KUBE_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)
