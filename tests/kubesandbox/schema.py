"""openAPIV3Schema structural checks for custom resources: defaults, pruning, validation.

Covered: type (incl. x-kubernetes-int-or-string, nullable), properties/additionalProperties,
required, enum, minimum/maximum (+exclusive), minLength/maxLength, pattern, minItems/maxItems,
items, default, x-kubernetes-preserve-unknown-fields. CEL `x-kubernetes-validations` are cel.py's, run
after this. Not covered: `format`, oneOf/anyOf/allOf/not, list-type/map-type uniqueness. Messages
follow the apiserver's.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

from . import errors

Cause = tuple[str, str, str]
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def _show(value: Any) -> str:
    return (
        json.dumps(value)
        if isinstance(value, str)
        else repr(value)
        if not isinstance(value, dict | list)
        else "object"
    )


def _type_ok(value: Any, schema: dict[str, Any]) -> bool:
    if value is None:
        return bool(schema.get("nullable"))
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, int | str) and not isinstance(value, bool)
    expected = schema.get("type")
    if expected is None:
        return True
    if isinstance(value, bool) and expected != "boolean":
        return False
    return isinstance(value, _TYPES.get(expected, (object,)))


def apply_defaults(value: Any, schema: dict[str, Any]) -> Any:
    """Fill `default`s of absent properties, recursively, inside objects that exist (as the server does)."""
    if isinstance(value, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                value[key] = apply_defaults(value[key], sub)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in set(value) - set(schema.get("properties") or {}):
                value[key] = apply_defaults(value[key], extra)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(item, schema["items"]) for item in value]
    return value


def _check_scalar(value: Any, schema: dict[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    invalid = f"Invalid value: {_show(value)}: {path} in body"
    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(_show(v) for v in schema["enum"])
        causes.append(
            (
                "FieldValueNotSupported",
                path,
                f"Unsupported value: {_show(value)}: supported values: {supported}",
            )
        )
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema:
            low, excl = schema["minimum"], schema.get("exclusiveMinimum") is True
            if value < low or (excl and value == low):
                word = "greater than" if excl else "greater than or equal to"
                causes.append(("FieldValueInvalid", path, f"{invalid} should be {word} {low}"))
        if "maximum" in schema:
            high, excl = schema["maximum"], schema.get("exclusiveMaximum") is True
            if value > high or (excl and value == high):
                word = "less than" if excl else "less than or equal to"
                causes.append(("FieldValueInvalid", path, f"{invalid} should be {word} {high}"))
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            causes.append(("FieldValueInvalid", path, f"{invalid} should match '{schema['pattern']}'"))
        if "minLength" in schema and len(value) < schema["minLength"]:
            causes.append(
                ("FieldValueInvalid", path, f"{invalid} should be at least {schema['minLength']} chars long")
            )
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            causes.append(
                ("FieldValueTooLong", path, f"Too long: may not be more than {schema['maxLength']} bytes")
            )
    return causes


def validate(value: Any, schema: dict[str, Any], path: str, unknown: list[str]) -> list[Cause]:
    """Validate and prune in place; unknown (pruned) field paths are collected for strict mode."""
    if not _type_ok(value, schema):
        return [
            (
                "FieldValueTypeInvalid",
                path,
                f"Invalid value: {_show(value)}: {path} in body must be of type {schema.get('type')}: "
                f"{_show(value)}",
            )
        ]
    causes = _check_scalar(value, schema, path)
    if isinstance(value, dict):
        causes += _check_object(value, schema, path, unknown)
    elif isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            causes.append(
                (
                    "FieldValueInvalid",
                    path,
                    f"Invalid value: {len(value)}: {path} in body should have at least "
                    f"{schema['minItems']} items",
                )
            )
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            causes.append(
                (
                    "FieldValueTooMany",
                    path,
                    f"Too many: {len(value)}: must have at most {schema['maxItems']} items",
                )
            )
        for index, item in enumerate(value):
            causes += validate(item, schema.get("items") or {}, f"{path}[{index}]", unknown)
    return causes


def _check_object(
    value: dict[str, Any], schema: dict[str, Any], path: str, unknown: list[str]
) -> list[Cause]:
    causes: list[Cause] = []
    props = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    for key in schema.get("required") or []:
        if key not in value:
            causes.append(("FieldValueRequired", f"{path}.{key}" if path else key, "Required value"))
    for key in list(value):
        sub_path = f"{path}.{key}" if path else key
        if key in props:
            causes += validate(value[key], props[key], sub_path, unknown)
        elif isinstance(extra, dict):
            causes += validate(value[key], extra, sub_path, unknown)
        elif not (
            schema.get("x-kubernetes-preserve-unknown-fields")
            or extra is True
            or (not props and extra is None and schema.get("type") != "object")
        ):
            unknown.append(sub_path)
            del value[key]
    return causes


Rules = Callable[[dict[str, Any]], list[Cause]]
# Schema errors after which the server does not run the CEL rules (strategy.go's hasBlockingErr).
_BLOCKING = {"FieldValueNotSupported", "FieldValueRequired", "FieldValueTooLong", "FieldValueTooMany"}
_BLOCKING |= {"FieldValueTypeInvalid"}
_NOT_CHECKED = (
    'Invalid value: "null": some validation rules were not checked because the object was invalid; '
    "correct the existing errors to complete validation"
)


def admit(
    obj: dict[str, Any],
    schema: dict[str, Any],
    kind: str,
    group: str,
    strict: bool,
    *,
    rules: Rules | None = None,
) -> None:
    """Default, prune and validate a custom resource in place; 422 (400 if strict) like the server.
    `rules` (the CRD's CEL rules, if it has any) run on the defaulted, pruned object, their causes
    joining the schema's, unless a schema error means the object lacks the shape they expect."""
    root = {
        k: v
        for k, v in (schema.get("properties") or {}).items()
        if k not in ("metadata", "apiVersion", "kind")
    }
    body = {k: v for k, v in obj.items() if k not in ("metadata", "apiVersion", "kind")}
    body = apply_defaults(body, {**schema, "properties": root})
    unknown: list[str] = []
    causes = validate(body, {**schema, "properties": root}, "", unknown)
    name = (obj.get("metadata") or {}).get("name", "")
    if strict and unknown:
        fields = ", ".join(f'unknown field "{u}"' for u in unknown)
        raise errors.bad_request(
            f'{kind} in version "v1" cannot be handled as a {kind}: strict decoding error: {fields}'
        )
    if rules is not None and any(cause[0] in _BLOCKING for cause in causes):
        causes.append(("FieldValueInvalid", "<nil>", _NOT_CHECKED))
    elif rules is not None:
        causes += rules({k: v for k, v in obj.items() if k in ("metadata", "apiVersion", "kind")} | body)
    if causes:
        raise errors.invalid(kind, group, name, causes)
    for key in [k for k in obj if k not in ("metadata", "apiVersion", "kind")]:
        del obj[key]
    obj.update(body)
