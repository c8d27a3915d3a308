"""The three PATCH flavours: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and a strategic merge.

The strategic merge is the subset kubectl and helm produce for the kinds the sandbox runs: lists of
objects merged by their merge key (containers by name, ports by containerPort, ...), `$patch`
directives, and `$setElementOrder`/`$retainKeys` hints dropped (they only affect ordering/pruning).
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import bad_request, unprocessable

# Field name -> merge key, as in the `patchMergeKey` tags of the core/apps types.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "conditions": "type",
    "imagePullSecrets": "name",
    "ownerReferences": "uid",
    "tolerations": "key",
    "hostAliases": "ip",
}


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in {"$retainKeys", "$patch"}:
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [v for v in result.get(field) or [] if v not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and key in MERGE_KEYS and isinstance(result.get(key), list):
            result[key] = _merge_list(result[key], value, MERGE_KEYS[key])
        else:
            merged = strategic_merge(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
    return result


def _merge_list(current: list[Any], patch: list[Any], merge_key: str) -> list[Any]:
    result = copy.deepcopy(current)
    for item in patch:
        if not isinstance(item, dict) or merge_key not in item:
            result.append(copy.deepcopy(item))
            continue
        index = next(
            (
                i
                for i, old in enumerate(result)
                if isinstance(old, dict) and old.get(merge_key) == item[merge_key]
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
        elif index is None:
            result.append({k: v for k, v in copy.deepcopy(item).items() if k != "$patch"})
        else:
            result[index] = strategic_merge(result[index], item)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"invalid JSON pointer: {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str], path: str) -> Any:
    node = doc
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise unprocessable(
                f"the server rejected our request due to an error in our request: path {path!r}"
            )
    return node


def _put(doc: Any, path: str, value: Any, *, insert: bool) -> None:
    parts = _pointer(path)
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if insert:
            parent.insert(index, value)
        else:
            parent[index] = value
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise unprocessable(f"cannot set {path!r}: parent is not a container")


def _remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    parent = _walk(doc, parts[:-1], path)
    _walk(parent, parts[-1:], path)  # 422 if absent
    return parent.pop(int(parts[-1]) if isinstance(parent, list) else parts[-1])


def json_patch(doc: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """A failed `test` answers 422 like the real server (kopf's finalizer patches rely on it)."""
    doc = copy.deepcopy(doc)
    for op in ops:
        kind, path = op.get("op"), op.get("path", "")
        if kind == "test":
            actual = _walk(doc, _pointer(path), path)
            if actual != op.get("value"):
                raise unprocessable(
                    f"the server rejected our request due to an error in our request: "
                    f"testing value {path} failed: test failed"
                )
        elif kind == "add":
            _put(doc, path, copy.deepcopy(op.get("value")), insert=True)
        elif kind == "replace":
            _walk(doc, _pointer(path), path)
            _put(doc, path, copy.deepcopy(op.get("value")), insert=False)
        elif kind == "remove":
            _remove(doc, path)
        elif kind in ("move", "copy"):
            source = op.get("from", "")
            value = (
                _remove(doc, source)
                if kind == "move"
                else copy.deepcopy(_walk(doc, _pointer(source), source))
            )
            _put(doc, path, value, insert=True)
        else:
            raise bad_request(f"unexpected JSON patch operation: {kind!r}")
    return doc


def apply_patch(content_type: str, target: dict[str, Any], patch: Any) -> dict[str, Any]:
    """Dispatch on the Content-Type the client sent."""
    if content_type.startswith("application/json-patch+json"):
        if not isinstance(patch, list):
            raise bad_request("json patch must be a list of operations")
        return json_patch(target, patch)
    if not isinstance(patch, dict):
        raise bad_request("patch body must be an object")
    if content_type.startswith("application/strategic-merge-patch+json"):
        merged: dict[str, Any] = strategic_merge(target, patch)
        return merged
    # merge-patch and server-side apply (a merge is the honest approximation without field managers).
    result: dict[str, Any] = merge_patch(target, patch)
    return result
