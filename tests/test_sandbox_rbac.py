"""The sandbox's request-info mapping, RBAC matcher, tokens and TLS certificates, as pure units."""

from __future__ import annotations

import ssl
import time
from typing import Any

import pytest
from cryptography import x509

from kubesandbox import rbac, requestinfo, tls, tokens
from kubesandbox.requestinfo import RequestInfo

SA = tokens.service_account_user("shop", "bot")


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/api/v1/namespaces/shop/pods", {}, ("list", "", "shop", "pods", "", "")),
        ("GET", "/api/v1/namespaces/shop/pods", {"watch": "true"}, ("watch", "", "shop", "pods", "", "")),
        ("GET", "/api/v1/watch/namespaces/shop/pods", {}, ("watch", "", "shop", "pods", "", "")),
        ("GET", "/api/v1/pods", {}, ("list", "", "", "pods", "", "")),
        ("GET", "/api/v1/namespaces/shop/pods/web", {}, ("get", "", "shop", "pods", "", "web")),
        # as real: a watch of one named object by its path stays a `get`
        (
            "GET",
            "/api/v1/namespaces/shop/pods/web",
            {"watch": "true"},
            ("get", "", "shop", "pods", "", "web"),
        ),
        (
            "GET",
            "/api/v1/namespaces/shop/pods",
            {"fieldSelector": "metadata.name=web", "watch": "1"},
            ("watch", "", "shop", "pods", "", "web"),
        ),
        ("POST", "/api/v1/namespaces/shop/pods", {}, ("create", "", "shop", "pods", "", "")),
        ("PUT", "/api/v1/namespaces/shop/pods/web", {}, ("update", "", "shop", "pods", "", "web")),
        (
            "PATCH",
            "/apis/apps/v1/namespaces/shop/deployments/web/scale",
            {},
            ("patch", "apps", "shop", "deployments", "scale", "web"),
        ),
        ("DELETE", "/api/v1/namespaces/shop/pods/web", {}, ("delete", "", "shop", "pods", "", "web")),
        ("DELETE", "/api/v1/namespaces/shop/pods", {}, ("deletecollection", "", "shop", "pods", "", "")),
        (
            "POST",
            "/api/v1/namespaces/shop/pods/web/eviction",
            {},
            ("create", "", "shop", "pods", "eviction", "web"),
        ),
        (
            "GET",
            "/api/v1/namespaces/shop/pods/web/portforward",
            {},
            ("get", "", "shop", "pods", "portforward", "web"),
        ),
        (
            "PATCH",
            "/apis/leakpatrol.dev/v1/namespaces/shop/leakpolicies/p/status",
            {},
            ("patch", "leakpatrol.dev", "shop", "leakpolicies", "status", "p"),
        ),
        # a namespace is in its own namespace, as the real RequestInfo has it
        ("GET", "/api/v1/namespaces/shop", {}, ("get", "", "shop", "namespaces", "", "shop")),
        (
            "PUT",
            "/api/v1/namespaces/shop/finalize",
            {},
            ("update", "", "shop", "namespaces", "finalize", "shop"),
        ),
        ("GET", "/api/v1/nodes/node-1", {}, ("get", "", "", "nodes", "", "node-1")),
    ],
)
def test_request_info_maps_like_the_api_server(
    method: str, path: str, query: dict[str, str], expected: tuple[str, ...]
) -> None:
    info = requestinfo.parse(method, path, query)
    assert info.is_resource
    assert (info.verb, info.api_group, info.namespace, info.resource, info.subresource, info.name) == expected


@pytest.mark.parametrize("path", ["/version", "/healthz", "/api", "/apis", "/apis/apps/v1", "/openapi/v3"])
def test_non_resource_requests(path: str) -> None:
    info = requestinfo.parse("GET", path, {})
    assert not info.is_resource and info.verb == "get" and info.path == path


def _resource(verb: str, resource: str, namespace: str = "shop", **kw: Any) -> RequestInfo:
    return RequestInfo(verb=verb, path="", is_resource=True, namespace=namespace, resource=resource, **kw)


@pytest.mark.parametrize(
    ("rule", "info", "allowed"),
    [
        ({"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}, _resource("list", "pods"), True),
        ({"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}, _resource("list", "pods"), False),
        ({"apiGroups": ["apps"], "resources": ["pods"], "verbs": ["*"]}, _resource("list", "pods"), False),
        (
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            _resource("create", "pods", subresource="eviction"),
            True,
        ),
        # a subresource needs its own rule: `pods` does not grant `pods/eviction`, nor `pods/*`
        (
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]},
            _resource("create", "pods", subresource="eviction"),
            False,
        ),
        (
            {"apiGroups": [""], "resources": ["pods/*"], "verbs": ["create"]},
            _resource("create", "pods", subresource="eviction"),
            False,
        ),
        (
            {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
            _resource("create", "pods", subresource="eviction"),
            True,
        ),
        (
            {"apiGroups": ["apps"], "resources": ["*/scale"], "verbs": ["patch"]},
            _resource("patch", "deployments", api_group="apps", subresource="scale", name="w"),
            True,
        ),
        # resourceNames: only requests naming one of them (a list has no name)
        (
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"], "resourceNames": ["web"]},
            _resource("get", "pods", name="web"),
            True,
        ),
        (
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"], "resourceNames": ["web"]},
            _resource("get", "pods", name="db"),
            False,
        ),
        (
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"], "resourceNames": ["web"]},
            _resource("list", "pods"),
            False,
        ),
        ({"nonResourceURLs": ["/healthz"], "verbs": ["get"]}, RequestInfo("get", "/healthz"), True),
        ({"nonResourceURLs": ["/apis/*"], "verbs": ["get"]}, RequestInfo("get", "/apis/apps/v1"), True),
        ({"nonResourceURLs": ["/apis/*"], "verbs": ["get"]}, RequestInfo("get", "/version"), False),
        # a resource rule never grants a path, nor a path rule a resource
        ({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, RequestInfo("get", "/version"), False),
        ({"nonResourceURLs": ["*"], "verbs": ["*"]}, _resource("get", "pods"), False),
    ],
)
def test_rule_allows(rule: dict[str, Any], info: RequestInfo, allowed: bool) -> None:
    assert rbac.rule_allows(rule, info) is allowed


def _role(
    name: str, rules: list[dict[str, Any]], namespace: str | None = None, **extra: Any
) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"metadata": md | extra.pop("metadata", {}), "rules": rules, **extra}


def _bind(
    name: str, kind: str, role: str, subjects: list[dict[str, Any]], namespace: str | None = None
) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"metadata": md, "roleRef": {"kind": kind, "name": role}, "subjects": subjects}


READ_PODS = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]


def test_a_rolebinding_grants_only_in_its_namespace_even_to_a_cluster_role() -> None:
    policy = rbac.Policy(
        cluster_roles=[_role("pod-reader", READ_PODS)],
        role_bindings=[
            _bind("b", "ClusterRole", "pod-reader", [{"kind": "ServiceAccount", "name": "bot"}], "shop")
        ],
    )
    assert rbac.allows(policy, SA, _resource("list", "pods", "shop"))
    assert not rbac.allows(policy, SA, _resource("list", "pods", "other"))
    assert not rbac.allows(policy, SA, _resource("list", "pods", ""))  # all namespaces: cluster scope
    assert not rbac.allows(
        policy, tokens.service_account_user("other", "bot"), _resource("list", "pods", "shop")
    )


def test_a_clusterrolebinding_grants_everywhere_and_needs_the_sa_namespace() -> None:
    subject = {"kind": "ServiceAccount", "name": "bot", "namespace": "shop"}
    policy = rbac.Policy(
        cluster_roles=[_role("pod-reader", READ_PODS)],
        cluster_role_bindings=[_bind("b", "ClusterRole", "pod-reader", [subject])],
    )
    for namespace in ("shop", "other", ""):
        assert rbac.allows(policy, SA, _resource("list", "pods", namespace))
    subject.pop("namespace")
    assert not rbac.allows(policy, SA, _resource("list", "pods", "shop"))


def test_subjects_by_user_and_group_and_roles_by_namespace() -> None:
    policy = rbac.Policy(
        roles=[_role("r", READ_PODS, "shop"), _role("r", [], "other")],
        role_bindings=[
            _bind("g", "Role", "r", [{"kind": "Group", "name": "system:serviceaccounts:shop"}], "shop"),
            _bind("u", "Role", "r", [{"kind": "User", "name": "system:serviceaccount:x:y"}], "other"),
        ],
    )
    assert rbac.allows(policy, SA, _resource("get", "pods", "shop", name="w"))
    assert not rbac.allows(
        policy, tokens.service_account_user("x", "y"), _resource("get", "pods", "other", name="w")
    )


def test_aggregated_cluster_roles() -> None:
    aggregate = {"clusterRoleSelectors": [{"matchLabels": {"rbac.example/aggregate-to-viewer": "true"}}]}
    policy = rbac.Policy(
        cluster_roles=[
            _role("viewer", [], aggregationRule=aggregate),
            _role("pods", READ_PODS, metadata={"labels": {"rbac.example/aggregate-to-viewer": "true"}}),
            _role("secrets", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["*"]}]),
        ],
        cluster_role_bindings=[
            _bind("b", "ClusterRole", "viewer", [{"kind": "Group", "name": "system:authenticated"}])
        ],
    )
    assert rbac.allows(policy, SA, _resource("list", "pods"))
    assert not rbac.allows(policy, SA, _resource("list", "secrets"))


def test_bootstrap_policy_gives_discovery_to_the_authenticated_only() -> None:
    policy = rbac.Policy(rbac.BOOTSTRAP_CLUSTER_ROLES, rbac.BOOTSTRAP_CLUSTER_ROLE_BINDINGS)
    for path in ("/api", "/apis", "/apis/apps/v1", "/version", "/openapi/v3", "/healthz"):
        assert rbac.allows(policy, SA, RequestInfo("get", path))
    assert not rbac.allows(policy, SA, RequestInfo("get", "/metrics"))
    assert not rbac.allows(policy, SA, _resource("list", "pods"))
    review = RequestInfo("create", "", True, "authorization.k8s.io", "v1", "", "selfsubjectaccessreviews")
    assert rbac.allows(policy, SA, review)
    assert rbac.allows(policy, tokens.ADMIN, _resource("delete", "nodes", ""))


def test_forbidden_messages_are_the_api_servers() -> None:
    assert rbac.forbidden_message(SA, _resource("list", "pods")) == (
        'pods is forbidden: User "system:serviceaccount:shop:bot" cannot list resource "pods" '
        'in API group "" in the namespace "shop"'
    )
    eviction = _resource("create", "pods", subresource="eviction", name="web")
    assert rbac.forbidden_message(SA, eviction) == (
        'pods "web" is forbidden: User "system:serviceaccount:shop:bot" cannot create '
        'resource "pods/eviction" in API group "" in the namespace "shop"'
    )
    assert rbac.forbidden_details(eviction) == {"name": "web", "group": "", "kind": "pods"}
    nodes = _resource("list", "nodes", "")
    assert rbac.forbidden_message(SA, nodes).endswith('in API group "" at the cluster scope')
    crd = _resource("get", "customresourcedefinitions", "", api_group="apiextensions.k8s.io")
    assert rbac.forbidden_message(SA, crd).startswith(
        "customresourcedefinitions.apiextensions.k8s.io is forbidden"
    )
    assert rbac.forbidden_message(SA, RequestInfo("get", "/metrics")) == (
        'forbidden: User "system:serviceaccount:shop:bot" cannot get path "/metrics"'
    )


def test_tokens_are_signed_expire_and_die_with_their_service_account() -> None:
    accounts = {("shop", "bot"): "uid-1"}
    issuer = tokens.Tokens(lambda ns, name: accounts.get((ns, name)))
    token, expiry = issuer.issue("shop", "bot", "uid-1", 600)
    assert 595 <= expiry - time.time() <= 600
    user = issuer.authenticate(token)
    assert user is not None and user.name == "system:serviceaccount:shop:bot" and not user.is_admin
    assert "system:serviceaccounts:shop" in user.groups and "system:authenticated" in user.groups
    header, payload, signature = token.split(".")
    assert issuer.authenticate(f"{header}.{payload}.{signature[:-2]}AA") is None  # forged
    other = tokens.Tokens(lambda ns, name: "uid-1")
    assert other.authenticate(token) is None  # another sandbox's key
    expired, _ = issuer.issue("shop", "bot", "uid-1", -1)
    assert issuer.authenticate(expired) is None
    accounts[("shop", "bot")] = "uid-2"  # deleted and recreated: a new uid
    assert issuer.authenticate(token) is None
    assert issuer.authenticate(issuer.admin_token) == tokens.ADMIN
    assert issuer.authenticate("") is None and issuer.authenticate("a.b.c") is None


def test_the_serving_certificate_is_signed_by_the_ca_for_the_right_names() -> None:
    certs = tls.make(("127.0.0.1",))
    cert = x509.load_pem_x509_certificate(certs.cert_pem)
    ca = x509.load_pem_x509_certificate(certs.ca_pem)
    assert cert.issuer == ca.subject
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert "kubernetes.default.svc" in names.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert isinstance(certs.server_context(), ssl.SSLContext)
    assert certs.client_context().verify_mode == ssl.CERT_REQUIRED
