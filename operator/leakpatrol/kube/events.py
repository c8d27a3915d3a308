"""`post_event()`: a core/v1 Event on an object, aggregated and rate-limited like client-go's recorder.

Aggregation: the Event's name is derived from (object uid, type, reason, message), so the same
news about the same object always lands on the same Event; a repeat finds it (409 on create) and
bumps `count` and `lastTimestamp`, which is what `kubectl describe` shows as "(x5 over 2h)".

Rate limit (`KeyedRateLimiter` per object uid, burst 10, then 1 per 5 minutes, client-go's spam
filter has the same shape): a policy scanning every 30 s that fails on a pod each time would
otherwise write to the API server (and etcd) 120 times an hour for that one pod. Ten is enough
for the distinct things we say about one object in a burst (suspected, detected, fix, ...).
"""

from __future__ import annotations

import datetime
import hashlib

from leakpatrol.core import MAX_EVENT_MESSAGE, Obj, ObjectRef
from leakpatrol.kube.client import ApiClient
from leakpatrol.kube.errors import ApiError, Conflict, NotFound
from leakpatrol.kube.ratelimit import KeyedRateLimiter
from leakpatrol.reasons import NORMAL, EventType

COMPONENT = "leakpatrol"
ATTEMPTS = 3


def default_limiter() -> KeyedRateLimiter:
    return KeyedRateLimiter(burst=10, refill_seconds=300.0)


async def post_event(
    api: ApiClient,
    involved: ObjectRef,
    reason: str,
    message: str,
    type_: EventType = NORMAL,
    *,
    now: datetime.datetime,
    limiter: KeyedRateLimiter | None = None,
    component: str = COMPONENT,
    instance: str = "",
) -> Obj | None:
    """The created or bumped Event, or None when the object's rate limit dropped it."""
    if limiter is not None and not limiter.allow(involved.uid or involved.name, now.timestamp()):
        return None
    message = message[:MAX_EVENT_MESSAGE]
    name = event_name(involved, type_, reason, message)
    collection = f"/api/v1/namespaces/{involved.namespace or 'default'}/events"
    stamp = now.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {
        "metadata": {"name": name, "namespace": involved.namespace or "default"},
        "involvedObject": involved.involved_object(),
        "reason": reason,
        "message": message,
        "type": type_,
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": instance,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
    last: ApiError | None = None
    for _ in range(ATTEMPTS):
        try:
            return await api.post(collection, body)
        except Conflict:
            pass  # it exists: this is a repeat
        try:
            return await _bump(api, f"{collection}/{name}", stamp)
        except (NotFound, Conflict) as exc:  # expired just now (Events have a TTL), or bumped concurrently
            last = exc
    assert last is not None
    raise last


async def _bump(api: ApiClient, path: str, stamp: str) -> Obj:
    current = await api.get(path)
    # The resourceVersion makes the patch conditional, so two bumps never both write count+1.
    patch = {
        "metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
        "count": int(current.get("count") or 1) + 1,
        "lastTimestamp": stamp,
    }
    return await api.patch(path, patch)


def event_name(involved: ObjectRef, type_: str, reason: str, message: str) -> str:
    key = "\0".join((involved.uid, involved.kind, involved.name, type_, reason, message))
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{involved.name[:236]}.{digest}"  # a name is at most 253 characters
