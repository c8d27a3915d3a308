"""The HTTP face of the sandbox: a kmock `KubernetesEmulator` whose Kubernetes paths we serve ourselves.

kmock stays in charge of the server lifecycle, its `objects` history (mirrored by the store) and
its DSL for anything else a test wants to fake (`sb.api["get /healthz"] << b"ok"`); the resource
paths, discovery and OpenAPI are answered here because kmock 0.8 gets them subtly wrong (see
shared/docs/sandbox.md: selectors, metadata, generateName, PUT, namespaces, watch timeouts, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp.web
import attrs
import yaml
from kmock import KubernetesEmulator, KubernetesError

from . import discovery, errors, paths, protobuf, selectors, tables
from .patches import apply_patch
from .registry import Kind, Registry
from .store import DRY_RUN, Store

Obj = dict[str, Any]
Raw = aiohttp.web.BaseRequest
SubHandler = Callable[[Raw, Kind, paths.ApiPath], Awaitable[aiohttp.web.StreamResponse]]
# Authenticates and authorises a request before anything else sees it (auth.py); raises 401/403.
Guard = Callable[[Raw], None]

# `fieldValidation=Strict` of the current request (kubectl sends it), for the schema admission.
STRICT_FIELDS: contextvars.ContextVar[bool] = contextvars.ContextVar("strict_fields", default=False)


def _json(data: Any, status: int = 200) -> aiohttp.web.Response:
    return aiohttp.web.json_response(data, status=status)


@attrs.define(kw_only=True)
class SandboxAPI(KubernetesEmulator):
    registry: Registry = attrs.field(factory=Registry)
    store: Store = attrs.field(init=False)
    # "pods/eviction" -> handler; filled by the controllers, the kubelet and port-forward.
    subresources: dict[str, SubHandler] = attrs.field(factory=dict)
    closing: asyncio.Event = attrs.field(factory=asyncio.Event)
    guard: Guard | None = None
    # "authorization.k8s.io/selfsubjectaccessreviews" -> handler: create-only kinds never stored.
    reviews: dict[str, SubHandler] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.store = Store(self.registry, self._objects)

    async def __call__(self, raw: Raw) -> aiohttp.web.StreamResponse:
        try:
            if self.guard is not None:
                self.guard(raw)
            path = paths.parse(raw.path)
            if path is not None and path.plural is not None:
                return await self._serve_resource(raw, path)
            document = self._document(raw, path)
            if document is not None:
                return _json(document)
        except KubernetesError as exc:
            return _json(errors.render(exc), exc.status)
        return await super().__call__(raw)  # kmock: user reactions, then its own 404s

    # -- discovery, version, openapi ------------------------------------------------------------------

    def _document(self, raw: Raw, path: paths.ApiPath | None) -> Obj | None:
        reg, p = self.registry, raw.path.rstrip("/")
        if path is not None:
            return discovery.api_resource_list(reg, path.group, path.version)
        simple: dict[str, Callable[[], Obj | None]] = {
            "/api": lambda: discovery.api_versions(raw.host),
            "/apis": lambda: discovery.api_group_list(reg),
            "/version": lambda: discovery.SERVER_VERSION,
            "/openapi/v3": lambda: discovery.openapi_root(reg),
        }
        if p in simple:
            return simple[p]()
        if p.startswith("/apis/") and p.count("/") == 2:
            return discovery.api_group(reg, p.split("/")[2])
        if p.startswith("/openapi/v3/"):
            return discovery.openapi_gv(reg, p.removeprefix("/openapi/v3/"))
        return None

    # -- resources ------------------------------------------------------------------------------------

    async def _serve_resource(self, raw: Raw, path: paths.ApiPath) -> aiohttp.web.StreamResponse:
        kind = self.registry.get(path.group, path.version, path.plural or "")
        if kind is None or (path.namespace and not kind.namespaced):
            raise KubernetesError(
                status=404, reason="NotFound", message="the server could not find the requested resource"
            )
        review = self.reviews.get(f"{kind.group}/{kind.plural}")
        if review is not None:
            return await review(raw, kind, path)
        if path.subresource and path.subresource != "status":
            handler = self.subresources.get(f"{kind.plural}/{path.subresource}")
            if handler is None or path.name is None:
                raise KubernetesError(
                    status=404, reason="NotFound", message="the server could not find the requested resource"
                )
            return await handler(raw, kind, path)
        STRICT_FIELDS.set(raw.query.get("fieldValidation") == "Strict")
        DRY_RUN.set(raw.query.get("dryRun") == "All")
        if raw.method == "GET" and raw.query.get("watch") in ("true", "1"):
            return await self._watch(raw, kind, path)
        if path.name is None:
            return await self._collection(raw, kind, path)
        return await self._item(raw, kind, path)

    async def _body(self, raw: Raw) -> Any:
        if "protobuf" in raw.content_type:
            return protobuf.decode(await raw.read())
        if "cbor" in raw.content_type:
            raise errors.unsupported_media(raw.content_type)  # client-go falls back to JSON on a 415
        text = await raw.text()
        if not text:
            return None
        try:
            if "yaml" in raw.content_type:
                return yaml.safe_load(text)
            return json.loads(text)
        except ValueError as exc:
            raise errors.bad_request(f"the body of the request could not be decoded: {exc}") from exc

    def _respond(
        self, raw: Raw, kind: Kind, data: Obj | list[Obj], status: int = 200
    ) -> aiohttp.web.Response:
        if "as=Table" in raw.headers.get("Accept", ""):
            items = data if isinstance(data, list) else [data]
            rv = self.store.resource_version
            return _json(tables.table(kind, items, rv, raw.query.get("includeObject", "Metadata")), status)
        if "as=PartialObjectMetadataList" in raw.headers.get("Accept", "") and isinstance(data, list):
            metadata_only = {
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": {"resourceVersion": self.store.resource_version},
                "items": [
                    {
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": o["metadata"],
                    }
                    for o in data
                ],
            }
            return _json(metadata_only, status)
        if isinstance(data, list):
            listing = {
                "kind": f"{kind.kind}List",
                "apiVersion": kind.api_version,
                "metadata": {"resourceVersion": self.store.resource_version},
                "items": data,
            }
            return _json(listing, status)
        return _json(data, status)

    def _matcher(self, raw: Raw) -> selectors.Matcher:
        by_label = selectors.label_matcher(raw.query.get("labelSelector"))
        by_field = selectors.field_matcher(raw.query.get("fieldSelector"))
        return lambda obj: by_label(obj) and by_field(obj)

    async def _collection(self, raw: Raw, kind: Kind, path: paths.ApiPath) -> aiohttp.web.StreamResponse:
        store = self.store
        if raw.method == "GET":
            return self._respond(raw, kind, store.list(kind, path.namespace, self._matcher(raw)))
        if raw.method == "POST":
            body = await self._body(raw)
            if not isinstance(body, dict):
                raise errors.bad_request("the body of the request must be an object")
            return _json(store.create(kind, path.namespace, body), 201)
        if raw.method == "DELETE":
            doomed = store.list(kind, path.namespace, self._matcher(raw))
            for obj in doomed:
                store.delete_quietly(kind, obj["metadata"].get("namespace"), obj["metadata"]["name"])
            return self._respond(raw, kind, doomed)
        raise errors.method_not_allowed()

    async def _item(self, raw: Raw, kind: Kind, path: paths.ApiPath) -> aiohttp.web.StreamResponse:
        store, ns, name = self.store, path.namespace, path.name or ""
        if raw.method == "GET":
            return self._respond(raw, kind, store.get(kind, ns, name))
        if raw.method == "DELETE":
            return _json(store.delete(kind, ns, name, await self._body(raw)))
        body = await self._body(raw)
        if raw.method == "PUT":
            if not isinstance(body, dict):
                raise errors.bad_request("the body of the request must be an object")
            return _json(store.replace(kind, ns, name, body, path.subresource))
        if raw.method == "PATCH":
            return await self._patch(raw, kind, path, body)
        raise errors.method_not_allowed()

    async def _patch(self, raw: Raw, kind: Kind, path: paths.ApiPath, body: Any) -> aiohttp.web.Response:
        store, ns, name, ctype = self.store, path.namespace, path.name or "", raw.content_type
        if ctype not in (
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
            "application/apply-patch+yaml",
            "application/apply-patch+cbor",
        ):
            raise errors.unsupported_media(ctype)
        if ctype.startswith("application/strategic") and kind.schema is not None:
            raise errors.unsupported_media(ctype)  # as real: no strategic merge for custom resources
        current = store.find(kind, ns, name)
        if current is None and ctype.startswith("application/apply-patch") and isinstance(body, dict):
            return _json(store.create(kind, ns, body), 201)  # server-side apply creates
        if current is None:
            raise errors.not_found(kind.plural, kind.group, name)
        patched = apply_patch(ctype, current, body)
        if not (isinstance(body, dict) and (body.get("metadata") or {}).get("resourceVersion")):
            patched["metadata"].pop("resourceVersion", None)  # patches are unconditional unless they ask
        return _json(store.replace(kind, ns, name, patched, path.subresource))

    # -- watch ----------------------------------------------------------------------------------------

    async def _watch(self, raw: Raw, kind: Kind, path: paths.ApiPath) -> aiohttp.web.StreamResponse:
        matcher = self._matcher(raw)
        if path.name:  # a watch on one object is a watch with a name field selector
            by_name = matcher
            matcher = lambda obj: obj["metadata"]["name"] == path.name and by_name(obj)  # noqa: E731
        # A "watch list" (sendInitialEvents, used by client-go informers) replays the current state and
        # then must mark its end with a bookmark, or the informer waits and eventually gives up.
        initial = raw.query.get("sendInitialEvents") == "true"
        since = None if initial else raw.query.get("resourceVersion")
        watcher = self.store.watch(kind, path.namespace, matcher, since)
        if initial:
            end = {
                "kind": kind.kind,
                "apiVersion": kind.api_version,
                "metadata": {
                    "resourceVersion": self.store.resource_version,
                    "annotations": {"k8s.io/initial-events-end": "true"},
                },
            }
            watcher.queue.put_nowait({"type": "BOOKMARK", "object": end})
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(raw)
        timeout = float(raw.query.get("timeoutSeconds") or 0) or None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout else None
        try:
            while not self.closing.is_set() and not (raw.transport is None or raw.transport.is_closing()):
                wait = 1.0 if deadline is None else min(1.0, deadline - loop.time())
                if wait <= 0:
                    break
                try:
                    event = await asyncio.wait_for(watcher.queue.get(), wait)
                except TimeoutError:
                    continue
                await response.write(json.dumps(event).encode() + b"\n")
        except ConnectionError:
            pass  # the client went away
        finally:
            self.store.watchers.discard(watcher)
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
        return response
