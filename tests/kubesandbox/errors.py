"""Kubernetes `Status` failures as exceptions, rendered the way a real API server words them."""

from __future__ import annotations

from typing import Any

from kmock import KubernetesError


def _status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> KubernetesError:
    return KubernetesError(status=code, reason=reason, message=message, details=details or {})


def not_found(kind_plural: str, group: str, name: str) -> KubernetesError:
    qualified = f"{kind_plural}.{group}" if group else kind_plural
    details = {"name": name, "group": group, "kind": kind_plural}
    return _status(404, "NotFound", f'{qualified} "{name}" not found', details)


def already_exists(kind_plural: str, group: str, name: str) -> KubernetesError:
    qualified = f"{kind_plural}.{group}" if group else kind_plural
    details = {"name": name, "group": group, "kind": kind_plural}
    return _status(409, "AlreadyExists", f'{qualified} "{name}" already exists', details)


def conflict(kind_plural: str, group: str, name: str) -> KubernetesError:
    qualified = f"{kind_plural}.{group}" if group else kind_plural
    message = (
        f'Operation cannot be fulfilled on {qualified} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    return _status(409, "Conflict", message, {"name": name, "group": group, "kind": kind_plural})


def uid_precondition_failed(
    kind_plural: str, group: str, name: str, namespace: str | None, *, given: str, actual: str
) -> KubernetesError:
    """An update or patch whose body names another uid: the storage layer's precondition, as real."""
    qualified = f"{kind_plural}.{group}" if group else kind_plural
    prefix = f"/{group}" if group else ""
    key = f"/registry{prefix}/{kind_plural}/{namespace + '/' if namespace else ''}{name}"
    message = (
        f'Operation cannot be fulfilled on {qualified} "{name}": StorageError: invalid object, Code: 4,'
        f" Key: {key}, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition:"
        f" {given}, UID in object meta: {actual}"
    )
    return _status(409, "Conflict", message, {"name": name, "group": group, "kind": kind_plural})


def invalid(kind: str, group: str, name: str, causes: list[tuple[str, str, str]]) -> KubernetesError:
    """causes: (reason like FieldValueInvalid, field path like spec.replicas, message)."""
    qualified = f"{kind}.{group}" if group else kind
    summary = ", ".join(f"{field}: {msg}" for _, field, msg in causes)
    message = (
        f'{qualified} "{name}" is invalid: {summary}'
        if len(causes) == 1
        else (f'{qualified} "{name}" is invalid: [{summary}]')
    )
    details = {
        "name": name,
        "group": group,
        "kind": kind,
        "causes": [{"reason": r, "message": m, "field": f} for r, f, m in causes],
    }
    return _status(422, "Invalid", message, details)


def unprocessable(message: str) -> KubernetesError:
    return _status(422, "Invalid", message)


def bad_request(message: str) -> KubernetesError:
    return _status(400, "BadRequest", message)


def method_not_allowed(
    message: str = "the server does not allow this method on the requested resource",
) -> KubernetesError:
    return _status(405, "MethodNotAllowed", message)


def unsupported_media(content_type: str) -> KubernetesError:
    return _status(
        415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {content_type}"
    )


def unauthorized() -> KubernetesError:
    return _status(401, "Unauthorized", "Unauthorized")


def forbidden(message: str, details: dict[str, Any]) -> KubernetesError:
    return _status(403, "Forbidden", message, details)


def too_many_requests(message: str, causes: list[dict[str, str]] | None = None) -> KubernetesError:
    return _status(429, "TooManyRequests", message, {"causes": causes or []})


def render(exc: KubernetesError) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": exc.message,
        "reason": exc.reason,
        "details": exc.details or {},
        "code": exc.status,
    }
