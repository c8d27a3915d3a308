"""Authentication and authorisation on every request, the TokenRequest API, self-reviews, and the
ServiceAccount controller's `default` account in every namespace.

A request without a bearer token, or with one that is unknown, forged, expired or whose
ServiceAccount is gone, is a 401 (anonymous auth is off). The admin token is system:masters (all
powerful) and may impersonate (`kubectl --as`); a ServiceAccount token's user is authorised by RBAC
(rbac.py) from the Roles and bindings in the store, and a refusal is the real 403 Forbidden Status.
Since Kubernetes 1.35 (AuthorizePodWebsocketUpgradeCreatePermission, kubernetes#134577, on by
default) a websocket upgrade to pods/portforward, pods/exec or pods/attach — a GET, so a `get` —
must ALSO be allowed `create`, as SPDY's POST always needed; we serve 1.37, so both are checked.
"""

from __future__ import annotations

import contextvars
import datetime
from typing import Any

import aiohttp.web

from . import errors, paths, rbac, requestinfo, tokens
from .controllers import ControlPlane
from .registry import Kind
from .store import Obj

Raw = aiohttp.web.BaseRequest
RBAC = "rbac.authorization.k8s.io"
STREAMING = {"portforward", "exec", "attach"}
# Who is making the current request (set by the guard, read by the reviews).
CURRENT_USER: contextvars.ContextVar[tokens.User] = contextvars.ContextVar("current_user")


class Auth:
    def __init__(self, cp: ControlPlane, tokens_: tokens.Tokens) -> None:
        self.cp, self.store, self.tokens = cp, cp.store, tokens_
        cp.api.guard = self.guard
        cp.api.subresources["serviceaccounts/token"] = self.token_request
        cp.api.reviews["authorization.k8s.io/selfsubjectaccessreviews"] = self.access_review
        cp.api.reviews["authorization.k8s.io/selfsubjectrulesreviews"] = self.rules_review
        cp.api.reviews["authentication.k8s.io/selfsubjectreviews"] = self.self_review
        cp.watchers.append(self._namespace_added)
        cp.reconcilers["-default-serviceaccount"] = self._default_serviceaccount

    def bootstrap(self) -> None:
        """The cluster roles and bindings every real cluster starts with (discovery, basic-user, ...)."""
        roles, bindings = (
            self.cp.kind(RBAC, "v1", "clusterroles"),
            self.cp.kind(RBAC, "v1", "clusterrolebindings"),
        )
        for role in rbac.BOOTSTRAP_CLUSTER_ROLES:
            self.store.create(roles, None, {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", **role})
        for binding in rbac.BOOTSTRAP_CLUSTER_ROLE_BINDINGS:
            self.store.create(
                bindings, None, {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding", **binding}
            )

    # -- every request ------------------------------------------------------------------------------

    def guard(self, raw: Raw) -> None:
        scheme, _, token = raw.headers.get("Authorization", "").partition(" ")
        user = self.tokens.authenticate(token.strip()) if scheme.lower() == "bearer" and token else None
        if user is None:
            raise errors.unauthorized()
        if "Impersonate-User" in raw.headers:
            user = self.impersonate(user, raw)
        CURRENT_USER.set(user)
        info = requestinfo.parse(raw.method, raw.path, raw.query)
        self.authorize(user, info)
        upgrade = raw.headers.get("Upgrade", "").lower() == "websocket"
        if upgrade and info.resource == "pods" and info.subresource in STREAMING and info.verb == "get":
            self.authorize(user, requestinfo.RequestInfo(**{**info.__dict__, "verb": "create"}))

    def impersonate(self, user: tokens.User, raw: Raw) -> tokens.User:
        """`kubectl --as=... --as-group=...`: the caller needs `impersonate` on each (users,
        groups, serviceaccounts); the request then runs as that user, as on a real server."""
        name, groups = raw.headers["Impersonate-User"], tuple(raw.headers.getall("Impersonate-Group", []))
        account = name.removeprefix("system:serviceaccount:").split(":")
        if name.startswith("system:serviceaccount:") and len(account) == 2:
            target = requestinfo.RequestInfo(
                "impersonate", "", True, namespace=account[0], resource="serviceaccounts", name=account[1]
            )
            as_user = tokens.service_account_user(account[0], account[1])
        else:
            target = requestinfo.RequestInfo("impersonate", "", True, resource="users", name=name)
            as_user = tokens.User(name, (*groups, "system:authenticated"))
        self.authorize(user, target)
        for group in groups:
            self.authorize(
                user, requestinfo.RequestInfo("impersonate", "", True, resource="groups", name=group)
            )
        if groups and name.startswith("system:serviceaccount:"):
            as_user = tokens.User(as_user.name, (*groups, "system:authenticated"))
        return as_user

    def policy(self, namespace: str) -> rbac.Policy:
        def listed(plural: str, ns: str | None = None) -> list[Obj]:
            return self.store.list(self.cp.kind(RBAC, "v1", plural), ns)

        policy = rbac.Policy(listed("clusterroles"), listed("clusterrolebindings"))
        if namespace:
            policy.roles, policy.role_bindings = listed("roles", namespace), listed("rolebindings", namespace)
        return policy

    def allows(self, user: tokens.User, info: requestinfo.RequestInfo) -> bool:
        return user.is_admin or rbac.allows(self.policy(info.namespace), user, info)

    def authorize(self, user: tokens.User, info: requestinfo.RequestInfo) -> None:
        if not self.allows(user, info):
            raise errors.forbidden(rbac.forbidden_message(user, info), rbac.forbidden_details(info))

    # -- TokenRequest and self-reviews ------------------------------------------------------------

    async def _posted(self, raw: Raw) -> Obj:
        if raw.method != "POST":
            raise errors.method_not_allowed()
        body = await self.cp.api._body(raw)
        return body if isinstance(body, dict) else {}

    async def token_request(self, raw: Raw, kind: Kind, path: paths.ApiPath) -> aiohttp.web.Response:
        body = await self._posted(raw)
        namespace, name = path.namespace or "", path.name or ""
        account = self.store.find(kind, namespace, name)
        if account is None:
            raise errors.not_found("serviceaccounts", "", name)
        spec = dict(body.get("spec") or {})
        seconds = int(spec.get("expirationSeconds") or tokens.DEFAULT_EXPIRATION)
        if seconds < tokens.MIN_EXPIRATION:
            raise errors.invalid(
                "TokenRequest",
                "authentication.k8s.io",
                name,
                [
                    (
                        "FieldValueInvalid",
                        "spec.expirationSeconds",
                        "may not specify a duration less than 10 minutes",
                    )
                ],
            )
        token, expiry = self.tokens.issue(namespace, name, account["metadata"]["uid"], seconds)
        spec.update(expirationSeconds=seconds, audiences=spec.get("audiences") or [tokens.AUDIENCE])
        spec.setdefault("boundObjectRef", None)
        stamp = datetime.datetime.fromtimestamp(expiry, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        answer = {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
            "spec": spec,
            "status": {"token": token, "expirationTimestamp": stamp},
        }
        return aiohttp.web.json_response(answer, status=201)

    async def access_review(self, raw: Raw, kind: Kind, path: paths.ApiPath) -> aiohttp.web.Response:
        """`kubectl auth can-i`: may the caller do this?"""
        body = await self._posted(raw)
        spec: dict[str, Any] = body.get("spec") or {}
        attrs, url = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
        if attrs:
            info = requestinfo.RequestInfo(
                verb=attrs.get("verb", ""),
                path="",
                is_resource=True,
                api_group=attrs.get("group", ""),
                api_version=attrs.get("version", ""),
                namespace=attrs.get("namespace", ""),
                resource=attrs.get("resource", ""),
                subresource=attrs.get("subresource", ""),
                name=attrs.get("name", ""),
            )
        elif url:
            info = requestinfo.RequestInfo(verb=url.get("verb", ""), path=url.get("path", ""))
        else:
            raise errors.invalid(
                kind.kind,
                kind.group,
                "",
                [
                    (
                        "FieldValueRequired",
                        "spec",
                        "exactly one of resourceAttributes or nonResourceAttributes must be specified",
                    )
                ],
            )
        user = CURRENT_USER.get()
        allowed = self.allows(user, info)
        status: Obj = {"allowed": allowed}
        if allowed and not user.is_admin:
            status["reason"] = "RBAC: allowed by a binding"
        answer = {**body, "apiVersion": kind.api_version, "kind": kind.kind, "status": status}
        answer.setdefault("metadata", {})["creationTimestamp"] = None
        return aiohttp.web.json_response(answer, status=201)

    async def rules_review(self, raw: Raw, kind: Kind, path: paths.ApiPath) -> aiohttp.web.Response:
        """`kubectl auth can-i --list -n NS`: every rule the caller holds there."""
        body = await self._posted(raw)
        namespace = (body.get("spec") or {}).get("namespace", "")
        user = CURRENT_USER.get()
        policy = self.policy(namespace)
        if user.is_admin:
            rules = policy.cluster_role_rules("cluster-admin")
        else:
            rules = list(policy.rules_for(user, namespace))
        fields = ("verbs", "apiGroups", "resources", "resourceNames")
        status = {
            "resourceRules": [{f: r[f] for f in fields if r.get(f)} for r in rules if r.get("resources")],
            "nonResourceRules": [
                {"verbs": r["verbs"], "nonResourceURLs": r["nonResourceURLs"]}
                for r in rules
                if r.get("nonResourceURLs")
            ],
            "incomplete": False,
        }
        answer = {
            "kind": kind.kind,
            "apiVersion": kind.api_version,
            "metadata": {"creationTimestamp": None},
            "spec": {"namespace": namespace},
            "status": status,
        }
        return aiohttp.web.json_response(answer, status=201)

    async def self_review(self, raw: Raw, kind: Kind, path: paths.ApiPath) -> aiohttp.web.Response:
        """`kubectl auth whoami`."""
        await self._posted(raw)
        user = CURRENT_USER.get()
        info: Obj = {"username": user.name, "groups": list(user.groups)}
        if user.uid:
            info["uid"] = user.uid
        answer = {
            "kind": kind.kind,
            "apiVersion": kind.api_version,
            "metadata": {"creationTimestamp": None},
            "status": {"userInfo": info},
        }
        return aiohttp.web.json_response(answer, status=201)

    # -- the ServiceAccount controller --------------------------------------------------------------

    def _namespace_added(self, kind: Kind, etype: str, old: Obj | None, new: Obj) -> None:
        md = new["metadata"]
        if kind.group == "" and kind.plural == "namespaces" and etype == "ADDED":
            self.cp.enqueue("-default-serviceaccount", None, md["name"])
        elif (
            kind.group == ""
            and kind.plural == "serviceaccounts"
            and etype == "DELETED"
            and md["name"] == "default"
        ):
            self.cp.enqueue("-default-serviceaccount", None, md["namespace"])  # recreated, as real

    async def _default_serviceaccount(self, _: str | None, namespace: str) -> None:
        namespaces, accounts = self.cp.kind("", "v1", "namespaces"), self.cp.kind("", "v1", "serviceaccounts")
        ns = self.store.find(namespaces, None, namespace)
        if ns is None or ns["metadata"].get("deletionTimestamp"):
            return
        if self.store.find(accounts, namespace, "default") is None:
            self.store.create(accounts, namespace, {"metadata": {"name": "default"}})
