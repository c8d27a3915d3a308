"""Admission (namespaces, CRDs, custom-resource schemas) and the background work a control plane does.

Store hooks run inside a write, so they never write themselves: they enqueue keys that a single
worker task reconciles afterwards (like a controller's work queue, deduplicated).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from kmock import KubernetesError

from . import cel, celcrd, defaults, errors, meta, schema
from .api import STRICT_FIELDS, SandboxAPI
from .registry import Kind
from .store import Obj

log = logging.getLogger(__name__)
Reconcile = Callable[[str | None, str], Awaitable[None]]


class ControlPlane:
    def __init__(self, api: SandboxAPI) -> None:
        self.api, self.store = api, api.store
        self.queue: asyncio.Queue[tuple[str, str | None, str]] = asyncio.Queue()
        self.pending: set[tuple[str, str | None, str]] = set()
        self.reconcilers: dict[str, Reconcile] = {}  # plural -> reconcile(namespace, name)
        self.watchers: list[Callable[[Kind, str, Obj | None, Obj], None]] = []
        self.task: asyncio.Task[None] | None = None
        self.store.admissions.append(self._admit)
        self.store.hooks.append(self._hook)
        self.watchers.append(self._collect_garbage)

    def kind(self, group: str, version: str, plural: str) -> Kind:
        kind = self.store.registry.get(group, version, plural)
        assert kind is not None, plural
        return kind

    # -- admission ----------------------------------------------------------------------------------

    def _admit(self, kind: Kind, old: Obj | None, new: Obj) -> None:
        if kind.group == "" and kind.plural == "namespaces":
            new.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            new["status"] = {"phase": "Active"}
        elif kind.plural == "customresourcedefinitions":
            self._admit_crd(new)
        elif kind.group in ("", "apps"):
            defaults.apply(kind.kind, kind.group, new)
        elif kind.schema is not None:
            rules = (
                functools.partial(cel.evaluate_object, kind.schema, old=old)
                if cel.has_rules(kind.schema)
                else None
            )
            schema.admit(new, kind.schema, kind.kind, kind.group, STRICT_FIELDS.get(), rules=rules)

    def _admit_crd(self, crd: Obj) -> None:
        causes = celcrd.check_crd(crd)  # a rule that does not compile (or costs too much) refuses the CRD
        if causes:
            name = crd["metadata"].get("name", "")
            raise errors.invalid("CustomResourceDefinition", "apiextensions.k8s.io", name, causes)
        spec = crd.get("spec") or {}
        names = dict(spec.get("names") or {})
        names.setdefault("singular", names.get("kind", "").lower())
        names.setdefault("listKind", f"{names.get('kind', '')}List")
        stamp = meta.now()
        conditions = [
            {"type": t, "status": "True", "reason": r, "message": m, "lastTransitionTime": stamp}
            for t, r, m in (
                ("NamesAccepted", "NoConflicts", "no conflicts found"),
                ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
            )
        ]
        stored = [v["name"] for v in spec.get("versions") or [] if v.get("storage")]
        crd["status"] = {"acceptedNames": names, "conditions": conditions, "storedVersions": stored}
        self.store.registry.add_crd(crd)

    # -- hooks and the work queue -------------------------------------------------------------------

    def _hook(self, kind: Kind, etype: str, old: Obj | None, new: Obj) -> None:
        for watcher in self.watchers:
            watcher(kind, etype, old, new)
        if kind.plural == "customresourcedefinitions" and etype == "DELETED":
            self.store.registry.remove_crd(new)
        if kind.plural == "namespaces" and etype == "DELETED":
            self.enqueue("-namespace-cleanup", None, new["metadata"]["name"])

    def enqueue(self, what: str, namespace: str | None, name: str) -> None:
        key = (what, namespace, name)
        if key not in self.pending:
            self.pending.add(key)
            self.queue.put_nowait(key)

    def _collect_garbage(self, kind: Kind, etype: str, old: Obj | None, new: Obj) -> None:
        if etype == "DELETED":
            self.enqueue("-gc", new["metadata"].get("namespace"), new["metadata"]["uid"])

    async def run(self) -> None:
        self.reconcilers["-gc"] = self._gc
        self.reconcilers["-namespace-cleanup"] = self._cleanup_namespace
        while True:
            key = await self.queue.get()
            self.pending.discard(key)
            what, namespace, name = key
            try:
                await self.reconcilers[what](namespace, name)
            except KubernetesError as exc:
                log.debug("reconcile %s %s/%s: %s", what, namespace, name, exc.message)
            except Exception:
                log.exception("reconcile %s %s/%s failed", what, namespace, name)

    def start(self) -> None:
        self.task = asyncio.create_task(self.run(), name="kubesandbox-control-plane")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def _gc(self, namespace: str | None, uid: str) -> None:
        """Background cascading deletion: dependents whose ownerReferences name a deleted owner."""
        for kind in self.store.registry.all():
            if not kind.namespaced and namespace is not None:
                continue
            for obj in self.store.list(kind, namespace):
                refs = obj["metadata"].get("ownerReferences") or []
                if any(ref.get("uid") == uid for ref in refs):
                    self.store.delete_quietly(kind, obj["metadata"].get("namespace"), obj["metadata"]["name"])

    async def _cleanup_namespace(self, _: str | None, namespace: str) -> None:
        for kind in self.store.registry.all():
            if kind.namespaced:
                for obj in self.store.list(kind, namespace):
                    self.store.delete_quietly(kind, namespace, obj["metadata"]["name"])


def owner_ref(owner: Obj) -> dict[str, Any]:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned_by(obj: Obj, owner_uid: str) -> bool:
    return any(ref.get("uid") == owner_uid for ref in obj["metadata"].get("ownerReferences") or [])
