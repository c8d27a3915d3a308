"""Recording core/v1 Events the way controllers and kubelets do, so `kubectl describe` shows them."""

from __future__ import annotations

import secrets
from typing import Any

from . import meta
from .store import Store


def involved(obj: dict[str, Any]) -> dict[str, Any]:
    md = obj["metadata"]
    ref = {
        "apiVersion": obj.get("apiVersion", "v1"),
        "kind": obj.get("kind", ""),
        "name": md["name"],
        "uid": md.get("uid", ""),
        "resourceVersion": md.get("resourceVersion", ""),
    }
    if md.get("namespace"):
        ref["namespace"] = md["namespace"]
    return ref


def record(
    store: Store,
    obj: dict[str, Any],
    reason: str,
    message: str,
    *,
    component: str,
    etype: str = "Normal",
    host: str | None = None,
) -> None:
    kind = store.registry.get("", "v1", "events")
    assert kind is not None
    ref = involved(obj)
    stamp = meta.now()
    source = {"component": component, **({"host": host} if host else {})}
    namespace = ref.get("namespace", "default")
    event = {
        "metadata": {"name": f"{ref['name']}.{secrets.token_hex(8)}", "namespace": namespace},
        "involvedObject": ref,
        "reason": reason,
        "message": message,
        "type": etype,
        "source": source,
        "reportingComponent": component,
        "reportingInstance": host or "",
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
    store.create(kind, namespace, event)
