"""kubesandbox's CEL (tests/kubesandbox/cel.py, celcost.py) on its own: Kubernetes' duration()
semantics, error wording, where rules run (items, map values, null, oldSelf, ratcheting), the static
checks at CRD creation, and our own CRD's rules against the API server's cost limits."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubesandbox import cel, celcost, celcrd

ROOT = Path(__file__).resolve().parent.parent
CRD = yaml.safe_load((ROOT / "crds" / "leakpolicy.yaml").read_text())
SCHEMA = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def run(rule: str, value: Any, old: Any = None) -> Any:
    result = cel.compile_expr(rule).eval(data={"self": value, "oldSelf": old})
    return result.value() if result.type().name() != "ERROR" else cel._go_error(result.value())


@pytest.mark.parametrize(
    ("left", "op", "right"),
    [
        ("1h30m", "==", "90m"),
        ("1.5h", "==", "90m"),
        ("500ms", "<", "1s"),
        ("1s", ">=", "1s"),
        ("2h45m30.5s", ">", "2h45m30s"),
        ("1us", "==", "1000ns"),
        ("-1s", "<", "0s"),
        ("0", "==", "0s"),
    ],
)
def test_duration_parses_go_duration_strings(left: str, op: str, right: str) -> None:
    assert run(f"duration(self) {op} duration('{right}')", left) is True


@pytest.mark.parametrize("text", ["5", "1 s", "1d", "abc", ""])
def test_duration_refuses_what_go_refuses(text: str) -> None:
    error = run("duration(self) > duration('0s')", text)
    assert error == "type conversion error from 'string' to 'google.protobuf.Duration'"  # cel-go's words


def test_runtime_errors_are_worded_as_cel_go() -> None:
    assert run("self.a.b == 1", {"a": {}}) == "no such key: b"
    assert run("1 / self == 0", 0) == "division by zero"
    assert run("size(self) == 1", 5) == "no such overload"
    assert run("self + 1 > 0", 2**63 - 1) == "integer overflow"
    assert run("int(self) > 0", "x") == "type conversion error from 'string' to 'int'"


def test_self_is_typed_from_the_schema_where_values_carry_the_type() -> None:
    assert cel.self_type({"type": "array", "items": {"type": "integer"}}) == "list(int)"
    assert (
        cel.self_type({"type": "object", "additionalProperties": {"type": "string"}}) == "map(string, string)"
    )
    assert cel.self_type({"x-kubernetes-int-or-string": True}) == "dyn"
    with pytest.raises(
        cel.CompileError, match="found no matching overload for '_>_' applied to '\\(string, int\\)'"
    ):
        cel.compile_expr("self > 0", "BOOL", "string")


def test_string_library_and_re2() -> None:
    assert run("self.lowerAscii().startsWith('ab') && self.endsWith('%')", "ABc%") is True
    assert run("self.matches('^(a+)+$')", "a" * 40 + "!") is False  # RE2: linear, no catastrophe
    assert "invalid" in run("self.matches('(a)\\\\1')", "aa")  # no backreferences, as on the server


def test_our_crd_compiles_and_fits_the_cost_limits() -> None:
    assert celcrd.check_crd(CRD) == []
    costs: dict[str, int] = {}

    def walk(node: dict[str, Any], path: str, cardinality: int) -> None:
        for spec in node.get("x-kubernetes-validations") or []:
            costs[f"{path}: {spec['rule'][:40]}"] = celcost.estimate(spec["rule"], node, cardinality).total
        for key, sub in (node.get("properties") or {}).items():
            walk(sub, f"{path}.{key}", cardinality)
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]", cardinality * celcost.items_bound(node))

    walk(SCHEMA, "", 1)
    assert len(costs) == 14
    assert max(costs.values()) < celcost.RULE_LIMIT // 100, costs  # far from the limit, not near it
    assert sum(costs.values()) < celcost.CRD_LIMIT


def test_our_rules_read_only_fields_that_are_always_there() -> None:
    """The bug class a real server shows as `no such key` on every apply: a rule reading an optional
    field that has no default and no has() guard. Every `self.x` in our rules must be required, have
    a default, or be guarded in that rule."""
    unguarded = []

    def walk(node: dict[str, Any], path: str) -> None:
        props, required = node.get("properties") or {}, set(node.get("required") or [])
        for spec in node.get("x-kubernetes-validations") or []:
            for name in re.findall(r"\bself\.([A-Za-z_][A-Za-z0-9_]*)", spec["rule"]):
                sub = props.get(name, {})
                if name not in required and "default" not in sub and f"has(self.{name})" not in spec["rule"]:
                    unguarded.append(f"{path}: {name} in {spec['rule']}")
        for key, sub in props.items():
            walk(sub, f"{path}.{key}")
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]")

    walk(SCHEMA, "")
    assert unguarded == []


def test_an_unbounded_list_of_unbounded_strings_is_too_costly() -> None:
    schema = {"type": "object", "properties": {"names": {"type": "array", "items": {"type": "string"}}}}
    rule = "self.names.all(n, n.matches('^[a-z]+$'))"
    assert celcost.estimate(rule, schema).total > 100 * celcost.RULE_LIMIT
    schema["properties"]["names"].update(maxItems=16, items={"type": "string", "maxLength": 63})
    assert celcost.estimate(rule, schema).total < 1000
    # A rule under a list runs per item: the list's bound multiplies it.
    assert (
        celcost.estimate("self.x > 0", {}, cardinality=32).total
        == 32 * celcost.estimate("self.x > 0", {}).total
    )
    assert celcost.items_bound({"type": "array", "items": {"type": "string"}}) == 3 * 1024 * 1024 // 3


def test_too_costly_is_worded_as_the_server() -> None:
    assert celcost.too_costly(12_000_000).startswith(
        "estimated rule cost exceeds budget by factor of 1.200000x"
    )
    assert "by factor of 2.5x" in celcost.too_costly(25_000_000)
    assert "more than 100x" in celcost.too_costly(10**12)


def test_unknown_fields_follow_self_chains_only() -> None:
    schedule = SCHEMA["properties"]["spec"]["properties"]["schedule"]
    assert celcrd.unknown_fields("duration(self.interval) >= duration('1s')", schedule) is None
    problem = celcrd.unknown_fields("duration(self.intervall) >= duration('1s')", schedule)
    assert problem is not None and "<input>:1:15: undefined field 'intervall'" in problem
    problem = celcrd.unknown_fields("self.jitter != '' &&\n  self.intervall != ''", schedule)
    assert problem is not None and problem.endswith(
        "<input>:2:8: undefined field 'intervall'\n |   self.intervall != ''\n | .......^"
    )
    assert celcrd.unknown_fields("self.kind == 'X'", {"type": "object", "properties": {"spec": {}}}) is None
    assert celcrd.unknown_fields("self.jitter.endsWith('%')", schedule) is None  # a method, not a field
    assert celcrd.unknown_fields("'self.nope' == self.jitter", schedule) is None  # inside a string
    assert (
        celcrd.unknown_fields(
            "self.anything", {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        )
        is None
    )
    assert (
        celcrd.unknown_fields("self.key", {"type": "object", "additionalProperties": {"type": "string"}})
        is None
    )


def test_field_path_is_checked_against_the_schema() -> None:
    spec = SCHEMA["properties"]["spec"]
    assert cel.field_path_suffix(spec, ".schedule.interval") == ".schedule.interval"
    assert cel.field_path_suffix(spec, ".selector.matchLabels['app.kubernetes.io/name']") == (
        ".selector.matchLabels[app.kubernetes.io/name]"
    )
    assert cel.field_path_suffix(spec, ".schedule.nope") is None
    assert cel.field_path_suffix(spec, "schedule") is None


OBJ = {"type": "object"}


def schema_with(rule: str, **node: Any) -> dict[str, Any]:
    return {**node, "x-kubernetes-validations": [{"rule": rule}]}


def test_rules_run_at_every_item_and_map_value_with_their_paths() -> None:
    items = {"type": "array", "items": schema_with("self.n > 0", type="object")}
    values = {"type": "object", "additionalProperties": schema_with("self > 0", type="integer")}
    schema = {"type": "object", "properties": {"items": items, "values": values}}
    causes = cel.evaluate(schema, {"items": [{"n": 1}, {"n": 0}], "values": {"a": 1, "b": -1}}, None, "spec")
    assert causes == [
        ("FieldValueInvalid", "spec.items[1]", 'Invalid value: "object": failed rule: self.n > 0'),
        ("FieldValueInvalid", "spec.values[b]", 'Invalid value: "integer": failed rule: self > 0'),
    ]


def test_null_values_are_not_validated() -> None:
    schema = {"type": "object", "properties": {"a": schema_with("self.x > 0", type="object", nullable=True)}}
    assert cel.evaluate(schema, {"a": None}, None, "spec") == []


def test_transition_rules_correlate_map_list_items_by_key() -> None:
    items = schema_with("self.size >= oldSelf.size", type="object")
    schema = {
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
        "items": items,
    }
    old = [{"name": "a", "size": 5}, {"name": "b", "size": 5}]
    new = [{"name": "b", "size": 6}, {"name": "a", "size": 4}, {"name": "c", "size": 1}]  # reordered, added
    causes = cel.evaluate(schema, new, old, "spec.disks")
    assert [c[1] for c in causes] == ["spec.disks[1]"]  # a shrank; b grew; c is new (no oldSelf)
    assert cel.evaluate(schema, new, None, "spec.disks") == []  # on create no transition rule runs


def test_ratcheting_lets_an_unchanged_failing_value_through() -> None:
    schema = {"type": "object", "properties": {"box": schema_with("self.size <= 3", type="object")}}
    assert cel.evaluate(schema, {"box": {"size": 5}}, {"box": {"size": 5}}, "spec") == []
    assert len(cel.evaluate(schema, {"box": {"size": 5}}, {"box": {"size": 4}}, "spec")) == 1
    assert len(cel.evaluate(schema, {"box": {"size": 5}}, None, "spec")) == 1


def test_the_root_sees_only_name_and_generate_name_of_metadata() -> None:
    schema = schema_with("!has(self.metadata.labels) && self.metadata.name.startsWith('a')", type="object")
    obj = {"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "ab", "labels": {"k": "v"}, "uid": "u"}}
    assert cel.evaluate_object(schema, obj, None) == []
    obj["metadata"]["name"] = "b"
    assert cel.evaluate_object(schema, obj, None)[0][1] == "<nil>"  # the root's path, as the server prints it


def test_message_expression_reason_and_field_path() -> None:
    rule = {
        "rule": "self.max >= self.min",
        "messageExpression": "'max ' + string(self.max) + ' < min ' + string(self.min)",
        "fieldPath": ".max",
        "reason": "FieldValueForbidden",
    }
    props = {"min": {"type": "integer"}, "max": {"type": "integer"}}
    schema = {"type": "object", "properties": props, "x-kubernetes-validations": [rule]}
    assert cel.evaluate(schema, {"min": 2, "max": 1}, None, "spec") == [
        ("FieldValueForbidden", "spec.max", "Forbidden: max 1 < min 2")
    ]


def test_crd_checks_name_the_rule_and_what_is_wrong() -> None:
    crd = copy.deepcopy(CRD)
    schedule = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "schedule"
    ]
    schedule["x-kubernetes-validations"] = [
        {"rule": "duration(self.interval) >="},
        {"rule": "size(self.interval)", "message": "m"},
        {"rule": "true", "fieldPath": ".nope"},
        {"rule": "self.interval == oldSelf.interval", "optionalOldSelf": True},
        {"rule": "  "},
    ]
    causes = celcrd.check_crd(crd)
    where = "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[schedule]"
    where += ".x-kubernetes-validations"
    assert [(c[0], c[1]) for c in causes] == [
        ("FieldValueInvalid", f"{where}[0].rule"),
        ("FieldValueInvalid", f"{where}[1].rule"),
        ("FieldValueInvalid", f"{where}[2].fieldPath"),
        ("FieldValueForbidden", f"{where}[3].optionalOldSelf"),
        ("FieldValueRequired", f"{where}[4].rule"),
    ]
    assert causes[0][2].startswith(
        'Invalid value: apiextensions.ValidationRule{Rule:"duration(self.interval) >="'
    )
    assert "compilation failed: ERROR: <input>:1:27: Syntax error" in causes[0][2]
    assert causes[1][2].endswith("cel expression must evaluate to a bool")
