"""Errors of the Kubernetes layer: the API server's answers, port-forwards, and fetches from pods.

Each class is a `leakpatrol.core.Temporary` (T: the same call, later, likely succeeds) or a
`leakpatrol.core.Permanent` (P: retrying changes nothing), so the layers above decide on that,
never on these names. `.reason` is the word a condition or Event shows.

KubeError
├── ApiError(status, reason, message)      a failure Status from the API server; .reason is its own
│   ├── NotFound              404   P   the object (or the pod to forward to) is gone
│   ├── Conflict              409   T   stale resourceVersion / AlreadyExists: re-read, re-apply
│   ├── Gone                  410   T   a watch or list continue token expired: re-list
│   ├── Forbidden         401/403   P   RBAC or credentials: retrying changes nothing
│   ├── TooManyRequests       429   T   API priority & fairness: wait `.retry_after` seconds
│   ├── ServerError    5xx, junk    T   etcd or the server is having a moment
│   ├── ApiUnavailable        -     T   no answer at all: refused, reset, timed out
│   └── Rejected      other 4xx     P   the request itself is wrong (422 Invalid, 400, a huge answer)
├── PortForwardError                T   the API server said yes, but the kubelet could not
│                                       reach the pod's port; names pod, port and the reason
├── CheckpointTooLarge              P   the compressed checkpoint is over its cap
└── FetchError                          a pprof fetch from a pod failed; .reason for the Event
    ├── PprofNotExposed       404   P   the pod serves HTTP but not /debug/pprof
    ├── Unauthorized      401/403   P   the endpoint wants credentials
    ├── UpstreamError   5xx / 429   T   the pod answered with an error
    ├── UpstreamRejected other 4xx  P   the pod refused the request (a redirect, a 400)
    ├── TooLarge                    P   the body is over the size cap
    ├── FetchTimeout                T   connect, read or total deadline passed
    ├── Unreachable                 T   no HTTP answer: refused, reset, port-forward failed
    └── Refused                     P   the API server refused the port-forward for good (RBAC)
    PodGone                         P   (a Refused) the pod was deleted while we fetched

A corrupt checkpoint is `leakpatrol.core.CheckpointCorrupt`: the domain raises it too.
Names follow the Kubernetes reasons (`NotFound`, `Conflict`, ...), hence no `Error` suffix.
"""

from __future__ import annotations

from leakpatrol.core import LeakpatrolError, Permanent, TargetGone, TargetNotExposed, Temporary


class KubeError(LeakpatrolError):
    @property
    def retryable(self) -> bool:
        """Would the same call, later, likely succeed?"""
        return isinstance(self, Temporary)


class ApiError(KubeError):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}" if status else f"{reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class NotFound(ApiError, Permanent):  # noqa: N818
    pass


class Conflict(ApiError, Temporary):  # noqa: N818
    pass


class Gone(ApiError, Temporary):  # noqa: N818
    pass


class Forbidden(ApiError, Permanent):  # noqa: N818
    pass


class TooManyRequests(ApiError, Temporary):  # noqa: N818
    def __init__(self, status: int, reason: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(status, reason, message)
        self.retry_after = retry_after


class ServerError(ApiError, Temporary):
    pass


class ApiUnavailable(ApiError, Temporary):  # noqa: N818
    def __init__(self, message: str) -> None:
        super().__init__(0, "Unavailable", message)


class Rejected(ApiError, Permanent):  # noqa: N818
    pass


def api_error(status: int, reason: str, message: str, retry_after: float | None = None) -> ApiError:
    """The most specific class for an HTTP status the API server answered with."""
    if status == 429:
        return TooManyRequests(status, reason, message, retry_after)
    by_status: dict[int, type[ApiError]] = {
        401: Forbidden,
        403: Forbidden,
        404: NotFound,
        409: Conflict,
        410: Gone,
    }
    error = by_status.get(status, ServerError if status >= 500 else Rejected)(status, reason, message)
    if isinstance(error, Temporary):  # a 503 may say Retry-After too, not only a 429
        error.retry_after = retry_after
    return error


class PortForwardError(KubeError, Temporary):
    # Usually a container that is (re)starting or does not listen on that port yet: worth a retry.
    reason = "PortForwardFailed"

    def __init__(self, namespace: str, pod: str, port: int, reason: str) -> None:
        super().__init__(f"port-forward to pod {namespace}/{pod} port {port} failed: {reason}")
        self.namespace, self.pod, self.port, self.detail = namespace, pod, port, reason


class CheckpointTooLarge(KubeError, Permanent):  # noqa: N818
    reason = "CheckpointTooLarge"

    def __init__(self, name: str, size: int, limit: int) -> None:
        super().__init__(f"checkpoint {name} is {size} bytes compressed, over the {limit}-byte cap")
        self.size, self.limit = size, limit


class FetchError(KubeError):
    reason = "ScrapeFailed"

    def __init__(self, url: str, message: str) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url


class PprofNotExposed(FetchError, TargetNotExposed):  # noqa: N818
    reason = "PprofNotExposed"


class Unauthorized(FetchError, Permanent):  # noqa: N818
    reason = "PprofUnauthorized"


class UpstreamError(FetchError, Temporary):
    pass


class UpstreamRejected(FetchError, Permanent):  # noqa: N818
    pass


class TooLarge(FetchError, Permanent):  # noqa: N818
    reason = "ProfileTooLarge"


class FetchTimeout(FetchError, Temporary):  # noqa: N818
    reason = "ScrapeTimeout"


class Unreachable(FetchError, Temporary):  # noqa: N818
    pass


class Refused(FetchError, Permanent):  # noqa: N818
    pass


class PodGone(Refused, TargetGone):
    """Not a failing target: the pod went away between the list and the fetch."""

    reason = "PodGone"
