"""The bottom of leakpatrol: the words every layer shares, the caps, and the root of every error.

It imports nothing of ours, so any module may import it (import-linter holds that in `make lint`).
Each name here has exactly one definition; other modules re-use it, never re-declare it.

The error tree (every error leakpatrol raises on purpose derives from one of the two leaves)::

    LeakpatrolError             .reason: a CamelCase word for conditions and Events
    ├── Temporary               the same call, later, will likely succeed: back off, then retry;
    │   │                       .retry_after (seconds) when the other side said how long
    │   └── (kube: Conflict, Gone, TooManyRequests, ServerError, ApiUnavailable, FetchTimeout,
    │        Unreachable, UpstreamError, PortForwardError)
    └── Permanent               retrying changes nothing until a person changes something:
        │                       report it (Ready=False with .reason) and do not retry hot
        ├── TargetNotExposed    a pod without that pprof endpoint (404)
        ├── TargetGone          a pod deleted while it was being scanned
        ├── CheckpointCorrupt   a stored checkpoint that does not decode: start the series afresh
        └── (kube: NotFound, Forbidden, Invalid, CheckpointTooLarge, PprofNotExposed, Unauthorized,
             UpstreamRejected, TooLarge, Refused; profiles: ProfileError and its subclasses;
             diagnose: RuleError; api: InvalidSpecError; seriesdir: SeriesError)

Anything else that escapes a scan pass is a bug: the kopf layer logs it with its traceback, counts
it in `leakpatrol_internal_errors_total` and tells users only "InternalError, see the operator log".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

Obj = dict[str, Any]
"""A Kubernetes object or any JSON body, as the API returns it."""

EventType = Literal["Normal", "Warning"]


class SignalKind(StrEnum):
    """What a series measures; also the `signal` of a finding in the LeakPolicy status."""

    GOROUTINES = "goroutines"
    HEAP = "heap"
    GOROUTINELEAK = "goroutineleak"


class LeakState(StrEnum):
    """How sure a signal (and the finding made of it) is: flagged once, or confirmed."""

    SUSPECTED = "Suspected"  # flagged, not yet confirmed by `detection.confirmations` evaluations
    CONFIRMED = "Confirmed"


class Transport(StrEnum):
    """How the operator reaches a pod's pprof port."""

    PORT_FORWARD = "PortForward"  # through the API server's pods/portforward: works for localhost-only
    DIRECT = "Direct"  # dial the pod IP: needs network reach from the operator to the pod


# --- caps, shared by every tenant of one operator -------------------------------------------------
MAX_PROFILE_BYTES = 32 << 20
"""One fetched profile body, compressed or not (a 4k-stack debug=1 text is ~4.5 MB)."""
MAX_DECOMPRESSED_BYTES = 64 << 20
"""What a gzip profile or a zlib checkpoint may expand to: a bomb stops here."""
MAX_CHECKPOINT_BYTES = 512 << 10
"""A compressed checkpoint; base64 adds a third, which stays under the 1 MiB ConfigMap limit."""
GLOBAL_FETCHES = 32
"""Profile fetches in flight across all policies of one operator."""
PER_POLICY_FETCHES = 8
"""Profile fetches in flight for one policy, so one policy cannot take every global slot."""
MAX_EVENT_MESSAGE = 1024
"""Event messages are cut here: events.k8s.io/v1 caps `note` at 1 KiB, core/v1 does not, but a
longer message is never read in `kubectl describe`."""


# --- the error root ---------------------------------------------------------------------------
class LeakpatrolError(Exception):
    """Base of every error leakpatrol raises on purpose. `reason` is what conditions and Events say."""

    reason: str = "Error"


class Temporary(LeakpatrolError):  # noqa: N818 - the words kopf uses too
    """Worth retrying later; `retry_after` is the wait the other side asked for, if it said."""

    retry_after: float | None = None


class Permanent(LeakpatrolError):  # noqa: N818
    """Not worth retrying until something changes: report it, wait long, never retry hot."""


class TargetNotExposed(Permanent):
    """The target answers, but not at this pprof path (a 404): an `Auto` profile skips it quietly."""

    reason = "PprofNotExposed"


class TargetGone(Permanent):
    """The pod went away between the list and the fetch: not a failing target, just a gone one."""

    reason = "PodGone"


class CheckpointCorrupt(Permanent):
    """A stored checkpoint that cannot be restored (bad encoding, other format): start afresh."""

    reason = "CheckpointCorrupt"


# --- object references ------------------------------------------------------------------------
@dataclass(frozen=True)
class ObjectRef:
    """The few fields that name one Kubernetes object, for Events and ownerReferences."""

    api_version: str
    kind: str
    name: str
    uid: str
    namespace: str | None = None

    @classmethod
    def of(cls, obj: Obj, *, api_version: str | None = None, kind: str | None = None) -> ObjectRef:
        """From a full object. List items come without apiVersion/kind: pass them then."""
        md = obj["metadata"]
        return cls(
            api_version=api_version or obj["apiVersion"],
            kind=kind or obj["kind"],
            name=md["name"],
            uid=md["uid"],
            namespace=md.get("namespace"),
        )

    def involved_object(self) -> Obj:
        ref = {"apiVersion": self.api_version, "kind": self.kind, "name": self.name, "uid": self.uid}
        return ref | ({"namespace": self.namespace} if self.namespace else {})

    def owner_reference(self) -> Obj:
        # No blockOwnerDeletion: setting it needs `update` on the owner's finalizers subresource
        # (OwnerReferencesPermissionEnforcement), and background GC deletes dependents anyway.
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
        }
