"""`list_policies()` / `drop_finalizer()`: LeakPolicies as raw objects, and the uninstall's one write.

kopf puts a finalizer on every LeakPolicy (its daemons need one). Once the operator is gone nobody
removes it, so deleting a policy, or its namespace, would hang: the pre-delete hook of the chart
drops it, with a resourceVersion precondition so a concurrent edit is never overwritten.
"""

from __future__ import annotations

from leakpatrol.api import GROUP, PLURAL, VERSION
from leakpatrol.core import Obj
from leakpatrol.kube.client import ApiClient, PatchType
from leakpatrol.kube.errors import NotFound

PAGE_SIZE = 500


async def list_policies(api: ApiClient, namespace: str | None) -> list[Obj]:
    """Every LeakPolicy in `namespace` (None: in every namespace), every page."""
    where = f"namespaces/{namespace}/" if namespace else ""
    path = f"/apis/{GROUP}/{VERSION}/{where}{PLURAL}"
    params = {"limit": str(PAGE_SIZE)}
    items: list[Obj] = []
    while True:
        page = await api.get(path, params)
        items.extend(page.get("items") or [])
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return items
        params["continue"] = token


async def drop_finalizer(api: ApiClient, policy: Obj, finalizer: str) -> bool:
    """Remove `finalizer` from `policy` as read; False when it had none or is gone. `Conflict` when
    the policy changed since it was read: read it again and retry."""
    md = policy["metadata"]
    finalizers = md.get("finalizers") or []
    if finalizer not in finalizers:
        return False
    body = {
        "metadata": {
            "resourceVersion": md["resourceVersion"],  # the precondition
            "finalizers": [f for f in finalizers if f != finalizer],  # a merge patch replaces lists
        }
    }
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{md['namespace']}/{PLURAL}/{md['name']}"
    try:
        await api.patch(path, body, content_type=PatchType.MERGE)
    except NotFound:
        return False
    return True
