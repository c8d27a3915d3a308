"""Server-side `Table` output (what `kubectl get` asks for), with a CRD's additionalPrinterColumns."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from . import meta
from .registry import Kind

Obj = dict[str, Any]

# A JSONPath subset: `.a.b`, `[0]`, `[*]`, `[?(@.type=="Ready")]`.
_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+|\*)\]|\[\?\(@\.([\w.-]+)\s*==\s*[\"']([^\"']*)[\"']\)\]")


def jsonpath(obj: Any, expr: str) -> list[Any]:
    expr = expr.strip().removeprefix("{").removesuffix("}").strip()
    nodes = [obj]
    for m in _SEGMENT.finditer(expr):
        key, index, filter_key, filter_value = m.groups()
        nxt: list[Any] = []
        for node in nodes:
            if key is not None and isinstance(node, dict) and key in node:
                nxt.append(node[key])
            elif index == "*" and isinstance(node, list):
                nxt.extend(node)
            elif index is not None and index != "*" and isinstance(node, list) and int(index) < len(node):
                nxt.append(node[int(index)])
            elif filter_key is not None and isinstance(node, list):
                nxt.extend(x for x in node if str(_dig(x, filter_key)) == filter_value)
        nodes = nxt
    return nodes


def _dig(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def _cell(values: list[Any], column_type: str) -> Any:
    if not values:
        return None
    if column_type == "date":
        created = meta.parse_time(str(values[0]))
        if created is None:
            return None
        return meta.human_duration((meta.parse_time(meta.now()) - created).total_seconds())  # type: ignore[operator]
    if len(values) == 1 and not isinstance(values[0], dict | list):
        return values[0]
    return ",".join(str(v) for v in values)


Column = tuple[str, str, int, Callable[[Obj], Any]]  # name, type, priority, cell function


def _pod_status(pod: Obj) -> str:
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting:
            return str(waiting.get("reason", "Waiting"))
    return str((pod.get("status") or {}).get("phase", "Pending"))


def _pod_ready(pod: Obj) -> str:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    total = len((pod.get("spec") or {}).get("containers") or [])
    return f"{sum(1 for cs in statuses if cs.get('ready'))}/{total}"


def _restarts(pod: Obj) -> int:
    return sum(cs.get("restartCount", 0) for cs in (pod.get("status") or {}).get("containerStatuses") or [])


def _st(obj: Obj, key: str) -> Any:
    return (obj.get("status") or {}).get(key, 0)


NAME: Column = ("Name", "string", 0, lambda o: o["metadata"]["name"])
AGE: Column = ("Age", "string", 0, meta.age)
BUILTIN_COLUMNS: dict[str, list[Column]] = {
    "Pod": [
        NAME,
        ("Ready", "string", 0, _pod_ready),
        ("Status", "string", 0, _pod_status),
        ("Restarts", "string", 0, lambda o: str(_restarts(o))),
        AGE,
        ("IP", "string", 1, lambda o: (o.get("status") or {}).get("podIP") or "<none>"),
        ("Node", "string", 1, lambda o: (o.get("spec") or {}).get("nodeName") or "<none>"),
    ],
    "Deployment": [
        NAME,
        (
            "Ready",
            "string",
            0,
            lambda o: f"{_st(o, 'readyReplicas')}/{(o.get('spec') or {}).get('replicas', 1)}",
        ),
        ("Up-to-date", "integer", 0, lambda o: _st(o, "updatedReplicas")),
        ("Available", "integer", 0, lambda o: _st(o, "availableReplicas")),
        AGE,
    ],
    "ReplicaSet": [
        NAME,
        ("Desired", "integer", 0, lambda o: (o.get("spec") or {}).get("replicas", 1)),
        ("Current", "integer", 0, lambda o: _st(o, "replicas")),
        ("Ready", "integer", 0, lambda o: _st(o, "readyReplicas")),
        AGE,
    ],
    "Namespace": [
        NAME,
        ("Status", "string", 0, lambda o: (o.get("status") or {}).get("phase", "Active")),
        AGE,
    ],
    "PodDisruptionBudget": [
        NAME,
        ("Min Available", "string", 0, lambda o: str((o.get("spec") or {}).get("minAvailable", "N/A"))),
        ("Max Unavailable", "string", 0, lambda o: str((o.get("spec") or {}).get("maxUnavailable", "N/A"))),
        ("Allowed Disruptions", "integer", 0, lambda o: _st(o, "disruptionsAllowed")),
        AGE,
    ],
    "Event": [
        (
            "Last Seen",
            "string",
            0,
            lambda o: meta.age({"metadata": {"creationTimestamp": o.get("lastTimestamp")}}),
        ),
        ("Type", "string", 0, lambda o: o.get("type", "")),
        ("Reason", "string", 0, lambda o: o.get("reason", "")),
        (
            "Object",
            "string",
            0,
            lambda o: (
                f"{(o.get('involvedObject') or {}).get('kind', '').lower()}/"
                f"{(o.get('involvedObject') or {}).get('name', '')}"
            ),
        ),
        ("Message", "string", 0, lambda o: o.get("message", "")),
    ],
    "CustomResourceDefinition": [
        NAME,
        ("Created At", "date", 0, lambda o: o["metadata"]["creationTimestamp"]),
    ],
}


def _crd_columns(kind: Kind) -> list[Column]:
    columns: list[Column] = [NAME]
    for col in kind.printer_columns:
        path, ctype = col.get("jsonPath", ""), col.get("type", "string")
        columns.append((col["name"], ctype, col.get("priority", 0), _jsonpath_cell(path, ctype)))
    if not kind.printer_columns:
        columns.append(AGE)
    return columns


def _jsonpath_cell(path: str, ctype: str) -> Callable[[Obj], Any]:
    return lambda obj: _cell(jsonpath(obj, path), ctype)


def columns_for(kind: Kind) -> list[Column]:
    if kind.schema is not None or kind.printer_columns:
        return _crd_columns(kind)
    return BUILTIN_COLUMNS.get(kind.kind, [NAME, AGE])


def table(kind: Kind, items: list[Obj], resource_version: str, include: str = "Metadata") -> Obj:
    columns = columns_for(kind)
    rows = []
    for obj in items:
        row: Obj = {"cells": [fn(obj) for _, _, _, fn in columns]}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            partial = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
            row["object"] = partial
        rows.append(row)
    definitions = [
        {
            "name": name,
            "type": "date" if ctype == "date" else ctype,
            "format": "name" if name == "Name" else "",
            "description": name,
            "priority": prio,
        }
        for name, ctype, prio, _ in columns
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    }
