"""What resource kinds the sandbox serves: the built-ins and whatever CRDs define at runtime."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass
class Kind:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    shortnames: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    subresources: dict[str, str] = field(default_factory=dict)  # name -> kind served by it
    printer_columns: list[dict[str, Any]] = field(default_factory=list)
    schema: dict[str, Any] | None = None  # openAPIV3Schema of a CRD version
    served: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    def key(self) -> tuple[str, str, str]:
        return (self.group, self.version, self.plural)


def _k(gv: str, plural: str, kind: str, *, ns: bool = True, short: tuple[str, ...] = (), **kw: Any) -> Kind:
    group, _, version = gv.rpartition("/")
    subs = kw.pop("subs", {"status": kind})
    cats = kw.pop("cats", [])
    return Kind(group, version, plural, kind, ns, list(short), cats, subs, **kw)


POD_SUBS = {
    "status": "Pod",
    "eviction": "Eviction",
    "portforward": "PodPortForwardOptions",
    "log": "Pod",
    "binding": "Binding",
}

BUILTINS: list[Kind] = [
    _k("v1", "namespaces", "Namespace", ns=False, short=("ns",)),
    _k("v1", "pods", "Pod", short=("po",), cats=["all"], subs=POD_SUBS),
    _k("v1", "services", "Service", short=("svc",), cats=["all"]),
    _k("v1", "endpoints", "Endpoints", short=("ep",), subs={}),
    _k("v1", "configmaps", "ConfigMap", short=("cm",), subs={}),
    _k("v1", "secrets", "Secret", subs={}),
    _k("v1", "serviceaccounts", "ServiceAccount", short=("sa",), subs={"token": "TokenRequest"}),
    _k("v1", "events", "Event", short=("ev",), subs={}),
    _k("v1", "nodes", "Node", ns=False, short=("no",)),
    _k(
        "apps/v1",
        "deployments",
        "Deployment",
        short=("deploy",),
        cats=["all"],
        subs={"status": "Deployment", "scale": "Scale"},
    ),
    _k(
        "apps/v1",
        "replicasets",
        "ReplicaSet",
        short=("rs",),
        cats=["all"],
        subs={"status": "ReplicaSet", "scale": "Scale"},
    ),
    _k("apps/v1", "statefulsets", "StatefulSet", short=("sts",), cats=["all"]),
    _k("apps/v1", "daemonsets", "DaemonSet", short=("ds",), cats=["all"]),
    _k("batch/v1", "jobs", "Job", cats=["all"]),
    _k("policy/v1", "poddisruptionbudgets", "PodDisruptionBudget", short=("pdb",)),
    _k("events.k8s.io/v1", "events", "Event", short=("ev",), subs={}),
    _k("coordination.k8s.io/v1", "leases", "Lease", subs={}),
    _k("rbac.authorization.k8s.io/v1", "roles", "Role", subs={}),
    _k("rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding", subs={}),
    _k("rbac.authorization.k8s.io/v1", "clusterroles", "ClusterRole", ns=False, subs={}),
    _k("rbac.authorization.k8s.io/v1", "clusterrolebindings", "ClusterRoleBinding", ns=False, subs={}),
    # Create-only reviews, answered from the caller's own credentials and never stored (auth.py).
    _k("authorization.k8s.io/v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", ns=False, subs={}),
    _k("authorization.k8s.io/v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", ns=False, subs={}),
    _k("authentication.k8s.io/v1", "selfsubjectreviews", "SelfSubjectReview", ns=False, subs={}),
    _k(
        "apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        ns=False,
        short=("crd", "crds"),
        cats=["api-extensions"],
    ),
]


def kinds_from_crd(crd: dict[str, Any]) -> list[Kind]:
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    result = []
    for version in spec.get("versions") or []:
        subresources = version.get("subresources") or {}
        subs = {name: names.get("kind", "") for name in subresources}
        if "scale" in subs:
            subs["scale"] = "Scale"
        result.append(
            Kind(
                group=spec.get("group", ""),
                version=version["name"],
                plural=names.get("plural", ""),
                kind=names.get("kind", ""),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                shortnames=list(names.get("shortNames") or []),
                categories=list(names.get("categories") or []),
                subresources=subs,
                printer_columns=list(version.get("additionalPrinterColumns") or []),
                schema=(version.get("schema") or {}).get("openAPIV3Schema"),
                served=version.get("served", True),
            )
        )
    return result


class Registry:
    def __init__(self) -> None:
        self._kinds: dict[tuple[str, str, str], Kind] = {k.key(): k for k in BUILTINS}

    def all(self) -> list[Kind]:
        return [k for k in self._kinds.values() if k.served]

    def get(self, group: str, version: str, plural: str) -> Kind | None:
        kind = self._kinds.get((group, version, plural))
        return kind if kind is not None and kind.served else None

    def by_kind(self, api_version: str, kind: str) -> Kind | None:
        return next((k for k in self.all() if k.api_version == api_version and k.kind == kind), None)

    def add_crd(self, crd: dict[str, Any]) -> None:
        self.remove_crd(crd)
        for kind in kinds_from_crd(crd):
            self._kinds[kind.key()] = kind

    def remove_crd(self, crd: dict[str, Any]) -> None:
        spec = crd.get("spec") or {}
        plural = (spec.get("names") or {}).get("plural")
        for key in [k for k in self._kinds if k[0] == spec.get("group") and k[2] == plural]:
            del self._kinds[key]

    def groups(self) -> dict[str, list[str]]:
        """group -> served versions, in a stable order (the first is the preferred one)."""
        result: dict[str, list[str]] = {}
        for kind in self.all():
            versions = result.setdefault(kind.group, [])
            if kind.version not in versions:
                versions.append(kind.version)
        return result
