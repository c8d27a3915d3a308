"""charts/leakpatrol: lints, renders, grants exactly the RBAC the operator needs, runs hardened,
ships the one CRD, and refuses contradictory values."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from leakpatrol.runtime import rbac

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "leakpatrol"
HELM = ROOT / ".tools" / "helm"

pytestmark = [
    pytest.mark.helm,
    pytest.mark.skipif(
        not HELM.exists() and shutil.which("helm") is None,
        reason="helm is not installed: `make setup` puts it in .tools/helm",
    ),
]

Rule = tuple[str, str, str]  # (apiGroup, resource, verb)
OPERATOR = "lp-leakpatrol"  # the operator's (Cluster)Roles; the uninstall hook's are "-cleanup..."
KUBE_VERSIONS = ("1.25.0", "1.37.0")  # the oldest and newest Kubernetes the chart supports
HA = ("replicaCount=2",)
MONITORING = (
    "monitoring.serviceMonitor.enabled=true",
    "monitoring.prometheusRule.enabled=true",
    "monitoring.dashboard.enabled=true",
    "networkPolicy.enabled=true",
)
NAMESPACED = ("watch.allNamespaces=false", "watch.namespaces={shop,payments}")
MODES = {
    "defaults": (),
    "namespaced": NAMESPACED,
    "ha": HA,
    "monitoring": MONITORING,
    "everything": (*HA, *MONITORING, "crds.templated=true", "topologySpreadConstraints[0].maxSkew=1",
                   "topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone",
                   "topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway"),
}  # fmt: skip


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    binary = str(HELM) if HELM.exists() else "helm"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, check=False)


def render(*sets: str, crds: bool = False) -> list[dict[str, Any]]:
    args = ["template", "lp", str(CHART), "--namespace", "leakpatrol-system"]
    args += [a for s in sets for a in ("--set", s)] + (["--include-crds"] if crds else [])
    result = helm(*args)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def rules_of(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> set[Rule]:
    return {
        (group, resource, verb)
        for doc in docs
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)
        for rule in doc["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_lint() -> None:
    for sets in ((), HA, MONITORING):
        args = [a for s in sets for a in ("--set", s)]
        result = helm("lint", "--strict", str(CHART), *args)
        assert result.returncode == 0, result.stdout + result.stderr


def test_default_render_kinds() -> None:
    kinds = sorted(doc["kind"] for doc in render() if "helm.sh/hook" not in _annotations(doc))
    assert kinds == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
    ]


def _annotations(doc: dict[str, Any]) -> dict[str, str]:
    return doc["metadata"].get("annotations") or {}


def test_rbac_is_exactly_the_declared_permissions() -> None:
    """The chart's RBAC is rendered from templates people read; runtime/rbac.py declares what the code
    calls. Every mode must render exactly the declared rules."""
    docs = render()
    assert rules_of(docs, "ClusterRole", OPERATOR) == rbac.rules(rbac.Scope.CLUSTER, rbac.Scope.WATCHED)
    (home,) = (doc for doc in docs if doc["kind"] == "Role" and doc["metadata"]["name"] == f"{OPERATOR}-home")
    assert home["metadata"]["namespace"] == "leakpatrol-system"
    assert rules_of([home], "Role") == rbac.rules(rbac.Scope.HOME)
    assert ("", "namespaces", "list") not in rules_of(docs, "ClusterRole")  # kopf does not scan them


def test_namespace_list_grants_roles_per_namespace() -> None:
    docs = render(*NAMESPACED)
    assert rules_of(docs, "ClusterRole", OPERATOR) == rbac.rules(
        rbac.Scope.CLUSTER, rbac.Scope.NAMESPACED_WATCH
    )
    roles = [doc for doc in docs if doc["kind"] == "Role" and doc["metadata"]["name"] == OPERATOR]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["payments", "shop"]
    for role in roles:
        assert rules_of([role], "Role") == rbac.rules(rbac.Scope.WATCHED)
    (deployment,) = (doc for doc in docs if doc["kind"] == "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=shop" in args
    assert "--all-namespaces" not in args


def test_port_forward_can_be_left_out() -> None:
    expected = rbac.rules(rbac.Scope.CLUSTER, rbac.Scope.WATCHED, without=frozenset({"rbac.portForward"}))
    assert rules_of(render("rbac.portForward=false"), "ClusterRole", OPERATOR) == expected
    assert ("", "pods/portforward", "create") not in expected


@pytest.mark.parametrize("mode", sorted(MODES))
def test_nothing_cluster_wide_writes_core_objects_but_events_and_no_wildcards(mode: str) -> None:
    docs = render(*MODES[mode])
    writes = {"create", "update", "patch", "delete", "deletecollection"}
    # Events are the one core object written; `create` on pods/portforward opens a stream, no object.
    allowed = {("events", "create"), ("events", "patch"), ("pods/portforward", "create")}
    for group, resource, verb in rules_of(docs, "ClusterRole"):
        assert "*" not in (group, resource, verb)
        assert not (group == "" and verb in writes and (resource, verb) not in allowed), (resource, verb)
        assert resource != "configmaps"
    for group, resource, verb in rules_of(docs, "Role"):
        assert "*" not in (group, resource, verb)


def test_every_declared_permission_says_why() -> None:
    for perm in rbac.PERMISSIONS:
        assert len(perm.why) > 20, perm


def test_remediation_rbac_only_behind_its_value() -> None:
    on = frozenset({"remediation.enabled"})
    docs = render("remediation.enabled=true")
    assert rules_of(docs, "ClusterRole", OPERATOR) == rbac.rules(
        rbac.Scope.CLUSTER, rbac.Scope.WATCHED, enabled=on
    )
    assert rules_of(render(), "ClusterRole", OPERATOR) == rbac.rules(rbac.Scope.CLUSTER, rbac.Scope.WATCHED)
    (home,) = (doc for doc in docs if doc["kind"] == "Role" and doc["metadata"]["name"] == f"{OPERATOR}-home")
    assert rules_of([home], "Role") == rbac.rules(rbac.Scope.HOME, enabled=on)
    # still never a pod delete, never a ConfigMap write outside the operator's namespace
    assert ("", "pods", "delete") not in rules_of(docs, "ClusterRole")
    assert not {r for r in rules_of(docs, "ClusterRole") if r[1] == "configmaps"}
    per_namespace = render("remediation.enabled=true", "watch.allNamespaces=false", "watch.namespaces={shop}")
    roles = [d for d in per_namespace if d["kind"] == "Role" and d["metadata"]["name"] == OPERATOR]
    assert roles and rules_of(roles, "Role") == rbac.rules(rbac.Scope.WATCHED, enabled=on)


def test_evidence_in_the_policys_namespace_grants_configmap_writes_there_and_only_then() -> None:
    on = frozenset({"remediation.enabled", "evidence.inPolicyNamespace"})
    docs = render("remediation.enabled=true", "evidence.inPolicyNamespace=true")
    assert rules_of(docs, "ClusterRole", OPERATOR) == rbac.rules(
        rbac.Scope.CLUSTER, rbac.Scope.WATCHED, enabled=on
    )
    assert {("", "configmaps", "create"), ("", "configmaps", "delete")} <= rules_of(docs, "ClusterRole")
    assert ("", "configmaps", "get") not in rules_of(docs, "ClusterRole")  # never reads a tenant's
    (deployment,) = (d for d in docs if d["kind"] == "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--evidence-namespace=policy" in args and "--evidence-max-count=50" in args
    home = render("remediation.enabled=true", "evidence.maxConfigMaps=7", "evidence.perNamespace.mib=2")
    (deployment,) = (d for d in home if d["kind"] == "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert {"--evidence-namespace=home", "--evidence-max-count=7", "--evidence-namespace-mb=2"} <= set(args)
    failed = helm("template", "lp", str(CHART), "--set", "evidence.inPolicyNamespace=true")
    assert failed.returncode != 0 and "needs remediation.enabled" in failed.stderr


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
    assert {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in container["env"]
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
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["periodSeconds"] == 20
    assert "--leader-election" in container["args"] and "--lease-name=lp-leakpatrol" in container["args"]
    assert {"name": "http", "containerPort": 8080, "protocol": "TCP"} in container["ports"]


def test_ha_rolls_with_a_standby_and_spreads() -> None:
    sets = (*HA, "topologySpreadConstraints[0].maxSkew=1", "livenessProbe.periodSeconds=7",
            "topologySpreadConstraints[0].topologyKey=kubernetes.io/hostname",
            "topologySpreadConstraints[0].whenUnsatisfiable=DoNotSchedule",
            "volumes[0].name=ca", "volumes[0].configMap.name=ca", "volumeMounts[0].name=ca",
            "volumeMounts[0].mountPath=/etc/ca")  # fmt: skip
    (deployment,) = (doc for doc in render(*sets) if doc["kind"] == "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    pod = spec["template"]["spec"]
    (spread,) = pod["topologySpreadConstraints"]
    assert spread["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]
    assert {"name": "ca", "configMap": {"name": "ca"}} in pod["volumes"]
    container = pod["containers"][0]
    assert {"name": "ca", "mountPath": "/etc/ca"} in container["volumeMounts"]
    assert container["livenessProbe"]["periodSeconds"] == 7


def test_without_leader_election_one_replica_recreated() -> None:
    (deployment,) = (d for d in render("leaderElection.enabled=false") if d["kind"] == "Deployment")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert "--no-leader-election" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]


def test_sharding_renders_its_flags_and_lists_member_leases_only_then() -> None:
    docs = render("replicaCount=3", "sharding.enabled=true", "sharding.shards=32")
    (deployment,) = (d for d in docs if d["kind"] == "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--sharding" in args and "--shards=32" in args and "--leader-election" not in args
    assert deployment["spec"]["replicas"] == 3
    on = frozenset({"sharding.enabled"})
    (home,) = (doc for doc in docs if doc["kind"] == "Role" and doc["metadata"]["name"] == f"{OPERATOR}-home")
    assert rules_of([home], "Role") == rbac.rules(rbac.Scope.HOME, enabled=on)
    assert ("coordination.k8s.io", "leases", "list") in rules_of([home], "Role")
    (plain,) = (d for d in render() if d["kind"] == "Role" and d["metadata"]["name"] == f"{OPERATOR}-home")
    assert ("coordination.k8s.io", "leases", "list") not in rules_of([plain], "Role")


def test_tenancy_values_render_their_flags() -> None:
    def args(*sets: str) -> list[str]:
        (deployment,) = (d for d in render(*sets) if d["kind"] == "Deployment")
        result: list[str] = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        return result

    assert {"--max-target-timeout=1m", "--per-namespace-fetches=16"} <= set(args())
    tight = args("tenancy.maxTargetTimeout=20s", "tenancy.fetchesPerNamespace=4")
    assert {"--max-target-timeout=20s", "--per-namespace-fetches=4"} <= set(tight)


def test_chart_ships_the_one_crd() -> None:
    # A real file, not a symlink: helm warns "found symbolic link" on every render of one, and a
    # packaged chart must carry the CRD itself. The copy must stay the CRD the code is tested with.
    assert not (CHART / "crds" / "leakpolicy.yaml").is_symlink()
    assert (CHART / "crds" / "leakpolicy.yaml").read_bytes() == (
        ROOT / "crds" / "leakpolicy.yaml"
    ).read_bytes()
    crds = [doc for doc in render(crds=True) if doc["kind"] == "CustomResourceDefinition"]
    assert crds == [yaml.safe_load((ROOT / "crds" / "leakpolicy.yaml").read_text())]


def test_templated_crd_is_the_same_crd_kept_on_uninstall() -> None:
    (crd,) = (doc for doc in render("crds.templated=true") if doc["kind"] == "CustomResourceDefinition")
    assert crd["metadata"].pop("annotations") == {"helm.sh/resource-policy": "keep"}
    assert crd == yaml.safe_load((ROOT / "crds" / "leakpolicy.yaml").read_text())


def test_uninstall_hook_stops_the_operator_then_releases_finalizers() -> None:
    docs = [d for d in render(*NAMESPACED) if _annotations(d).get("helm.sh/hook") == "pre-delete"]
    (job,) = (d for d in docs if d["kind"] == "Job")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["leakpatrol", "release-finalizers"]
    assert "--deployment=lp-leakpatrol" in container["args"] and "--namespace=shop" in container["args"]
    assert rules_of(docs, "ClusterRole") == set()  # namespaced mode: Roles only
    assert rules_of(docs, "Role", "lp-leakpatrol-cleanup-policies") == {
        ("leakpatrol.dev", "leakpolicies", "list"),
        ("leakpatrol.dev", "leakpolicies", "patch"),
    }
    (own,) = (d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == "lp-leakpatrol-cleanup")
    assert own["rules"][0]["resourceNames"] == ["lp-leakpatrol"]
    # Then the ledger of actions: that one ConfigMap's delete, nothing wider.
    (ledger,) = (r for r in own["rules"] if r["resources"] == ["configmaps"])
    assert ledger == {
        "apiGroups": [""],
        "resources": ["configmaps"],
        "resourceNames": ["leakpatrol-actions"],
        "verbs": ["delete"],
    }
    assert not [d for d in render("cleanupOnUninstall=false") if "helm.sh/hook" in _annotations(d)]


def test_uninstall_hooks_pod_never_matches_the_operators_selector() -> None:
    """The hook waits for the operator's pods to go: were its own pod selected, it would wait for
    itself until its deadline (it did, with the operator already at zero replicas)."""
    for sets in ((), NAMESPACED, ("nameOverride=x", "podLabels.team=a")):
        docs = render(*sets)
        (deployment,) = (d for d in docs if d["kind"] == "Deployment")
        (job,) = (d for d in docs if d["kind"] == "Job")
        selector = deployment["spec"]["selector"]["matchLabels"]
        labels = job["spec"]["template"]["metadata"]["labels"]
        assert not selector.items() <= labels.items(), (selector, labels)
        container = job["spec"]["template"]["spec"]["containers"][0]
        assert {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in container[
            "env"
        ]


def test_rbac_create_false_renders_no_rbac_object_at_all() -> None:
    rbac_kinds = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
    for sets in ((), NAMESPACED, ("replicaCount=3", "sharding.enabled=true")):
        docs = render("rbac.create=false", *sets)
        assert not [d["metadata"]["name"] for d in docs if d["kind"] in rbac_kinds]
        (job,) = (d for d in docs if d["kind"] == "Job")
        # No ServiceAccount of its own either: it runs as the operator's, which the admin grants.
        assert job["spec"]["template"]["spec"]["serviceAccountName"] == OPERATOR
        assert [d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount"] == [OPERATOR]
    assert {d["kind"] for d in render()} >= rbac_kinds


def test_render_prints_nothing_but_the_manifests() -> None:
    result = helm("template", "lp", str(CHART), "--include-crds")
    assert result.returncode == 0 and result.stderr == "", result.stderr


@pytest.mark.parametrize(
    ("memory", "ok"), [("512Mi", True), ("1G", True), ("1e9", True), ("1Gb", False), ("-1Gi", False)]
)
def test_memory_quantities_are_validated(memory: str, ok: bool) -> None:
    for key in ("resources.limits.memory", "resources.requests.memory"):
        result = helm("template", "lp", str(CHART), "--set-string", f"{key}={memory}")
        assert (result.returncode == 0) == ok, result.stderr
        if not ok:
            assert "memory" in result.stderr, result.stderr


def test_pdb_only_with_more_than_one_replica() -> None:
    assert not [d for d in render() if d["kind"] == "PodDisruptionBudget"]
    for sets in (HA, ("replicaCount=3", "sharding.enabled=true")):
        docs = render(*sets)
        (pdb,) = (d for d in docs if d["kind"] == "PodDisruptionBudget")
        (deployment,) = (d for d in docs if d["kind"] == "Deployment")
        assert pdb["spec"] == {"maxUnavailable": 1, "selector": deployment["spec"]["selector"]}
    off = render(*HA, "podDisruptionBudget.enabled=false")
    assert not [d for d in off if d["kind"] == "PodDisruptionBudget"]


def notes(*sets: str) -> str:
    args = ["install", "lp", str(CHART), "--dry-run=client", "--namespace", "leakpatrol-system"]
    result = helm(*args, *[a for s in sets for a in ("--set", s)])
    assert result.returncode == 0, result.stderr
    return result.stdout.split("NOTES:", 1)[1]


def test_notes_fit_the_mode_and_a_packaged_chart() -> None:
    plain = notes()
    assert "crds/" not in plain  # a user of a packaged chart has no such directory
    assert "helm show crds" in plain
    sharded = notes("replicaCount=3", "sharding.enabled=true")
    assert "leakpatrol.dev/member-of" in sharded and "stand by" not in sharded
    assert "stand by" in notes(*HA)
    assert "helm show crds" not in notes("crds.templated=true")


def test_chart_readme_is_shown_and_covers_uninstall_and_crd_upgrades() -> None:
    result = helm("show", "readme", str(CHART))
    assert result.returncode == 0, result.stderr
    for words in ("## Uninstall", "rbac.create=false", "crds.templated=true", "invalid ownership metadata"):
        assert words in result.stdout


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["watch.namespaces={shop}"], "choose one"),
        (["watch.allNamespaces=false"], "would watch nothing"),
        (["serviceAccount.create=false"], "serviceAccount.name must name"),
        (["unknownKey=1"], "additional properties"),
        (["securityContext.allowPrivilegeEscalation=true"], "allowPrivilegeEscalation"),
        (["watch.namespaces={Not_A_Namespace}", "watch.allNamespaces=false"], "namespaces"),
        (["securityContext.capabilities.add={NET_ADMIN}"], "capabilities"),
        (["securityContext.privileged=true"], "privileged"),
        (["securityContext.runAsNonRoot=false"], "runAsNonRoot"),
        (["podSecurityContext.runAsNonRoot=false"], "runAsNonRoot"),
        (["extraEnv[0].name=LEAKPATROL_MAX_FETCHES", "extraEnv[0].value=16"], "extraEnv"),
        (["replicaCount=2", "leaderElection.enabled=false"], "needs leaderElection.enabled"),
        (["monitoring.serviceMonitor.enabled=true", "service.enabled=false"], "needs service.enabled"),
        (["remediation.actionsPerHourPerNamespace=0"], "actionsPerHourPerNamespace"),
    ],
)
def test_contradictory_or_unknown_values_fail(sets: list[str], message: str) -> None:
    args = ["template", "lp", str(CHART)] + [a for s in sets for a in ("--set", s)]
    result = helm(*args)
    assert result.returncode != 0
    assert re.search(re.escape(message), result.stderr), result.stderr


def test_remediation_settings_render_as_the_operators_flags_and_parse_to_its_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The chart's remediation values (the admin's: selector, budget, floors, who resumes) are the
    operator's flags, and as shipped they say what the operator's own defaults say."""
    # The flags are parsed as the pod would; the kubeconfig check before the start must find a file
    # whatever this machine's home holds (a fresh CI machine has no ~/.kube/config).
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    from leakpatrol.cli import build_parser  # noqa: PLC0415 - only this test runs the CLI's parser
    from leakpatrol.controller.remediation.admin import AdminPolicy  # noqa: PLC0415
    from leakpatrol.runtime import main  # noqa: PLC0415

    def admin_of(*sets: str) -> AdminPolicy:
        (deployment,) = (d for d in render("remediation.enabled=true", *sets) if d["kind"] == "Deployment")
        args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        seen: list[main.OperatorOptions] = []

        async def started(opts: main.OperatorOptions) -> None:
            seen.append(opts)

        monkeypatch.setattr(main, "run_operator", started)
        parsed = build_parser().parse_args(["operator", *args])
        parsed.run(parsed)
        return seen[0].admin()

    assert admin_of() == AdminPolicy()
    custom = admin_of(
        "remediation.namespaceSelector=env in (prod)",
        "remediation.actionsPerHour=0",
        "remediation.actionsPerHourPerNamespace=7",
        "remediation.floors.escalateAfter=0s",
        "remediation.tenantResume=true",
    )
    assert custom.namespace_selector == "env in (prod)" and custom.actions_per_hour == 0
    assert custom.namespace_actions_per_hour == 7
    assert custom.floors.escalate_after == 0 and custom.tenant_resume
    off = next(d for d in render() if d["kind"] == "Deployment")
    assert not any("remediation" in a for a in off["spec"]["template"]["spec"]["containers"][0]["args"])
