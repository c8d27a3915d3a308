"""The object store: API-server semantics on top of kmock's object history.

Every write goes through here, whether it came over HTTP or from an in-process controller, so
resourceVersions, watch events and admission (defaults, validation) are the same for all. The live
state is kept in plain dicts for speed; each version is mirrored into kmock's `objects` array so
tests can assert on histories the kmock way (`sb.objects["v1/pods", "default", "p1"]`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kmock import KubernetesError, ObjectsArray, resource

from . import errors, meta
from .registry import Kind, Registry
from .selectors import Matcher

Obj = dict[str, Any]
# (kind, old or None, new being written) -> may mutate `new` or raise a KubernetesError.
Admission = Callable[[Kind, Obj | None, Obj], None]
# (kind, event type, old, new) after a committed change; must not block (schedule work instead).
Hook = Callable[[Kind, str, Obj | None, Obj], None]

LOG_SIZE = 20000
# `?dryRun=All` of the current request: everything runs (admission included) but nothing is stored.
DRY_RUN: contextvars.ContextVar[bool] = contextvars.ContextVar("dry_run", default=False)


@dataclass(eq=False)  # identity-hashed: watchers live in a set
class Watcher:
    kind: Kind
    namespace: str | None
    matches: Matcher
    queue: asyncio.Queue[Obj] = field(default_factory=asyncio.Queue)

    def offer(self, kind: Kind, etype: str, old: Obj | None, new: Obj) -> None:
        if kind.key() != self.kind.key():
            return
        if self.namespace and new.get("metadata", {}).get("namespace") != self.namespace:
            return
        # As the real server: an object leaving the selector is DELETED, entering it is ADDED.
        was = old is not None and self.matches(old)
        now = self.matches(new)
        if etype == "MODIFIED" and was != now:
            etype = "ADDED" if now else "DELETED"
        elif not now and not (etype == "DELETED" and was):
            return
        self.queue.put_nowait({"type": etype, "object": copy.deepcopy(new)})


class Store:
    def __init__(self, registry: Registry, objects: ObjectsArray) -> None:
        self.registry = registry
        self.objects = objects
        self._live: dict[tuple[str, str, str], dict[tuple[str | None, str], Obj]] = collections.defaultdict(
            dict
        )
        self._rv = 0
        self.log: collections.deque[tuple[int, Kind, str, Obj | None, Obj]] = collections.deque(
            maxlen=LOG_SIZE
        )
        self.watchers: set[Watcher] = set()
        self.admissions: list[Admission] = []
        self.hooks: list[Hook] = []
        # Graceful deletion (the kubelet's, for pods): given the object, the grace period in seconds
        # when it must first terminate (deletionTimestamp set, the object stays), or None.
        self.graceful: Callable[[Kind, Obj], int | None] | None = None

    # -- reading --------------------------------------------------------------------------------------

    @property
    def resource_version(self) -> str:
        return str(self._rv)

    def _bucket(self, kind: Kind) -> dict[tuple[str | None, str], Obj]:
        return self._live[kind.key()]

    def _ns(self, kind: Kind, namespace: str | None) -> str | None:
        return namespace if kind.namespaced else None

    def find(self, kind: Kind, namespace: str | None, name: str) -> Obj | None:
        """The live object (not a copy) or None; for in-process readers that do not mutate."""
        return self._bucket(kind).get((self._ns(kind, namespace), name))

    def get(self, kind: Kind, namespace: str | None, name: str) -> Obj:
        obj = self.find(kind, namespace, name)
        if obj is None:
            raise errors.not_found(kind.plural, kind.group, name)
        return copy.deepcopy(obj)

    def list(self, kind: Kind, namespace: str | None = None, matches: Matcher | None = None) -> list[Obj]:
        items = [
            obj
            for (ns, _), obj in sorted(self._bucket(kind).items(), key=lambda kv: (kv[0][0] or "", kv[0][1]))
            if not namespace or ns == namespace
            if matches is None or matches(obj)
        ]
        return copy.deepcopy(items)

    # -- writing --------------------------------------------------------------------------------------

    def _commit(self, kind: Kind, etype: str, old: Obj | None, new: Obj, *, deleted: bool = False) -> Obj:
        if DRY_RUN.get():
            return copy.deepcopy(new)
        self._rv += 1
        new["metadata"]["resourceVersion"] = str(self._rv)
        md = new["metadata"]
        key = (self._ns(kind, md.get("namespace")), md["name"])
        mirror_key = (resource(kind.group, kind.version, kind.plural), key[0], key[1])
        if deleted:
            self._bucket(kind).pop(key, None)
            self.objects[mirror_key].delete()
        else:
            self._bucket(kind)[key] = new
            if mirror_key in self.objects:
                self.objects[mirror_key].create(copy.deepcopy(new))
            else:
                self.objects[mirror_key] = copy.deepcopy(new)
        self.log.append((self._rv, kind, etype, copy.deepcopy(old), copy.deepcopy(new)))
        for watcher in list(self.watchers):
            watcher.offer(kind, etype, old, new)
        for hook in self.hooks:
            hook(kind, etype, old, new)
        return copy.deepcopy(new)

    def _admit(self, kind: Kind, old: Obj | None, new: Obj) -> None:
        for admission in self.admissions:
            admission(kind, old, new)

    def create(self, kind: Kind, namespace: str | None, body: Obj) -> Obj:
        obj = copy.deepcopy(body)
        md = obj.setdefault("metadata", {})
        if kind.namespaced:
            md["namespace"] = namespace or md.get("namespace") or "default"
            if self.find(self.registry.get("", "v1", "namespaces"), None, md["namespace"]) is None:  # type: ignore[arg-type]
                raise errors.not_found("namespaces", "", md["namespace"])
        else:
            md.pop("namespace", None)
        if not md.get("name") and md.get("generateName"):
            md["name"] = md["generateName"] + meta.random_suffix()
        if not md.get("name"):
            raise errors.invalid(
                kind.kind,
                kind.group,
                "",
                [("FieldValueRequired", "metadata.name", "Required value: name or generateName is required")],
            )
        if self.find(kind, md.get("namespace"), md["name"]) is not None:
            raise errors.already_exists(kind.plural, kind.group, md["name"])
        obj["apiVersion"], obj["kind"] = kind.api_version, kind.kind
        md.update(uid=meta.new_uid(), creationTimestamp=meta.now(), generation=1)
        for transient in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            md.pop(transient, None)
        if kind.has_status:
            obj.pop("status", None)  # with a status subresource, status is only ever set via /status
        self._admit(kind, None, obj)
        return self._commit(kind, "ADDED", None, obj)

    def replace(
        self, kind: Kind, namespace: str | None, name: str, body: Obj, subresource: str | None = None
    ) -> Obj:
        """PUT semantics (PATCH ends here too): preconditions, status split, generation."""
        current = self.find(kind, namespace, name)
        if current is None:
            raise errors.not_found(kind.plural, kind.group, name)
        wanted_rv = (body.get("metadata") or {}).get("resourceVersion")
        if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
            raise errors.conflict(kind.plural, kind.group, name)
        new = copy.deepcopy(body)
        if subresource == "status":
            # Only status changes through /status; everything else stays as it was.
            new = {**copy.deepcopy(current), "status": new.get("status")}
            if new["status"] is None:
                new.pop("status")
        elif kind.has_status:
            new.pop("status", None)
            if "status" in current:
                new["status"] = copy.deepcopy(current["status"])
        return self._write(kind, current, new)

    def _write(self, kind: Kind, current: Obj, new: Obj) -> Obj:
        old_md, md = current["metadata"], new.setdefault("metadata", {})
        if md.get("uid") and md["uid"] != old_md.get("uid"):  # a uid in the body is a precondition
            name, namespace = old_md["name"], old_md.get("namespace")
            raise errors.uid_precondition_failed(
                kind.plural, kind.group, name, namespace, given=md["uid"], actual=old_md.get("uid", "")
            )
        for fixed in ("uid", "creationTimestamp", "deletionTimestamp", "namespace", "name", "generation"):
            if fixed in old_md:
                md[fixed] = old_md[fixed]
            else:
                md.pop(fixed, None)
        new["apiVersion"], new["kind"] = kind.api_version, kind.kind
        if meta.spec_part(new) != meta.spec_part(current):
            md["generation"] = old_md.get("generation", 1) + 1
        self._admit(kind, current, new)
        if _without_rv(new) == _without_rv(current):
            return copy.deepcopy(current)  # a no-op write keeps its resourceVersion, as on a real server
        if md.get("deletionTimestamp") and not md.get("finalizers"):
            return self._commit(kind, "DELETED", current, new, deleted=True)
        return self._commit(kind, "MODIFIED", current, new)

    def update(self, kind: Kind, namespace: str | None, name: str, mutate: Callable[[Obj], None]) -> Obj:
        """In-process read-modify-write for controllers (never conflicts: the loop is single-threaded)."""
        current = self.find(kind, namespace, name)
        if current is None:
            raise errors.not_found(kind.plural, kind.group, name)
        new = copy.deepcopy(current)
        mutate(new)
        return self._write(kind, current, new)

    def delete(self, kind: Kind, namespace: str | None, name: str, options: Obj | None = None) -> Obj:
        current = self.find(kind, namespace, name)
        if current is None:
            raise errors.not_found(kind.plural, kind.group, name)
        preconditions = (options or {}).get("preconditions") or {}
        precondition = preconditions.get("resourceVersion")
        if precondition and precondition != current["metadata"]["resourceVersion"]:
            raise errors.conflict(kind.plural, kind.group, name)
        uid = preconditions.get("uid")
        if uid and uid != current["metadata"].get("uid"):
            raise errors.uid_precondition_failed(
                kind.plural, kind.group, name, namespace, given=uid, actual=current["metadata"].get("uid", "")
            )
        new = copy.deepcopy(current)
        grace = (options or {}).get("gracePeriodSeconds")
        if grace != 0 and self.graceful is not None:
            # As the real API server does for a pod a kubelet runs: it stays, Terminating, until its
            # containers have stopped and the kubelet deletes it with a grace period of 0.
            if new["metadata"].get("deletionTimestamp"):
                return copy.deepcopy(current)
            period = self.graceful(kind, current)
            if period is not None:
                period = period if grace is None else int(grace)
                new["metadata"].update(deletionTimestamp=meta.now(), deletionGracePeriodSeconds=period)
                return self._commit(kind, "MODIFIED", current, new)
        if new["metadata"].get("finalizers"):
            if not new["metadata"].get("deletionTimestamp"):
                new["metadata"].update(deletionTimestamp=meta.now(), deletionGracePeriodSeconds=0)
                return self._commit(kind, "MODIFIED", current, new)
            return copy.deepcopy(current)
        return self._commit(kind, "DELETED", current, new, deleted=True)

    def delete_quietly(self, kind: Kind, namespace: str | None, name: str) -> None:
        with contextlib.suppress(KubernetesError):
            self.delete(kind, namespace, name)

    # -- watching -------------------------------------------------------------------------------------

    def watch(self, kind: Kind, namespace: str | None, matches: Matcher, since: str | None) -> Watcher:
        """Subscribe; with `since` (a resourceVersion) replay the logged changes after it, else ADDED all."""
        watcher = Watcher(kind, namespace if kind.namespaced else None, matches)
        if since and since != "0":
            oldest = self.log[0][0] if self.log else self._rv + 1
            if int(since) < oldest - 1 and int(since) < self._rv:
                watcher.queue.put_nowait(_gone(since))
            for rv, k, etype, old, new in self.log:
                if rv > int(since):
                    watcher.offer(k, etype, old, new)
        else:
            for obj in self.list(kind, watcher.namespace, matches):
                watcher.queue.put_nowait({"type": "ADDED", "object": obj})
        self.watchers.add(watcher)
        return watcher


def _gone(since: str) -> Obj:
    status = errors.render(
        KubernetesError(status=410, reason="Expired", message=f"too old resource version: {since}")
    )
    return {"type": "ERROR", "object": status}


def _without_rv(obj: Obj) -> Obj:
    return {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}}
