"""RBAC authorisation, pure: does any (Cluster)Role bound to this user allow this request?

The rules are the real RBAC authorizer's (k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac):
a rule allows a resource request when its verbs, apiGroups, resources (`pods`, `pods/log`, `*`,
`*/scale`) and resourceNames (empty = any; a list or create has no name, so never matches a
named rule) all match, and a non-resource request when its verbs and nonResourceURLs (exact, or a
`prefix*`) do. ClusterRoleBindings grant everywhere; a RoleBinding grants in its own namespace
only, whether it names a Role there or a ClusterRole. A ServiceAccount subject without a namespace
means the binding's. An aggregated ClusterRole (aggregationRule) has the rules of every ClusterRole
its selectors match, computed on read (the real controller writes them into it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .requestinfo import RequestInfo
from .tokens import User

Obj = dict[str, Any]


def verb_matches(rule: Obj, verb: str) -> bool:
    verbs = rule.get("verbs") or []
    return "*" in verbs or verb in verbs


def group_matches(rule: Obj, group: str) -> bool:
    groups = rule.get("apiGroups") or []
    return "*" in groups or group in groups


def resource_matches(rule: Obj, combined: str, subresource: str) -> bool:
    for wanted in rule.get("resources") or []:
        if wanted in ("*", combined):
            return True
        if subresource and wanted == f"*/{subresource}":
            return True
    return False


def name_matches(rule: Obj, name: str) -> bool:
    names = rule.get("resourceNames") or []
    return not names or name in names


def url_matches(rule: Obj, path: str) -> bool:
    for url in rule.get("nonResourceURLs") or []:
        if url in ("*", path) or (url.endswith("*") and path.startswith(url[:-1])):
            return True
    return False


def rule_allows(rule: Obj, info: RequestInfo) -> bool:
    if info.is_resource:
        return (
            verb_matches(rule, info.verb)
            and group_matches(rule, info.api_group)
            and resource_matches(rule, info.resource_path, info.subresource)
            and name_matches(rule, info.name)
        )
    return verb_matches(rule, info.verb) and url_matches(rule, info.path)


def subject_matches(subject: Obj, user: User, namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return bool(name == user.name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        sa_namespace = subject.get("namespace") or namespace
        return bool(sa_namespace) and user.name == f"system:serviceaccount:{sa_namespace}:{name}"
    return False


def _selector_matches(selector: Obj, labels: Mapping[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and present and labels[key] in values)
            or (op == "Exists" and not present)
            or (op == "DoesNotExist" and present)
        ):
            return False
    return True


@dataclass
class Policy:
    """The RBAC objects that can matter for one request: all cluster-wide ones, and the request
    namespace's Roles and RoleBindings."""

    cluster_roles: list[Obj] = field(default_factory=list)
    cluster_role_bindings: list[Obj] = field(default_factory=list)
    roles: list[Obj] = field(default_factory=list)
    role_bindings: list[Obj] = field(default_factory=list)

    def cluster_role_rules(self, name: str) -> list[Obj]:
        by_name = {r["metadata"]["name"]: r for r in self.cluster_roles}
        role = by_name.get(name)
        if role is None:
            return []
        rules = list(role.get("rules") or [])
        selectors = (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or []
        for other in self.cluster_roles:
            labels = other["metadata"].get("labels") or {}
            if other is not role and any(_selector_matches(s, labels) for s in selectors):
                rules.extend(other.get("rules") or [])
        return rules

    def _role_rules(self, ref: Obj, namespace: str) -> list[Obj]:
        if ref.get("kind") == "ClusterRole":
            return self.cluster_role_rules(ref.get("name", ""))
        for role in self.roles:
            if role["metadata"]["name"] == ref.get("name") and role["metadata"].get("namespace") == namespace:
                return list(role.get("rules") or [])
        return []

    def rules_for(self, user: User, namespace: str) -> Iterable[Obj]:
        """Every rule granted to the user for a request in `namespace` ("" = cluster scope)."""
        for binding in self.cluster_role_bindings:
            if any(subject_matches(s, user, "") for s in binding.get("subjects") or []):
                ref = binding.get("roleRef") or {}
                if ref.get("kind") == "ClusterRole":
                    yield from self.cluster_role_rules(ref.get("name", ""))
        if not namespace:
            return
        for binding in self.role_bindings:
            if binding["metadata"].get("namespace") != namespace:
                continue
            if any(subject_matches(s, user, namespace) for s in binding.get("subjects") or []):
                yield from self._role_rules(binding.get("roleRef") or {}, namespace)


def allows(policy: Policy, user: User, info: RequestInfo) -> bool:
    if user.is_admin:
        return True
    return any(rule_allows(rule, info) for rule in policy.rules_for(user, info.namespace))


def forbidden_message(user: User, info: RequestInfo) -> str:
    """The real API server's wording (apiserver/pkg/endpoints/handlers/responsewriters/errors.go)."""
    if not info.is_resource:
        return f'forbidden: User "{user.name}" cannot {info.verb} path "{info.path}"'
    resource, group = info.resource_path, info.api_group
    what = f'User "{user.name}" cannot {info.verb} resource "{resource}" in API group "{group}"'
    where = f'in the namespace "{info.namespace}"' if info.namespace else "at the cluster scope"
    qualified = f"{info.resource}.{info.api_group}" if info.api_group else info.resource
    subject = f'{qualified} "{info.name}"' if info.name else qualified
    return f"{subject} is forbidden: {what} {where}"


def forbidden_details(info: RequestInfo) -> Obj:
    if not info.is_resource:
        return {}
    details: Obj = {"group": info.api_group, "kind": info.resource}
    if info.name:
        details = {"name": info.name, **details}
    return details


# What every real cluster starts with (kube-apiserver's bootstrap policy), the part that matters here.
_DISCOVERY_URLS = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*"]
_PUBLIC_URLS = ["/healthz", "/livez", "/readyz", "/version", "/version/"]
_AUTHENTICATED = [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated"}]


def _cluster_role(name: str, rules: list[Obj]) -> Obj:
    labels = {"kubernetes.io/bootstrapping": "rbac-defaults"}
    return {"metadata": {"name": name, "labels": labels}, "rules": rules}


def _binding(name: str, role: str, subjects: list[Obj]) -> Obj:
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}
    labels = {"kubernetes.io/bootstrapping": "rbac-defaults"}
    return {"metadata": {"name": name, "labels": labels}, "roleRef": ref, "subjects": subjects}


BOOTSTRAP_CLUSTER_ROLES = [
    _cluster_role(
        "cluster-admin",
        [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            {"nonResourceURLs": ["*"], "verbs": ["*"]},
        ],
    ),
    _cluster_role(
        "system:discovery", [{"nonResourceURLs": [*_DISCOVERY_URLS, *_PUBLIC_URLS], "verbs": ["get"]}]
    ),
    _cluster_role("system:public-info-viewer", [{"nonResourceURLs": _PUBLIC_URLS, "verbs": ["get"]}]),
    _cluster_role(
        "system:basic-user",
        [
            {
                "apiGroups": ["authorization.k8s.io"],
                "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                "verbs": ["create"],
            },
            {
                "apiGroups": ["authentication.k8s.io"],
                "resources": ["selfsubjectreviews"],
                "verbs": ["create"],
            },
        ],
    ),
]
BOOTSTRAP_CLUSTER_ROLE_BINDINGS = [
    _binding(
        "cluster-admin",
        "cluster-admin",
        [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:masters"}],
    ),
    _binding("system:discovery", "system:discovery", _AUTHENTICATED),
    _binding("system:basic-user", "system:basic-user", _AUTHENTICATED),
    _binding("system:public-info-viewer", "system:public-info-viewer", _AUTHENTICATED),
]
