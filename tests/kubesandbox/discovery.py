"""Discovery documents and a minimal OpenAPI v3, generated from the live registry.

kubectl asks for aggregated discovery first and falls back to these legacy documents when the answer
is plain `application/json`. For `kubectl apply` without `--validate=false`, kubectl looks in
OpenAPI v3 for a PATCH operation of the kind that accepts the `fieldValidation` query parameter; when
it finds one it leaves validation to the server (we validate CRs against their schema) instead of
downloading the protobuf OpenAPI v2 document, which we do not serve.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .registry import VERBS, Kind, Registry

Obj = dict[str, Any]
SUBRESOURCE_VERBS = {
    "status": ["get", "patch", "update"],
    "scale": ["get", "patch", "update"],
    "eviction": ["create"],
    "portforward": ["create", "get"],
    "log": ["get"],
    "binding": ["create"],
    "token": ["create"],
}
SUBRESOURCE_GROUPS = {"eviction": ("policy", "v1"), "token": ("authentication.k8s.io", "v1")}

SERVER_VERSION = {
    "major": "1",
    "minor": "37",
    "gitVersion": "v1.37.0-kubesandbox",
    "gitCommit": "0" * 40,
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.27.3",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def api_versions(host: str) -> Obj:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
    }


def _group(name: str, versions: list[str]) -> Obj:
    gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list(registry: Registry) -> Obj:
    groups = [_group(g, vs) for g, vs in registry.groups().items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, group: str) -> Obj | None:
    versions = registry.groups().get(group)
    if not versions or not group:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group, versions)}


def _resource(kind: Kind) -> list[Obj]:
    main = {
        "name": kind.plural,
        "singularName": kind.singular,
        "namespaced": kind.namespaced,
        "kind": kind.kind,
        "verbs": ["create"] if kind.plural.endswith("reviews") else VERBS,
        "shortNames": kind.shortnames,
        "categories": kind.categories,
        "storageVersionHash": hashlib.sha256(kind.plural.encode()).hexdigest()[:11],
    }
    result = [main]
    for sub, sub_kind in sorted(kind.subresources.items()):
        entry: Obj = {
            "name": f"{kind.plural}/{sub}",
            "singularName": "",
            "namespaced": kind.namespaced,
            "kind": sub_kind,
            "verbs": SUBRESOURCE_VERBS.get(sub, ["get"]),
        }
        if sub in SUBRESOURCE_GROUPS:
            entry["group"], entry["version"] = SUBRESOURCE_GROUPS[sub]
        result.append(entry)
    return result


def api_resource_list(registry: Registry, group: str, version: str) -> Obj | None:
    kinds = [k for k in registry.all() if k.group == group and k.version == version]
    if not kinds:
        return None
    gv = f"{group}/{version}" if group else version
    resources = [r for k in kinds for r in _resource(k)]
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


# -- OpenAPI v3 -------------------------------------------------------------------------------------


def _gv_path(kind: Kind) -> str:
    return f"api/{kind.version}" if not kind.group else f"apis/{kind.group}/{kind.version}"


def openapi_root(registry: Registry) -> Obj:
    paths: dict[str, Obj] = {}
    for kind in registry.all():
        gv = _gv_path(kind)
        digest = hashlib.sha256(json.dumps(_gv_doc(registry, gv), sort_keys=True).encode()).hexdigest()
        paths[gv] = {"serverRelativeURL": f"/openapi/v3/{gv}?hash={digest[:32].upper()}"}
    return {"paths": paths}


def _schema_name(kind: Kind) -> str:
    reverse = ".".join(reversed(kind.group.split("."))) if kind.group else "io.k8s.api.core"
    return f"{reverse}.{kind.version}.{kind.kind}"


def _operation(kind: Kind, action: str, ref: Obj, body_types: list[str]) -> Obj:
    gvk = {"group": kind.group, "version": kind.version, "kind": kind.kind}
    op: Obj = {
        "operationId": f"{action}{kind.kind}",
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk,
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}},
    }
    if body_types:
        op["requestBody"] = {"content": {t: {"schema": ref} for t in body_types}}
    # kubectl looks for `fieldValidation` among the PATCH operation's own parameters.
    op["parameters"] = [
        {"name": p, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
        for p in ("dryRun", "fieldManager", "fieldValidation")
    ]
    return op


def _gv_doc(registry: Registry, gv_path: str) -> Obj:
    paths: Obj = {}
    schemas: Obj = {}
    for kind in registry.all():
        if _gv_path(kind) != gv_path:
            continue
        name = _schema_name(kind)
        schema = dict(kind.schema or {"type": "object", "x-kubernetes-preserve-unknown-fields": True})
        schemas[name] = {
            **schema,
            "x-kubernetes-group-version-kind": [
                {"group": kind.group, "version": kind.version, "kind": kind.kind}
            ],
        }
        ref = {"$ref": f"#/components/schemas/{name}"}
        prefix = f"/{gv_path}/namespaces/{{namespace}}" if kind.namespaced else f"/{gv_path}"
        paths[f"{prefix}/{kind.plural}/{{name}}"] = {
            "get": _operation(kind, "get", ref, []),
            "put": _operation(kind, "put", ref, ["application/json"]),
            "patch": _operation(
                kind,
                "patch",
                ref,
                [
                    "application/merge-patch+json",
                    "application/json-patch+json",
                    "application/apply-patch+yaml",
                ],
            ),
        }
        paths[f"{prefix}/{kind.plural}"] = {"post": _operation(kind, "post", ref, ["application/json"])}
    info = {"title": "Kubernetes", "version": SERVER_VERSION["gitVersion"]}
    return {"openapi": "3.0.0", "info": info, "paths": paths, "components": {"schemas": schemas}}


def openapi_gv(registry: Registry, gv_path: str) -> Obj | None:
    doc = _gv_doc(registry, gv_path)
    return doc if doc["paths"] else None
