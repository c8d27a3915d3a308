"""A CRD's validation rules checked when it is created or updated, as the API server does: each
rule compiles (cel.py's environment) to a bool, names only fields the schema declares, has a valid
fieldPath and a messageExpression that compiles to a string, and fits the estimated cost limits
(celcost.py). Every problem is a cause of the CRD's 422, at
`spec.versions[i].schema.openAPIV3Schema...x-kubernetes-validations[j].rule`, worded as the server's."""

from __future__ import annotations

import re
from typing import Any

from . import celcost
from .cel import Cause, CompileError, blank_strings, compile_expr, field_path_suffix, self_type


def unknown_fields(rule: str, schema: dict[str, Any]) -> str | None:
    """cel-go's checker error for the first `self.a.b` naming a field the schema does not declare."""
    code = blank_strings(rule)
    for chain in re.finditer(r"\b(?:self|oldSelf)((?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)+)", code):
        node, offset = schema, chain.start(1)
        for step in re.finditer(r"\.\s*([A-Za-z_][A-Za-z0-9_]*)", chain.group(1)):
            name = step.group(1)
            after = code[offset + step.end() :].lstrip()
            if after.startswith("("):  # a method call, e.g. self.name.startsWith(...)
                break
            props = node.get("properties")
            if node.get("x-kubernetes-preserve-unknown-fields") or not props or name == "metadata":
                break
            if name in ("apiVersion", "kind") and name not in props:  # the server declares them at the root
                break
            if name not in props:
                at = offset + step.start(1)
                line, column = rule.count("\n", 0, at) + 1, at - (rule.rfind("\n", 0, at) + 1)
                text = rule.splitlines()[line - 1]
                where = f"ERROR: <input>:{line}:{column + 1}"
                return f"compilation failed: {where}: undefined field '{name}'\n | {text}\n | {'.' * column}^"
            node = props[name]
    return None


def _go_rule(spec: dict[str, Any]) -> str:
    """The rule as Go's %#v prints an apiextensions.ValidationRule (the CRD error's value)."""

    def quoted(key: str) -> str:
        text = str(spec.get(key, ""))
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

    reason = "(*apiextensions.FieldValueErrorReason)(nil)" if "reason" not in spec else f"&{quoted('reason')}"
    optional = "(*bool)(nil)" if "optionalOldSelf" not in spec else f"&{str(spec['optionalOldSelf']).lower()}"
    return (
        f"apiextensions.ValidationRule{{Rule:{quoted('rule')}, Message:{quoted('message')}, "
        f"MessageExpression:{quoted('messageExpression')}, Reason:{reason}, "
        f"FieldPath:{quoted('fieldPath')}, OptionalOldSelf:{optional}}}"
    )


def check_crd(crd: dict[str, Any]) -> list[Cause]:
    """Compile every rule of every version's schema, and check their estimated cost: the causes."""
    causes: list[Cause] = []
    for index, version in enumerate((crd.get("spec") or {}).get("versions") or []):
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if isinstance(schema, dict):
            path = f"spec.versions[{index}].schema.openAPIV3Schema"
            costs: list[int] = []
            causes += _check_schema(schema, path, 1, costs)
            if sum(costs) > celcost.CRD_LIMIT:
                what = (
                    "x-kubernetes-validations estimated rule & messageExpression cost total for entire "
                    "OpenAPIv3 schema"
                )
                message = celcost.too_costly(sum(costs), what, celcost.CRD_LIMIT)
                causes.append(("FieldValueForbidden", path, f"Forbidden: {message}"))
    return causes


def _check_schema(schema: dict[str, Any], path: str, cardinality: int, costs: list[int]) -> list[Cause]:
    causes: list[Cause] = []
    for index, spec in enumerate(schema.get("x-kubernetes-validations") or []):
        where = f"{path}.x-kubernetes-validations[{index}]"
        rule = str(spec.get("rule", "")).strip()
        if not rule:
            causes.append(("FieldValueRequired", f"{where}.rule", "Required value: rule is not specified"))
            continue
        try:
            compile_expr(rule, "BOOL", self_type(schema))
            problem = unknown_fields(rule, schema)
        except CompileError as exc:
            problem = str(exc)
        if problem:
            message = f"Invalid value: {_go_rule(spec)}: {problem}"
            causes.append(("FieldValueInvalid", f"{where}.rule", message))
        if spec.get("messageExpression"):
            try:
                compile_expr(str(spec["messageExpression"]), "STRING", self_type(schema))
            except CompileError as exc:
                message = f"Invalid value: {_go_rule(spec)}: messageExpression {exc}"
                causes.append(("FieldValueInvalid", f"{where}.messageExpression", message))
        if spec.get("fieldPath") and field_path_suffix(schema, str(spec["fieldPath"])) is None:
            message = f'Invalid value: "{spec["fieldPath"]}": fieldPath must be a valid path'
            causes.append(("FieldValueInvalid", f"{where}.fieldPath", message))
        if spec.get("optionalOldSelf"):
            message = "Forbidden: optionalOldSelf is not supported by the sandbox (see README, Known gaps)"
            causes.append(("FieldValueForbidden", f"{where}.optionalOldSelf", message))
        cost = celcost.estimate(rule, schema, cardinality).total
        costs.append(cost)
        if cost > celcost.RULE_LIMIT:
            causes.append(("FieldValueForbidden", f"{where}.rule", f"Forbidden: {celcost.too_costly(cost)}"))
    for key, sub in (schema.get("properties") or {}).items():
        causes += _check_schema(sub, f"{path}.properties[{key}]", cardinality, costs)
    for key in ("additionalProperties", "items"):
        if isinstance(schema.get(key), dict):
            inner = cardinality * celcost.items_bound(schema)
            causes += _check_schema(schema[key], f"{path}.{key}", inner, costs)
    return causes
