"""CRD validation rules (`x-kubernetes-validations`) evaluated as the API server does (the checks at
CRD creation are celcrd.py's, the cost estimate celcost.py's).

The CEL implementation is cel-expr-python: Google's C++ CEL runtime (cel-cpp) with its type checker,
so a parse error and an undeclared function or variable fail at compile time with the same
`ERROR: <input>:L:C: ...` text as cel-go (both parsers are generated from the one ANTLR grammar), and
`matches()` is RE2 (linear time, no backreferences: what the API server accepts). `self` and
`oldSelf` are typed from the schema as far as plain values carry types (self_type); Kubernetes' own
libraries (lists, regex `find`, url, ip, cidr, quantity, semver, format) are not declared: a rule
using one is refused here although a real server accepts it (none of our CRDs does).

Evaluated on every write of a custom resource after defaulting, pruning and schema validation, at
every node present (list items, map values), with `self` bound to it; transition rules (naming
`oldSelf`) only on update and only where an old value correlates (object properties, map values,
`x-kubernetes-list-type: map` items by their keys); ratcheting (a failing rule whose value did not
change is not an error); null values are not validated; message / messageExpression / fieldPath /
reason, worded as the server words them. Not done: the runtime cost limit (cel-cpp exposes no cost
tracker), `optionalOldSelf` (celcrd refuses a CRD using it, saying so).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from cel_expr_python import cel
from cel_expr_python.ext import ext_strings

Cause = tuple[str, str, str]
_REASONS = {
    "FieldValueForbidden": "Forbidden",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
}
# cel-cpp's runtime error texts -> cel-go's, which is what the API server shows.
_GO_WORDS = [
    (re.compile(r'^Key not found in map : "(.*)"$'), r"no such key: \1"),
    (re.compile(r"^No matching overloads found : .*"), "no such overload"),
    (re.compile(r"^divide by zero$"), "division by zero"),
    (re.compile(r"^modulus by zero$"), "modulus by zero"),
    (
        re.compile(r"^String to (Duration|Timestamp) conversion failed$"),
        r"type conversion error from 'string' to 'google.protobuf.\1'",
    ),
    (re.compile(r"^cannot convert (\w+) to (\w+)$"), r"type conversion error from '\1' to '\2'"),
]


class CompileError(Exception):
    pass


_SCALARS = {"string": "STRING", "integer": "INT", "number": "DOUBLE", "boolean": "BOOL"}


def self_type(schema: dict[str, Any]) -> str:
    """The CEL type of `self` at a schema node, as a signature: the server's types, as far as plain
    values carry them (an object with properties is a map of dyn here: the server's object type is
    what unknown_fields stands in for); int-or-string, and strings with a format the server turns
    into a timestamp/duration/bytes, stay dyn."""
    if schema.get("x-kubernetes-int-or-string") or schema.get("x-kubernetes-preserve-unknown-fields"):
        return "dyn"
    kind = schema.get("type")
    if kind == "string" and schema.get("format") in ("date", "date-time", "duration", "byte"):
        return "dyn"
    if kind in _SCALARS:
        return _SCALARS[kind].lower()
    if kind == "array" and isinstance(schema.get("items"), dict):
        return f"list({self_type(schema['items'])})"
    if (
        kind == "object"
        and isinstance(schema.get("additionalProperties"), dict)
        and not schema.get("properties")
    ):
        return f"map(string, {self_type(schema['additionalProperties'])})"
    if kind == "object":
        return "map(string, dyn)"
    return "dyn"


def _type(signature: str) -> Any:
    inner = signature[signature.index("(") + 1 : -1] if "(" in signature else ""
    if signature.startswith("list("):
        return cel.Type.List(_type(inner))
    if signature.startswith("map("):
        return cel.Type.Map(cel.Type.STRING, _type(inner.split(", ", 1)[1]))
    return getattr(cel.Type, signature.upper())


@functools.cache
def _env(signature: str) -> Any:
    declared = _type(signature)
    return cel.NewEnv(
        variables={"self": declared, "oldSelf": declared}, extensions=[ext_strings.ExtStrings()]
    )


def _strip_status(text: str) -> str:
    """cel-cpp prefixes its absl status code and suffixes it again; cel-go has neither."""
    text = re.sub(r"^[A-Z_]+: ", "", text.strip())
    return re.sub(r"\s*\[[A-Z_]+\]$", "", text)


@functools.cache
def compile_expr(source: str, want: str = "BOOL", signature: str = "dyn") -> Any:
    try:
        expr = _env(signature).compile(source)
    except RuntimeError as exc:
        raise CompileError(f"compilation failed: {_strip_status(str(exc))}") from None
    if expr.return_type().name() not in (want, "DYN"):
        raise CompileError(f"cel expression must evaluate to a {want.lower()}")
    return expr


def blank_strings(rule: str) -> str:
    """The rule with its string literals blanked (same length), so names inside them are not seen."""
    return re.sub(r"'(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\"", lambda m: " " * len(m.group()), rule)


def uses_old_self(rule: str) -> bool:
    return re.search(r"\boldSelf\b", blank_strings(rule)) is not None


@dataclass(frozen=True)
class Rule:
    spec: dict[str, Any]
    old_self: bool

    @property
    def rule(self) -> str:
        return str(self.spec.get("rule", "")).strip()

    def describe(self) -> str:
        """ruleErrorString: the message if there is one, else the rule."""
        return str(self.spec.get("message") or "").strip() or self.rule


_STEP = re.compile(r"\.([^.\[\]']+)|\['((?:\\.|[^'\\])*)'\]")


def field_path_suffix(schema: dict[str, Any], field_path: str) -> str | None:
    """A rule's fieldPath (`.a.b`, `['a.b']`) as an API field path suffix, or None if invalid."""
    suffix, node, at = "", schema, 0
    while at < len(field_path):
        step = _STEP.match(field_path, at)
        if step is None:
            return None
        name, at = step.group(1) or step.group(2), step.end()
        if "properties" in node:
            if name not in node["properties"]:
                return None
            suffix, node = f"{suffix}.{name}", node["properties"][name]
        elif isinstance(node.get("additionalProperties"), dict):
            suffix, node = f"{suffix}[{name}]", node["additionalProperties"]
        else:
            return None
    return suffix or None


def _go_error(value: Any) -> str:
    text = _strip_status(str(value))
    for pattern, words in _GO_WORDS:
        if pattern.match(text):
            return pattern.sub(words, text)
    return text


def has_rules(schema: dict[str, Any]) -> bool:
    """Whether any node of the schema has rules (without, the server runs no CEL validator at all)."""
    if schema.get("x-kubernetes-validations"):
        return True
    subs = [
        *(schema.get("properties") or {}).values(),
        schema.get("additionalProperties"),
        schema.get("items"),
    ]
    return any(has_rules(sub) for sub in subs if isinstance(sub, dict))


def evaluate_object(schema: dict[str, Any], new: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    """Every rule of a custom resource's schema; at the root, metadata is only name and generateName."""

    def root(obj: dict[str, Any]) -> dict[str, Any]:
        md = {k: v for k, v in (obj.get("metadata") or {}).items() if k in ("name", "generateName")}
        return {**obj, "metadata": md}

    return evaluate(schema, root(new), root(old) if old is not None else None, "")


def evaluate(schema: dict[str, Any], value: Any, old: Any, path: str) -> list[Cause]:
    """The failures of every rule at `value` and below (after `schema.admit`), old = the stored value."""
    if value is None:  # null values are not validated; rules on the parent can check for them
        return []
    causes = _rules_here(schema, value, old, path)
    if isinstance(value, dict):
        props, extra = schema.get("properties") or {}, schema.get("additionalProperties")
        for key, item in value.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            if sub is not None:
                old_item = old.get(key) if isinstance(old, dict) else None
                where = f"{path}.{key}" if key in props else f"{path}[{key}]"
                causes += evaluate(sub, item, old_item, where.removeprefix("."))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        is_map = schema.get("x-kubernetes-list-type") == "map"
        keys = schema.get("x-kubernetes-list-map-keys") if is_map else None
        for index, item in enumerate(value):
            old_item = _correlate(item, old, keys) if keys else None
            causes += evaluate(schema["items"], item, old_item, f"{path}[{index}]")
    return causes


def _correlate(item: Any, old: Any, keys: list[str]) -> Any:
    if not isinstance(item, dict) or not isinstance(old, list):
        return None
    wanted = [item.get(k) for k in keys]
    return next((o for o in old if isinstance(o, dict) and [o.get(k) for k in keys] == wanted), None)


def _rules_here(schema: dict[str, Any], value: Any, old: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    type_name = schema.get("type", "")
    for spec in schema.get("x-kubernetes-validations") or []:
        rule = Rule(spec, uses_old_self(str(spec.get("rule", ""))))
        if rule.old_self and old is None:
            continue  # a transition rule runs only where there is an old value to compare
        data = {"self": value, "oldSelf": old}
        result = compile_expr(rule.rule, "BOOL", self_type(schema)).eval(data=data)
        ok = result.type().name() == "BOOL" and result.value() is True
        if ok or (not rule.old_self and old is not None and old == value):
            continue  # passed, or ratcheted: an unchanged value that fails is let through
        where = path or "<nil>"
        if result.type().name() == "ERROR":
            error = _go_error(result.value())
            detail = (
                f"'{error}': call arguments did not match a supported operator, function or macro "
                f"signature for rule: {rule.describe()}"
                if error == "no such overload"
                else f"{error} evaluating rule: {rule.describe()}"
            )
            causes.append(("FieldValueInvalid", where, f'Invalid value: "{type_name}": {detail}'))
            continue
        if spec.get("fieldPath"):
            where = f"{path}{field_path_suffix(schema, str(spec['fieldPath'])) or ''}".removeprefix(".")
        causes.append(_failure(spec, rule, where, schema, data))
    return causes


def _failure(
    spec: dict[str, Any], rule: Rule, where: str, schema: dict[str, Any], data: dict[str, Any]
) -> Cause:
    type_name = schema.get("type", "")
    detail = str(spec.get("message") or "").strip() or f"failed rule: {rule.rule}"
    if spec.get("messageExpression"):
        produced = compile_expr(str(spec["messageExpression"]), "STRING", self_type(schema)).eval(data=data)
        text = str(produced.value()).strip() if produced.type().name() == "STRING" else ""
        if text and "\n" not in text:
            detail = text
    reason = str(spec.get("reason") or "FieldValueInvalid")
    if reason == "FieldValueDuplicate":
        return (reason, where, f'Duplicate value: "{type_name}"')
    if reason in _REASONS:
        return (reason, where, f"{_REASONS[reason]}: {detail}")
    return ("FieldValueInvalid", where, f'Invalid value: "{type_name}": {detail}')
