"""`list_pods()`: the pods of one namespace that match a label selector, every page of them;
`read_pod()`: one pod by name."""

from __future__ import annotations

from leakpatrol.core import Obj
from leakpatrol.kube.client import ApiClient

# Pages keep each response (and its JSON decoding) small on namespaces with thousands of pods.
PAGE_SIZE = 500


async def list_pods(
    api: ApiClient, namespace: str, label_selector: str, *, field_selector: str | None = None
) -> list[Obj]:
    """Raw pod dicts, each with apiVersion/kind filled in (list items come without them).

    A `Gone` (410) means the continue token expired mid-listing; the caller lists again.
    """
    params = {"labelSelector": label_selector, "limit": str(PAGE_SIZE)}
    if field_selector:
        params["fieldSelector"] = field_selector
    pods: list[Obj] = []
    while True:
        page = await api.get(f"/api/v1/namespaces/{namespace}/pods", params)
        pods.extend({"apiVersion": "v1", "kind": "Pod", **item} for item in page.get("items") or [])
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return pods
        params["continue"] = token


async def read_pod(api: ApiClient, namespace: str, name: str) -> Obj:
    """The pod; `errors.NotFound` (an `ObjectNotFound`) when it is gone."""
    return await api.get(f"/api/v1/namespaces/{namespace}/pods/{name}")


def selector_string(selector: Obj) -> str:
    """A `metav1.LabelSelector` dict as the `labelSelector` query syntax (`a=b,c in (d,e),!f`)."""
    terms = [f"{key}={value}" for key, value in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], ",".join(expr.get("values") or [])
        syntax = {
            "In": f"{key} in ({values})",
            "NotIn": f"{key} notin ({values})",
            "Exists": key,
            "DoesNotExist": f"!{key}",
        }
        if op not in syntax:
            raise ValueError(f"unknown label selector operator {op!r} for key {key!r}")
        terms.append(syntax[op])
    return ",".join(terms)
