"""Errors of the Kubernetes layer: the API server's answers, port-forwards, and fetches from pods.

KubeError                          .retryable: would the same call, later, likely succeed?
├── ApiError(status, reason, message)      a failure Status from the API server
│   ├── NotFound              404   no    the object (or the pod to forward to) is gone
│   ├── Conflict              409   yes   stale resourceVersion / AlreadyExists: re-read, re-apply
│   ├── Gone                  410   yes   a watch or list continue token expired: re-list
│   ├── Forbidden         401/403   no    RBAC or credentials: retrying changes nothing
│   ├── TooManyRequests       429   yes   API priority & fairness: wait `.retry_after` seconds
│   ├── ServerError           5xx   yes   etcd or the server is having a moment
│   └── ApiUnavailable        -     yes   no answer at all: refused, reset, timed out
├── PortForwardError               yes   the API server said yes, but the kubelet could not
│                                        reach the pod's port; names pod, port and the reason
├── CheckpointTooLarge             no    the compressed checkpoint is over its cap
├── CheckpointCorrupt              no    the stored checkpoint does not decode: start afresh
└── FetchError                             a pprof fetch from a pod failed
    ├── PprofNotExposed       404   no    the pod serves HTTP but not /debug/pprof
    ├── Unauthorized      401/403   no    the endpoint wants credentials
    ├── UpstreamError    5xx/else   yes   the pod answered with an error
    ├── TooLarge                    no    the body is over the size cap
    ├── FetchTimeout                yes   connect, read or total deadline passed
    └── Unreachable                 yes*  no HTTP answer: refused, reset, port-forward failed
                                          (*unless the cause, e.g. a 403 on pods/portforward, says no)

Names follow the Kubernetes reasons (`NotFound`, `Conflict`, ...), hence no `Error` suffix.
Any other 4xx from the API server is a plain `ApiError` (e.g. 422 Invalid), not retryable: the
request itself is wrong.
"""

from __future__ import annotations


class KubeError(Exception):
    retryable: bool = False


class ApiError(KubeError):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}" if status else f"{reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class NotFound(ApiError):  # noqa: N818
    pass


class Conflict(ApiError):  # noqa: N818
    retryable = True


class Gone(ApiError):  # noqa: N818
    retryable = True


class Forbidden(ApiError):  # noqa: N818
    pass


class TooManyRequests(ApiError):  # noqa: N818
    retryable = True

    def __init__(self, status: int, reason: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(status, reason, message)
        self.retry_after = retry_after


class ServerError(ApiError):
    retryable = True


class ApiUnavailable(ApiError):  # noqa: N818
    retryable = True

    def __init__(self, message: str) -> None:
        super().__init__(0, "Unavailable", message)


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
    cls = by_status.get(status, ServerError if status >= 500 else ApiError)
    return cls(status, reason, message)


class PortForwardError(KubeError):
    # Usually a container that is (re)starting or does not listen on that port yet: worth a retry.
    retryable = True

    def __init__(self, namespace: str, pod: str, port: int, reason: str) -> None:
        super().__init__(f"port-forward to pod {namespace}/{pod} port {port} failed: {reason}")
        self.namespace, self.pod, self.port, self.reason = namespace, pod, port, reason


class CheckpointTooLarge(KubeError):  # noqa: N818
    def __init__(self, name: str, size: int, limit: int) -> None:
        super().__init__(f"checkpoint {name} is {size} bytes compressed, over the {limit}-byte cap")
        self.size, self.limit = size, limit


class CheckpointCorrupt(KubeError):  # noqa: N818
    def __init__(self, name: str, detail: str) -> None:
        super().__init__(f"checkpoint {name} does not decode: {detail}")


class FetchError(KubeError):
    def __init__(self, url: str, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url
        if retryable is not None:
            self.retryable = retryable


class PprofNotExposed(FetchError):  # noqa: N818
    pass


class Unauthorized(FetchError):  # noqa: N818
    pass


class UpstreamError(FetchError):
    retryable = True


class TooLarge(FetchError):  # noqa: N818
    pass


class FetchTimeout(FetchError):  # noqa: N818
    retryable = True


class Unreachable(FetchError):  # noqa: N818
    retryable = True
