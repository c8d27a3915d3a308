"""Just enough of Kubernetes' protobuf encoding for the bodies kubectl's generator commands send.

`kubectl create namespace|configmap|secret` post `application/vnd.kubernetes.protobuf` (and helm
its DeleteOptions) without any fallback to JSON, so we decode the envelope (`k8s\\0` +
runtime.Unknown) and the metadata-and-maps shape of those kinds. Anything else still answers 415.
"""

from __future__ import annotations

import base64
from typing import Any

from . import errors

_META = {1: "name", 2: "generateName", 3: "namespace"}
_META_MAPS = {11: "labels", 12: "annotations"}
# kind -> field number -> (json name, how to decode): map of strings / map of bytes / string
_KINDS: dict[str, dict[int, tuple[str, str]]] = {
    "Namespace": {},
    "DeleteOptions": {},  # helm deletes with protobuf options; their fields do not matter here
    "ConfigMap": {2: ("data", "map"), 3: ("binaryData", "bytesmap")},
    "Secret": {2: ("data", "bytesmap"), 3: ("type", "str"), 4: ("stringData", "map")},
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
    for number, (name, how) in _KINDS[kind].items():
        values = [v for n, v in raw if n == number]
        if values and how == "str":
            obj[name] = values[0].decode()
        elif values:
            obj[name] = _map(values, as_bytes=how == "bytesmap")
    return obj
