"""What a request asks to do, in RBAC's terms: the real API server's RequestInfo, re-done.

(k8s.io/apiserver/pkg/endpoints/request/requestinfo.go.) `/api/v1/...` and `/apis/G/V/...` are
resource requests; anything else (`/healthz`, `/version`, `/api`, `/apis`, `/openapi/v3`) is a
non-resource request whose verb is the lower-cased HTTP method. For resources: POST create, GET/HEAD
get (list without a name, watch with `?watch=true` or a `/watch/` path prefix), PUT update, PATCH
patch, DELETE delete (deletecollection without a name). `namespaces/NS/...` sets the namespace;
`GET /api/v1/namespaces/NS` is a get of the namespace NS *in* namespace NS, as in the real server.
A list or watch with `fieldSelector=metadata.name=X` is authorised as one on the name X (and, as
real, `GET .../pods/NAME?watch=true` stays a `get`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

NAMESPACE_SUBRESOURCES = {"status", "finalize"}
_VERBS = {
    "POST": "create",
    "GET": "get",
    "HEAD": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}


@dataclass(frozen=True)
class RequestInfo:
    verb: str
    path: str
    is_resource: bool = False
    api_group: str = ""
    api_version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""

    @property
    def resource_path(self) -> str:
        """`pods` or `pods/eviction`: what a rule's `resources` must name."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def _name_from_field_selector(selector: str) -> str:
    for term in selector.split(","):
        field, sep, value = term.partition("=")
        field = field.rstrip("=")
        if sep and field.strip() == "metadata.name" and not field.endswith("!"):
            return value.lstrip("=").strip()
    return ""


def parse(method: str, path: str, query: Mapping[str, str]) -> RequestInfo:
    parts = [p for p in path.split("/") if p]
    verb = _VERBS.get(method.upper(), method.lower())
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return RequestInfo(verb=method.lower(), path=path)
    if not rest:  # /api/v1, /apis/apps/v1: discovery, a non-resource URL
        return RequestInfo(verb=method.lower(), path=path)
    watch_prefix = rest[0] == "watch"
    if watch_prefix:
        rest = rest[1:]
        verb = "watch"
    namespace = ""
    if rest[:1] == ["namespaces"] and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if verb in ("get", "watch") and not name:
        watch = watch_prefix or query.get("watch", "").lower() in ("true", "1")
        verb = "watch" if watch else "list"
    if verb == "delete" and not name:
        verb = "deletecollection"
    if verb in ("list", "watch") and not name:
        name = _name_from_field_selector(query.get("fieldSelector", ""))
    return RequestInfo(verb, path, True, group, version, namespace, resource, subresource, name)
