"""PodDisruptionBudget status, the `pods/eviction` subresource and the `scale` subresource."""

from __future__ import annotations

import functools
import json
from typing import Any

import aiohttp.web
from kmock import KubernetesError

from . import errors, paths
from .controllers import ControlPlane
from .patches import apply_patch
from .registry import Kind
from .selectors import dict_selector_matches
from .store import Obj
from .workloads import condition, pod_ready, set_status


class Disruptions:
    def __init__(self, cp: ControlPlane) -> None:
        self.cp, self.store = cp, cp.store
        self.pods = cp.kind("", "v1", "pods")
        self.pdbs = cp.kind("policy", "v1", "poddisruptionbudgets")
        cp.reconcilers["poddisruptionbudgets"] = self.sync_pdbs
        cp.watchers.append(self._on_change)
        cp.api.subresources["pods/eviction"] = self.evict
        for plural in ("deployments", "replicasets"):
            cp.api.subresources[f"{plural}/scale"] = functools.partial(serve_scale, self.store)

    def _on_change(self, kind: Kind, etype: str, old: Obj | None, new: Obj) -> None:
        namespace = new["metadata"].get("namespace")
        if kind.plural in ("pods", "poddisruptionbudgets") and namespace:
            self.cp.enqueue("poddisruptionbudgets", namespace, "*")

    def _pdb_status(self, pdb: Obj) -> Obj:
        ns = pdb["metadata"]["namespace"]
        selector = (pdb.get("spec") or {}).get("selector")
        pods = [
            p
            for p in self.store.list(self.pods, ns)
            if dict_selector_matches(selector, p["metadata"].get("labels") or {})
        ]
        expected, healthy = len(pods), sum(1 for p in pods if pod_ready(p))
        spec = pdb.get("spec") or {}
        if "minAvailable" in spec:
            desired = _resolve(spec["minAvailable"], expected, round_up=True)
        elif "maxUnavailable" in spec:
            desired = max(0, expected - _resolve(spec["maxUnavailable"], expected, round_up=True))
        else:
            desired = expected
        allowed = max(0, healthy - desired)
        return {
            "observedGeneration": pdb["metadata"].get("generation", 1),
            "expectedPods": expected,
            "currentHealthy": healthy,
            "desiredHealthy": desired,
            "disruptionsAllowed": allowed,
            "conditions": [
                condition(
                    "DisruptionAllowed",
                    allowed > 0,
                    "SufficientPods" if allowed > 0 else "InsufficientPods",
                    "",
                )
            ],
        }

    async def sync_pdbs(self, ns: str | None, _: str) -> None:
        for pdb in self.store.list(self.pdbs, ns):
            set_status(
                self.store,
                self.pdbs,
                pdb["metadata"]["namespace"],
                pdb["metadata"]["name"],
                self._pdb_status(pdb),
            )

    async def evict(
        self, raw: aiohttp.web.BaseRequest, kind: Kind, path: paths.ApiPath
    ) -> aiohttp.web.Response:
        if raw.method != "POST":
            raise errors.method_not_allowed()
        ns, name = path.namespace, path.name or ""
        pod = self.store.get(self.pods, ns, name)
        labels = pod["metadata"].get("labels") or {}
        pdbs = [
            p
            for p in self.store.list(self.pdbs, ns)
            if dict_selector_matches((p.get("spec") or {}).get("selector"), labels)
        ]
        if len(pdbs) > 1:
            raise KubernetesError(
                status=500,
                reason="InternalError",
                message="This pod has more than one PodDisruptionBudget, "
                "which the eviction subresource does not support.",
            )
        if pdbs and pod_ready(pod):
            status = self._pdb_status(pdbs[0])
            if status["disruptionsAllowed"] <= 0:
                cause = {
                    "reason": "DisruptionBudget",
                    "message": (
                        f"The disruption budget {pdbs[0]['metadata']['name']} needs "
                        f"{status['desiredHealthy']} healthy pods "
                        f"and has {status['currentHealthy']} currently"
                    ),
                }
                raise errors.too_many_requests(
                    "Cannot evict pod as it would violate the pod's disruption budget.", [cause]
                )
        body = await raw.text()
        _check_preconditions(pod, _delete_options(body))
        if not _dry_run(raw.query.get("dryRun"), body):
            self.store.delete(self.pods, ns, name)
        return aiohttp.web.json_response(
            {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201},
            status=201,
        )


def _delete_options(body: str) -> Obj:
    try:
        options = (json.loads(body or "{}").get("deleteOptions") or {}) if body else {}
    except ValueError:
        options = {}
    return options if isinstance(options, dict) else {}


def _dry_run(query: str | None, body: str) -> bool:
    """`?dryRun=All` or the Eviction's `deleteOptions.dryRun: [All]`: decide, delete nothing."""
    return query == "All" or "All" in (_delete_options(body).get("dryRun") or [])


def _check_preconditions(pod: Obj, options: Obj) -> None:
    """`deleteOptions.preconditions` (uid, resourceVersion) as the eviction subresource checks them
    when it deletes the pod (after the budget, as real): 409 Conflict in a real server's words."""
    pre = options.get("preconditions") or {}
    md, name = pod["metadata"], pod["metadata"]["name"]
    for field, word, what in (
        ("uid", "UID", "deleted and then recreated"),
        ("resourceVersion", "ResourceVersion", "modified"),
    ):
        want, actual = pre.get(field), md.get(field)
        if want and want != actual:
            raise KubernetesError(
                status=409,
                reason="Conflict",
                message=(
                    f'Operation cannot be fulfilled on Pod "{name}": the {word} in the precondition'
                    f" ({want}) does not match the {word} in record ({actual}). The object might have"
                    f" been {what}"
                ),
                details={"name": name, "kind": "Pod"},
            )


def _resolve(value: Any, total: int, *, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        exact = int(value[:-1]) * total / 100
        return int(-(-exact // 1)) if round_up else int(exact)
    return int(value)


def _scale_view(obj: Obj) -> Obj:
    selector = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    md = obj["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")},
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in selector.items()),
        },
    }


async def serve_scale(
    store: Any, raw: aiohttp.web.BaseRequest, kind: Kind, path: paths.ApiPath
) -> aiohttp.web.Response:
    """The `scale` subresource (kubectl scale): an autoscaling/v1 Scale view of spec.replicas."""
    obj = store.get(kind, path.namespace, path.name or "")
    if raw.method in ("PUT", "PATCH"):
        body = json.loads(await raw.text() or "{}")
        scale = body if raw.method == "PUT" else apply_patch(raw.content_type, _scale_view(obj), body)
        replicas = int((scale.get("spec") or {}).get("replicas", 0))
        obj = store.update(
            kind, path.namespace, path.name or "", lambda o: o["spec"].update(replicas=replicas)
        )
    return aiohttp.web.json_response(_scale_view(obj))
