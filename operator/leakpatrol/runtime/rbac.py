"""Every Kubernetes permission the operator uses, declared once, each with why.

The chart's RBAC (`charts/leakpatrol/templates/rbac.yaml`) is written by hand for people to read,
and `tests/test_chart.py` renders it in every mode and compares it with this list, so the two
cannot drift: a new API call without a line here, or a grant nobody calls, fails the test.

Scopes:

- CLUSTER: a ClusterRole, always. Reads only: nothing cluster-wide writes core objects. (With
  remediation, the Namespaces' get: namespaces are cluster-scoped, so even a namespaced install
  reads them through its ClusterRole.)
- WATCHED: where LeakPolicies live: in the ClusterRole when watching every namespace, else in a
  Role per watched namespace. Events are the only core object written there.
- HOME: the operator's own namespace (a Role): checkpoints, the leader Lease (or, sharding, the
  members' Leases).
- NAMESPACED_WATCH: a ClusterRole, only when watching a list of namespaces: kopf then watches
  namespaces to start serving one that is created after the operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Scope(StrEnum):
    CLUSTER = "cluster"
    WATCHED = "watched"
    HOME = "home"
    NAMESPACED_WATCH = "namespaced-watch"


@dataclass(frozen=True, slots=True)
class Permission:
    group: str
    resource: str
    verbs: tuple[str, ...]
    scope: Scope
    why: str
    optional: str | None = None  # the chart value that can turn it off
    requires: str | None = None  # the chart value that turns it on (off by default)


PERMISSIONS: tuple[Permission, ...] = (
    Permission(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        ("list", "watch"),
        Scope.CLUSTER,
        "kopf finds the LeakPolicy resource and notices when its CRD is installed",
    ),
    Permission(
        "",
        "namespaces",
        ("list", "watch"),
        Scope.NAMESPACED_WATCH,
        "kopf serves a listed namespace that is created after it started",
    ),
    Permission(
        "leakpatrol.dev",
        "leakpolicies",
        ("list", "watch", "patch"),
        Scope.WATCHED,
        "watch LeakPolicies; patch for kopf's finalizer and progress annotations",
    ),
    Permission(
        "leakpatrol.dev",
        "leakpolicies/status",
        ("patch",),
        Scope.WATCHED,
        "conditions, target counts and findings",
    ),
    Permission(
        "",
        "pods",
        ("get", "list"),
        Scope.WATCHED,
        "list the selected pods; get one whose port-forward was refused, to say why, or that an"
        " eviction written ahead may have removed",
    ),
    Permission(
        "",
        "pods/portforward",
        ("get", "create"),
        Scope.WATCHED,
        "fetch pprof through the API server (transport PortForward); 1.35+ also checks create",
        optional="rbac.portForward",
    ),
    Permission(
        "",
        "events",
        ("create", "get", "patch"),
        Scope.WATCHED,
        "LeakDetected, ScrapeFailed ... on the policy, pod and workload, aggregated on repeats",
    ),
    Permission("apps", "replicasets", ("get",), Scope.WATCHED, "resolve Pod -> ReplicaSet -> Deployment"),
    Permission("batch", "jobs", ("get",), Scope.WATCHED, "resolve Pod -> Job -> CronJob"),
    Permission(
        "",
        "configmaps",
        ("get", "create", "patch", "delete"),
        Scope.HOME,
        "each policy's checkpoint, and remediation's cluster-wide ledger of actions"
        " (leakpatrol-actions), written with a resourceVersion precondition",
    ),
    Permission(
        "coordination.k8s.io",
        "leases",
        ("get", "create", "update"),
        Scope.HOME,
        "leader election: only the Lease holder scans; with sharding, each replica's own member Lease",
    ),
    Permission(
        "coordination.k8s.io",
        "leases",
        ("list", "delete"),
        Scope.HOME,
        "sharding: find the live members by label; delete the Leases of members gone for an hour",
        requires="sharding.enabled",
    ),
    Permission(
        "apps",
        "deployments",
        ("get", "patch"),
        Scope.WATCHED,
        "remediation: read availability and generation, then restart as `kubectl rollout restart`",
        requires="remediation.enabled",
    ),
    Permission(
        "apps",
        "statefulsets",
        ("get", "patch"),
        Scope.WATCHED,
        "remediation: the same for a StatefulSet",
        requires="remediation.enabled",
    ),
    Permission(
        "apps",
        "daemonsets",
        ("get", "patch"),
        Scope.WATCHED,
        "remediation: the same for a DaemonSet",
        requires="remediation.enabled",
    ),
    Permission(
        "policy",
        "poddisruptionbudgets",
        ("list",),
        Scope.WATCHED,
        "remediation: every PDB selecting the pods must allow a disruption first",
        requires="remediation.enabled",
    ),
    Permission(
        "",
        "pods/eviction",
        ("create",),
        Scope.WATCHED,
        "remediation EvictPod: the Eviction API, which honours PDBs (never a pod delete)",
        requires="remediation.enabled",
    ),
    Permission(
        "",
        "namespaces",
        ("get",),
        Scope.CLUSTER,
        "remediation: the policy's Namespace, read each pass: the admin's label enables remediation"
        " there (unreadable: not enabled), the admin's annotation resumes a suspension",
        requires="remediation.enabled",
    ),
    Permission(
        "",
        "configmaps",
        ("list",),
        Scope.HOME,
        "remediation evidence: the ledger of receipts, listed by label (metadata only) to count it"
        " against the caps and to find a deleted policy's",
        requires="remediation.enabled",
    ),
    Permission(
        "",
        "configmaps",
        ("create", "delete"),
        Scope.WATCHED,
        "evidence kept in the policy's own namespace (its team reads it there): create"
        " leakpatrol-evidence.*, delete what the ledger names, by uid",
        requires="evidence.inPolicyNamespace",
    ),
)


def rules(
    *scopes: Scope, without: frozenset[str] = frozenset(), enabled: frozenset[str] = frozenset()
) -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) for the given scopes, leaving out permissions turned off by `without`
    (chart values such as "rbac.portForward") and those whose `requires` is not `enabled`."""
    return {
        (p.group, p.resource, verb)
        for p in PERMISSIONS
        if p.scope in scopes and p.optional not in without and (p.requires is None or p.requires in enabled)
        for verb in p.verbs
    }
