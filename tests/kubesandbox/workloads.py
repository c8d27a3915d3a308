"""Deployment -> ReplicaSet -> Pod controllers.

Minimal but honest: a changed pod template gets a new ReplicaSet (named by `pod-template-hash`),
which is scaled up first; old ReplicaSets are scaled to zero once the new pods are ready, so a
rollout really replaces processes and never leaves the Deployment without ready pods.
"""

from __future__ import annotations

import copy
import hashlib
import json

from . import events, meta
from .controllers import ControlPlane, owned_by, owner_ref
from .registry import Kind
from .store import Obj, Store

_HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def template_hash(template: Obj) -> str:
    digest = int(hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest(), 16)
    chars = []
    for _ in range(10):
        digest, rem = divmod(digest, len(_HASH_ALPHABET))
        chars.append(_HASH_ALPHABET[rem])
    return "".join(chars)


def pod_ready(pod: Obj) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


class Workloads:
    def __init__(self, cp: ControlPlane) -> None:
        self.cp, self.store = cp, cp.store
        self.deployments = cp.kind("apps", "v1", "deployments")
        self.replicasets = cp.kind("apps", "v1", "replicasets")
        self.pods = cp.kind("", "v1", "pods")
        cp.reconcilers.update(deployments=self.sync_deployment, replicasets=self.sync_replicaset)
        cp.watchers.append(self._on_change)

    def _on_change(self, kind: Kind, etype: str, old: Obj | None, new: Obj) -> None:
        ns, name = new["metadata"].get("namespace"), new["metadata"]["name"]
        if kind is self.deployments or kind.key() == self.deployments.key():
            self.cp.enqueue("deployments", ns, name)
        for ref in new["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == "ReplicaSet" and kind.plural == "pods":
                self.cp.enqueue("replicasets", ns, ref["name"])
            if ref.get("kind") == "Deployment" and kind.plural == "replicasets":
                self.cp.enqueue("deployments", ns, ref["name"])
        if kind.plural == "replicasets" and kind.group == "apps" and etype != "DELETED":
            self.cp.enqueue("replicasets", ns, name)

    # -- Deployment ---------------------------------------------------------------------------------

    async def sync_deployment(self, ns: str | None, name: str) -> None:
        deploy = self.store.find(self.deployments, ns, name)
        if deploy is None or deploy["metadata"].get("deletionTimestamp"):
            return
        spec = deploy.get("spec") or {}
        desired = spec.get("replicas", 1)
        template = spec.get("template") or {}
        pth = template_hash(template)
        owned = [
            rs for rs in self.store.list(self.replicasets, ns) if owned_by(rs, deploy["metadata"]["uid"])
        ]
        current = next((rs for rs in owned if rs["metadata"]["labels"].get("pod-template-hash") == pth), None)
        if current is None:
            current = self._new_replicaset(deploy, template, pth, desired, owned)
        elif (current.get("spec") or {}).get("replicas") != desired:
            self._scale(deploy, current, desired)
        old = [rs for rs in owned if rs["metadata"]["uid"] != current["metadata"]["uid"]]
        new_ready = (current.get("status") or {}).get("readyReplicas", 0)
        recreate = (spec.get("strategy") or {}).get("type") == "Recreate"
        if recreate or new_ready >= desired:
            for rs in old:
                if (rs.get("spec") or {}).get("replicas", 0) != 0:
                    self._scale(deploy, rs, 0)
        self._deployment_status(deploy, current, owned)

    def _new_replicaset(self, deploy: Obj, template: Obj, pth: str, replicas: int, owned: list[Obj]) -> Obj:
        revision = 1 + max(
            (
                int(rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", 0))
                for rs in owned
            ),
            default=0,
        )
        template = copy.deepcopy(template)
        labels = {**(template.get("metadata") or {}).get("labels", {}), "pod-template-hash": pth}
        template.setdefault("metadata", {})["labels"] = labels
        selector = copy.deepcopy((deploy.get("spec") or {}).get("selector") or {})
        selector.setdefault("matchLabels", {})["pod-template-hash"] = pth
        name = f"{deploy['metadata']['name']}-{pth}"
        rs = {
            "metadata": {
                "name": name,
                "labels": labels,
                "ownerReferences": [owner_ref(deploy)],
                "annotations": {
                    "deployment.kubernetes.io/revision": str(revision),
                    "deployment.kubernetes.io/desired-replicas": str(replicas),
                },
            },
            "spec": {"replicas": replicas, "selector": selector, "template": template},
        }
        created = self.store.create(self.replicasets, deploy["metadata"]["namespace"], rs)
        self._event_scaled(deploy, name, 0, replicas)
        self.store.update(
            self.deployments,
            deploy["metadata"]["namespace"],
            deploy["metadata"]["name"],
            lambda d: (
                d["metadata"]
                .setdefault("annotations", {})
                .update({"deployment.kubernetes.io/revision": str(revision)})
            ),
        )
        return created

    def _scale(self, deploy: Obj, rs: Obj, replicas: int) -> None:
        before = (rs.get("spec") or {}).get("replicas", 0)
        self.store.update(
            self.replicasets,
            rs["metadata"]["namespace"],
            rs["metadata"]["name"],
            lambda r: r["spec"].update(replicas=replicas),
        )
        self._event_scaled(deploy, rs["metadata"]["name"], before, replicas)

    def _event_scaled(self, deploy: Obj, rs_name: str, before: int, after: int) -> None:
        verb = "up" if after > before else "down"
        message = f"Scaled {verb} replica set {rs_name} from {before} to {after}"
        events.record(self.store, deploy, "ScalingReplicaSet", message, component="deployment-controller")

    def _deployment_status(self, deploy: Obj, current: Obj, owned: list[Obj]) -> None:
        ns, name = deploy["metadata"]["namespace"], deploy["metadata"]["name"]
        fresh = [self.store.find(self.replicasets, ns, rs["metadata"]["name"]) for rs in owned]
        all_rs = [rs for rs in fresh if rs is not None] + ([] if current in owned else [current])
        st = [rs.get("status") or {} for rs in all_rs]
        cur = (self.store.find(self.replicasets, ns, current["metadata"]["name"]) or current).get(
            "status"
        ) or {}
        desired = (deploy.get("spec") or {}).get("replicas", 1)
        ready = sum(s.get("readyReplicas", 0) for s in st)
        complete = cur.get("readyReplicas", 0) >= desired and sum(s.get("replicas", 0) for s in st) == desired
        status = {
            "observedGeneration": deploy["metadata"].get("generation", 1),
            "replicas": sum(s.get("replicas", 0) for s in st),
            "updatedReplicas": cur.get("replicas", 0),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [
                condition(
                    "Available",
                    ready >= desired,
                    "MinimumReplicasAvailable" if ready >= desired else "MinimumReplicasUnavailable",
                    "Deployment has minimum availability.",
                ),
                condition(
                    "Progressing",
                    True,
                    "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
                    f'ReplicaSet "{current["metadata"]["name"]}" '
                    + ("has successfully progressed." if complete else "is progressing."),
                ),
            ],
        }
        if desired - ready > 0:
            status["unavailableReplicas"] = desired - ready
        set_status(self.store, self.deployments, ns, name, status)

    # -- ReplicaSet ---------------------------------------------------------------------------------

    async def sync_replicaset(self, ns: str | None, name: str) -> None:
        rs = self.store.find(self.replicasets, ns, name)
        if rs is None:
            return
        uid, desired = rs["metadata"]["uid"], (rs.get("spec") or {}).get("replicas", 1)
        pods = [p for p in self.store.list(self.pods, ns) if owned_by(p, uid)]
        alive = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        for _ in range(desired - len(alive)):
            self._create_pod(rs)
        if len(alive) > desired:
            doomed = sorted(alive, key=lambda p: (pod_ready(p), p["metadata"]["creationTimestamp"]))
            for pod in doomed[: len(alive) - desired]:
                self.store.delete_quietly(self.pods, ns, pod["metadata"]["name"])
                events.record(
                    self.store,
                    rs,
                    "SuccessfulDelete",
                    f"Deleted pod: {pod['metadata']['name']}",
                    component="replicaset-controller",
                )
        pods = [p for p in self.store.list(self.pods, ns) if owned_by(p, uid)]
        ready = sum(1 for p in pods if pod_ready(p))
        status = {
            "replicas": len(pods),
            "fullyLabeledReplicas": len(pods),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        if (rs.get("status") or {}) != status:
            self.store.update(self.replicasets, ns, name, lambda r: r.update(status=status))

    def _create_pod(self, rs: Obj) -> None:
        template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
        md = template.get("metadata") or {}
        pod = {
            "metadata": {
                **md,
                "generateName": f"{rs['metadata']['name']}-",
                "ownerReferences": [owner_ref(rs)],
            },
            "spec": template.get("spec") or {},
        }
        pod["metadata"].pop("name", None)
        created = self.store.create(self.pods, rs["metadata"]["namespace"], pod)
        events.record(
            self.store,
            rs,
            "SuccessfulCreate",
            f"Created pod: {created['metadata']['name']}",
            component="replicaset-controller",
        )


def condition(ctype: str, ok: bool, reason: str, message: str) -> Obj:
    return {
        "type": ctype,
        "status": "True" if ok else "False",
        "reason": reason,
        "message": message,
        "lastUpdateTime": meta.now(),
        "lastTransitionTime": meta.now(),
    }


def set_status(store: Store, kind: Kind, ns: str, name: str, status: Obj) -> None:
    def mutate(obj: Obj) -> None:
        old_conditions = {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}
        for cond in status.get("conditions") or []:
            # Keep the timestamps of unchanged conditions, so that a resync is a no-op write.
            prev = old_conditions.get(cond["type"])
            if prev and prev.get("status") == cond["status"]:
                cond["lastTransitionTime"] = prev.get("lastTransitionTime", cond["lastTransitionTime"])
                if (prev.get("reason"), prev.get("message")) == (cond["reason"], cond["message"]):
                    cond["lastUpdateTime"] = prev.get("lastUpdateTime", cond["lastUpdateTime"])
        obj["status"] = status

    store.update(kind, ns, name, mutate)
