"""The bottom of leakpatrol: the words every layer shares, the caps, and the root of every error.

It imports nothing of ours but `leakpatrol.reasons` (the reason words, below it), so any module may
import it (import-linter holds that in `make lint`). Each name here has exactly one definition;
other modules re-use it, never re-declare it.

The error tree: every error class of the package, each drawn under its parent (a test in
test_vocabulary.py holds that, both ways). Every error leakpatrol raises on purpose is a
`Temporary` or a `Permanent`; the grouping bases of the Kubernetes layer (KubeError, ApiError,
FetchError) are neither, their leaves are (T or P, drawn under the grouping base). `.reason` is
always our word, a `leakpatrol.reasons.Reason`, shown in conditions and Events::

    LeakpatrolError                 .reason: our word for conditions and Events
    ├── Temporary                   the same call, later, will likely succeed: back off, then retry;
    │   │                           .retry_after (seconds) when the other side said how long
    │   ├── EvictionBlocked         controller.ports: a PodDisruptionBudget refuses an eviction now
    │   ├── LedgerConflict          controller.ports: the action ledger changed since it was read
    │   └── ProfileBufferFull       inflight: the operator holds its budget of profile bytes
    ├── Permanent                   retrying changes nothing until a person changes something:
    │   │                           report it (Ready=False with .reason) and do not retry hot
    │   ├── TargetNotExposed        a pod without that pprof endpoint (404)
    │   ├── TargetGone              a pod deleted while it was being scanned
    │   ├── ObjectNotFound          an object the port was asked for does not exist (any more)
    │   ├── CheckpointCorrupt       a stored checkpoint that does not decode: start the series afresh
    │   ├── InvalidSpecError        api.validation: the LeakPolicy spec fails validation
    │   ├── SeriesError             seriesdir: a recorded series directory does not read
    │   ├── RuleError               diagnose.rules: a rule file or a user rule is invalid
    │   ├── PatternError            diagnose.patterns: a rule's pattern does not compile in RE2
    │   ├── EvidenceNotSaved        controller.remediation.evidence: profiles not saved before acting
    │   ├── CliError                cli.exits: an expected failure of the CLI, one line and its exit code
    │   └── ProfileError            profiles.errors: load() refused these bytes
    │       ├── NotAProfileError        no pprof format we know
    │       ├── DecompressionError      a corrupt gzip stream
    │       ├── ProfileTooLargeError    over a size, sample or stack cap
    │       ├── TruncatedProfileError   the data stops before the format says it ends
    │       └── MalformedProfileError   a known format with invalid content (.stage, .field)
    │           └── ProfileMemoryError  the parser ran out of memory (a MemoryError)
    └── KubeError                   kube.errors: the Kubernetes layer; T/P per leaf
        ├── ApiError                a failure Status; .status (HTTP) and .status_reason (the server's)
        │   ├── NotFound        P   404, also an ObjectNotFound
        │   ├── Conflict        T   409: stale resourceVersion / AlreadyExists
        │   ├── Gone            T   410: an expired continue token
        │   ├── Forbidden       P   401/403
        │   ├── TooManyRequests T   429, .retry_after
        │   ├── ServerError     T   5xx, or an answer that is not JSON
        │   ├── ApiUnavailable  T   no answer at all
        │   └── Rejected        P   other 4xx: the request itself is wrong
        ├── PortForwardError    T   the kubelet could not reach the pod's port
        ├── CheckpointTooLarge  P   a compressed checkpoint over its cap
        ├── LedgerCorrupt       P   kube.ledger: the cluster's action ledger does not decode
        ├── EvidenceStoreFull   T   evidence ConfigMaps at the namespace's or the operator's cap
        └── FetchError              a pprof fetch from a pod failed
            ├── PprofNotExposed P   404, also a TargetNotExposed
            ├── Unauthorized    P   401/403
            ├── UpstreamError   T   5xx / 429
            ├── UpstreamRejected P  other 4xx
            ├── TooLarge        P   the body is over the size cap
            ├── FetchTimeout    T   connect, read or total deadline passed
            ├── Unreachable     T   no HTTP answer
            └── Refused         P   the API server refused the port-forward for good
                └── PodGone     P   the pod was deleted meanwhile, also a TargetGone

Foreign errors enter the tree in one place each, and callers decide by type, never by text:
the API server's answers and aiohttp's failures in `kube.errors.api_error` and `kube.client`
(`ApiClient.request`, `.websocket`); httpx's in `kube.fetch.fetch_profile`; anything a parser
raises (a MemoryError in a capped worker included) in `profiles.loader.load`; re2's in
`diagnose.patterns.compile_pattern`; pydantic's in `api.validation`.

Anything else that escapes a scan pass is a bug: the kopf layer logs it with its traceback, counts
it in `leakpatrol_internal_errors_total` and tells users only "InternalError, see the operator log".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from leakpatrol.reasons import Reason

Obj = dict[str, Any]
"""A Kubernetes object or any JSON body, as the API returns it."""


class SignalKind(StrEnum):
    """What a series measures; also the `signal` of a finding in the LeakPolicy status."""

    GOROUTINES = "goroutines"
    HEAP = "heap"
    GOROUTINELEAK = "goroutineleak"


class LeakState(StrEnum):
    """How sure a signal (and the finding made of it) is: flagged once, or confirmed."""

    SUSPECTED = "Suspected"  # flagged, not yet confirmed by `detection.confirmations` evaluations
    CONFIRMED = "Confirmed"


class FindingBasis(StrEnum):
    """What raised a signal (and the finding made of it). Only `Trend` may be acted on: the others
    say something is wrong, but none is a measured rise a restart is the answer to."""

    TREND = "Trend"  # a significant rise over at least detection.minSamples samples
    EARLY = "Early"  # a quiet target's plain goroutine rise, before minSamples
    CEILING = "Ceiling"  # goroutines over detection.goroutineCeiling, with no trend
    RUNTIME = "Runtime"  # the goroutineleak profile: the runtime proved them blocked forever


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
PER_NAMESPACE_FETCHES = 16
"""Profile fetches in flight for one namespace (every policy there together): whatever its pods do,
a tenant leaves the others at least half of the global slots."""
MAX_TARGET_TIMEOUT = 60.0
"""The longest `spec.target.timeouts` an operator accepts (seconds): the time one fetch may hold a
slot. A policy asking more is refused (InvalidSpec, naming the field)."""
MAX_EVENT_MESSAGE = 1024
"""Event messages are cut here: events.k8s.io/v1 caps `note` at 1 KiB, core/v1 does not, but a
longer message is never read in `kubectl describe`."""
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
"""The pod-template annotation a rollout restart sets to its time (RFC 3339, whole seconds), as
`kubectl rollout restart` does: the kube layer writes it, remediation reads it back to see whether
a restart it wrote ahead happened."""


# --- the error root ---------------------------------------------------------------------------
class LeakpatrolError(Exception):
    """Base of every error leakpatrol raises on purpose. `reason` is what conditions and Events say."""

    reason: Reason = Reason.ERROR


class Temporary(LeakpatrolError):  # noqa: N818 - the words kopf uses too
    """Worth retrying later; `retry_after` is the wait the other side asked for, if it said."""

    retry_after: float | None = None


class Permanent(LeakpatrolError):  # noqa: N818
    """Not worth retrying until something changes: report it, wait long, never retry hot."""


class TargetNotExposed(Permanent):
    """The target answers, but not at this pprof path (a 404): an `Auto` profile skips it quietly."""

    reason = Reason.PPROF_NOT_EXPOSED


class TargetGone(Permanent):
    """The pod went away between the list and the fetch: not a failing target, just a gone one."""

    reason = Reason.POD_GONE


class CheckpointCorrupt(Permanent):
    """A stored checkpoint that cannot be restored (bad encoding, other format): start afresh."""

    reason = Reason.CHECKPOINT_CORRUPT


class ObjectNotFound(Permanent):
    """The object asked of the port does not exist (any more): the port's "404", which a caller
    may take as an answer (a workload deleted meanwhile is settled), not only as a failure."""

    reason = Reason.NOT_FOUND


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
