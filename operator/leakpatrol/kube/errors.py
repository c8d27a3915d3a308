"""Errors of the Kubernetes layer: the API server's answers, port-forwards, and fetches from pods.

Each class is a `leakpatrol.core.Temporary` (T: the same call, later, likely succeeds) or a
`leakpatrol.core.Permanent` (P: retrying changes nothing), so the layers above decide on that,
never on these names; they sit in the one error tree drawn in `leakpatrol.core`. `.reason` is our
word (a `leakpatrol.reasons.Reason`) that a condition or Event shows; an `ApiError` also keeps the
API server's own word as `.status_reason`. `api_error` maps an answer into this tree: the class by
HTTP status, the reason by the server's word when it is one of the vocabulary's (any other, say a
proxy's "Bad Gateway", gives the class's own word).

KubeError
├── ApiError(status, status_reason, message)   a failure Status from the API server
│   ├── NotFound              404   P   the object (or the pod to forward to) is gone; a core ObjectNotFound
│   ├── Conflict              409   T   stale resourceVersion / AlreadyExists: re-read, re-apply
│   ├── Gone                  410   T   a watch or list continue token expired: re-list
│   ├── Forbidden         401/403   P   RBAC or credentials: retrying changes nothing
│   ├── TooManyRequests       429   T   API priority & fairness: wait `.retry_after` seconds
│   ├── ServerError    5xx, junk    T   etcd or the server is having a moment
│   ├── ApiUnavailable        -     T   no answer at all: refused, reset, timed out
│   └── Rejected      other 4xx     P   the request itself is wrong (422 Invalid, 400, a huge answer)
├── PortForwardError                T   the API server said yes, but the kubelet could not
│                                       reach the pod's port; names pod, port and the detail
├── CheckpointTooLarge              P   the compressed checkpoint is over its cap
├── EvidenceStoreFull               T   evidence ConfigMaps at the namespace's or the operator's cap
└── FetchError                          a pprof fetch from a pod failed; .reason for the Event
    ├── PprofNotExposed       404   P   the pod serves HTTP but not /debug/pprof
    ├── Unauthorized      401/403   P   the endpoint wants credentials
    ├── UpstreamError   5xx / 429   T   the pod answered with an error
    ├── UpstreamRejected other 4xx  P   the pod refused the request (a redirect, a 400)
    ├── TooLarge                    P   the body is over the size cap
    ├── FetchTimeout                T   connect, read or total deadline passed
    ├── Unreachable                 T   no HTTP answer: refused, reset, port-forward failed
    └── Refused                     P   the API server refused the port-forward for good (RBAC)
        └── PodGone                 P   the pod was deleted while we fetched

A corrupt checkpoint is `leakpatrol.core.CheckpointCorrupt`: the domain raises it too.
Names follow the Kubernetes reasons (`NotFound`, `Conflict`, ...), hence no `Error` suffix.
"""

from __future__ import annotations

from leakpatrol.core import (
    LeakpatrolError,
    ObjectNotFound,
    Permanent,
    TargetGone,
    TargetNotExposed,
    Temporary,
)
from leakpatrol.reasons import Reason

# The words an ApiError passes on as its reason: the API server's (metav1.StatusReason) and the
# ones our client says where the server said none. Any other word gives way to the class's own.
_WORDS: dict[str, Reason] = {
    r.value: r
    for r in (
        Reason.UNAUTHORIZED,
        Reason.FORBIDDEN,
        Reason.NOT_FOUND,
        Reason.ALREADY_EXISTS,
        Reason.CONFLICT,
        Reason.GONE,
        Reason.EXPIRED,
        Reason.INVALID,
        Reason.BAD_REQUEST,
        Reason.METHOD_NOT_ALLOWED,
        Reason.NOT_ACCEPTABLE,
        Reason.REQUEST_ENTITY_TOO_LARGE,
        Reason.UNSUPPORTED_MEDIA_TYPE,
        Reason.TOO_MANY_REQUESTS,
        Reason.INTERNAL_ERROR,
        Reason.SERVICE_UNAVAILABLE,
        Reason.SERVER_TIMEOUT,
        Reason.TIMEOUT,
        Reason.UNAVAILABLE,
        Reason.INVALID_RESPONSE,
        Reason.RESPONSE_TOO_LARGE,
        Reason.UPGRADE_FAILED,
        Reason.UNSUPPORTED_WORKLOAD,
        Reason.OWNER_MISMATCH,
    )
}


class KubeError(LeakpatrolError):
    @property
    def retryable(self) -> bool:
        """Would the same call, later, likely succeed?"""
        return isinstance(self, Temporary)


class ApiError(KubeError):
    """`status_reason` is the API server's word (or our client's, where it said none); `.reason`
    is ours: the same word when the vocabulary has it, else the class's."""

    def __init__(self, status: int, status_reason: str, message: str) -> None:
        super().__init__(f"{status} {status_reason}: {message}" if status else f"{status_reason}: {message}")
        self.status = status
        self.status_reason = status_reason
        self.reason = _WORDS.get(status_reason, type(self).reason)
        self.message = message


class NotFound(ApiError, ObjectNotFound):  # noqa: N818
    pass


class Conflict(ApiError, Temporary):  # noqa: N818
    reason = Reason.CONFLICT


class Gone(ApiError, Temporary):  # noqa: N818
    reason = Reason.GONE


class Forbidden(ApiError, Permanent):  # noqa: N818
    reason = Reason.FORBIDDEN


class TooManyRequests(ApiError, Temporary):  # noqa: N818
    reason = Reason.TOO_MANY_REQUESTS

    def __init__(
        self, status: int, status_reason: str, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(status, status_reason, message)
        self.retry_after = retry_after


class ServerError(ApiError, Temporary):
    reason = Reason.INTERNAL_ERROR


class ApiUnavailable(ApiError, Temporary):  # noqa: N818
    reason = Reason.UNAVAILABLE

    def __init__(self, message: str) -> None:
        super().__init__(0, Reason.UNAVAILABLE, message)


class Rejected(ApiError, Permanent):  # noqa: N818
    reason = Reason.BAD_REQUEST


def api_error(status: int, status_reason: str, message: str, retry_after: float | None = None) -> ApiError:
    """The most specific class for an HTTP status the API server answered with, and its word."""
    if status == 429:
        return TooManyRequests(status, status_reason, message, retry_after)
    by_status: dict[int, type[ApiError]] = {
        401: Forbidden,
        403: Forbidden,
        404: NotFound,
        409: Conflict,
        410: Gone,
    }
    error = by_status.get(status, ServerError if status >= 500 else Rejected)(status, status_reason, message)
    if isinstance(error, Temporary):  # a 503 may say Retry-After too, not only a 429
        error.retry_after = retry_after
    return error


class PortForwardError(KubeError, Temporary):
    # Usually a container that is (re)starting or does not listen on that port yet: worth a retry.
    reason = Reason.PORT_FORWARD_FAILED

    def __init__(self, namespace: str, pod: str, port: int, detail: str) -> None:
        super().__init__(f"port-forward to pod {namespace}/{pod} port {port} failed: {detail}")
        self.namespace, self.pod, self.port, self.detail = namespace, pod, port, detail


class CheckpointTooLarge(KubeError, Permanent):  # noqa: N818
    reason = Reason.CHECKPOINT_TOO_LARGE

    def __init__(self, name: str, size: int, limit: int) -> None:
        super().__init__(f"checkpoint {name} is {size} bytes compressed, over the {limit}-byte cap")
        self.size, self.limit = size, limit


class EvidenceStoreFull(KubeError, Temporary):  # noqa: N818
    """The evidence ConfigMaps are at a cap (the namespace's budget or the operator's): nothing
    saved, nothing deleted to make room in another namespace. Frees as evidence is rotated out or
    its policy deleted."""

    reason = Reason.EVIDENCE_STORE_FULL


class FetchError(KubeError):
    reason = Reason.SCRAPE_FAILED

    def __init__(self, url: str, message: str) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url


class PprofNotExposed(FetchError, TargetNotExposed):  # noqa: N818
    reason = Reason.PPROF_NOT_EXPOSED


class Unauthorized(FetchError, Permanent):  # noqa: N818
    reason = Reason.PPROF_UNAUTHORIZED


class UpstreamError(FetchError, Temporary):
    pass


class UpstreamRejected(FetchError, Permanent):  # noqa: N818
    pass


class TooLarge(FetchError, Permanent):  # noqa: N818
    reason = Reason.PROFILE_TOO_LARGE


class FetchTimeout(FetchError, Temporary):  # noqa: N818
    reason = Reason.SCRAPE_TIMEOUT


class Unreachable(FetchError, Temporary):  # noqa: N818
    pass


class Refused(FetchError, Permanent):  # noqa: N818
    pass


class PodGone(Refused, TargetGone):
    """Not a failing target: the pod went away between the list and the fetch."""

    reason = Reason.POD_GONE
