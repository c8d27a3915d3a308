"""Just enough of Kubernetes' protobuf encoding for the bodies kubectl's generator commands send.

`kubectl create namespace|configmap|secret|serviceaccount|token|role|rolebinding|...` and `kubectl
auth can-i` post `application/vnd.kubernetes.protobuf` (and helm its DeleteOptions) without any
fallback to JSON, so we decode the envelope (`k8s\\0` + runtime.Unknown) and the fields of those
kinds (field numbers from k8s.io/api's generated.proto). Anything else still answers 415.
"""

from __future__ import annotations

import base64
from typing import Any

from . import errors

_META = {1: "name", 2: "generateName", 3: "namespace"}
_META_MAPS = {11: "labels", 12: "annotations"}
# A message's fields: number -> (json name, how): "str", "strs" (repeated string), "int", "bool",
# "map" / "bytesmap" (map of strings / of bytes, base64 in JSON), or a nested message's own fields
# (a dict), repeated when wrapped in a list.
Fields = dict[int, tuple[str, Any]]
_RULE: Fields = {
    1: ("verbs", "strs"),
    2: ("apiGroups", "strs"),
    3: ("resources", "strs"),
    4: ("resourceNames", "strs"),
    5: ("nonResourceURLs", "strs"),
}
_SELECTOR: Fields = {
    1: ("matchLabels", "map"),
    2: ("matchExpressions", [{1: ("key", "str"), 2: ("operator", "str"), 3: ("values", "strs")}]),
}
_BINDING: Fields = {
    2: (
        "subjects",
        [{1: ("kind", "str"), 2: ("apiGroup", "str"), 3: ("name", "str"), 4: ("namespace", "str")}],
    ),
    3: ("roleRef", {1: ("apiGroup", "str"), 2: ("kind", "str"), 3: ("name", "str")}),
}
_RESOURCE_ATTRIBUTES: Fields = {
    1: ("namespace", "str"),
    2: ("verb", "str"),
    3: ("group", "str"),
    4: ("version", "str"),
    5: ("resource", "str"),
    6: ("subresource", "str"),
    7: ("name", "str"),
}
_KINDS: dict[str, Fields] = {
    "Namespace": {},
    "DeleteOptions": {},  # helm deletes with protobuf options; their fields do not matter here
    "ConfigMap": {2: ("data", "map"), 3: ("binaryData", "bytesmap")},
    "Secret": {2: ("data", "bytesmap"), 3: ("type", "str"), 4: ("stringData", "map")},
    # kubectl create serviceaccount|token|role|clusterrole|rolebinding|clusterrolebinding, auth can-i
    "ServiceAccount": {4: ("automountServiceAccountToken", "bool")},
    "TokenRequest": {2: ("spec", {1: ("audiences", "strs"), 4: ("expirationSeconds", "int")})},
    "Role": {2: ("rules", [_RULE])},
    "ClusterRole": {
        2: ("rules", [_RULE]),
        3: ("aggregationRule", {1: ("clusterRoleSelectors", [_SELECTOR])}),
    },
    "RoleBinding": _BINDING,
    "ClusterRoleBinding": _BINDING,
    "SelfSubjectReview": {},
    "SelfSubjectRulesReview": {2: ("spec", {1: ("namespace", "str")})},
    "SelfSubjectAccessReview": {
        2: (
            "spec",
            {
                1: ("resourceAttributes", _RESOURCE_ATTRIBUTES),
                2: ("nonResourceAttributes", {1: ("path", "str"), 2: ("verb", "str")}),
            },
        )
    },
}


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = buf[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos


def _fields(buf: bytes) -> list[tuple[int, Any]]:
    out: list[tuple[int, Any]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            value, pos = buf[pos : pos + width], pos + width
        else:
            raise errors.bad_request(f"unsupported protobuf wire type {wire}")
        out.append((number, value))
    return out


def _map(buf_entries: list[bytes], as_bytes: bool) -> dict[str, str]:
    result = {}
    for entry in buf_entries:
        kv = dict(_fields(entry))
        value = kv.get(2, b"")
        result[kv.get(1, b"").decode()] = base64.b64encode(value).decode() if as_bytes else value.decode()
    return result


def _metadata(buf: bytes) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    fields = _fields(buf)
    for number, value in fields:
        if number in _META and value:
            meta[_META[number]] = value.decode()
    for number, name in _META_MAPS.items():
        entries = [v for n, v in fields if n == number]
        if entries:
            meta[name] = _map(entries, as_bytes=False)
    return meta


def decode(body: bytes) -> dict[str, Any]:
    if not body.startswith(b"k8s\x00"):
        raise errors.unsupported_media("application/vnd.kubernetes.protobuf")
    unknown = dict(_fields(body[4:]))
    type_meta = dict(_fields(unknown.get(1, b"")))
    api_version, kind = type_meta.get(1, b"").decode(), type_meta.get(2, b"").decode()
    if kind not in _KINDS:
        raise errors.unsupported_media(f"application/vnd.kubernetes.protobuf (kind {kind})")
    raw = _fields(unknown.get(2, b""))
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": {}}
    for number, value in raw:
        if number == 1:
            obj["metadata"] = _metadata(value)
    obj.update(_message(raw, _KINDS[kind]))
    return obj


def _message(raw: list[tuple[int, Any]], fields: Fields) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, (name, how) in fields.items():
        values = [v for n, v in raw if n == number]
        if not values:
            continue
        if isinstance(how, list):
            obj[name] = [_message(_fields(v), how[0]) for v in values]
        elif isinstance(how, dict):
            obj[name] = _message(_fields(values[0]), how)
        elif how == "str":
            obj[name] = values[0].decode()
        elif how == "strs":
            obj[name] = [v.decode() for v in values]
        elif how in ("int", "bool"):
            obj[name] = values[0] if how == "int" else bool(values[0])
        else:
            obj[name] = _map(values, as_bytes=how == "bytesmap")
    return obj
