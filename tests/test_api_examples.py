"""The examples are valid LeakPolicies: for the CRD's schema (strictly: an unknown field fails here
though the API server would silently drop it), for its CEL rules, for the models and for
validate_spec. And the CEL rules and validate_spec reject the same bad specs."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_api_schema import apply_defaults, root_schema

from kubesandbox import cel
from leakpatrol.api import LeakPolicy, parse_spec, validate_spec

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema checks the examples against the CRD")

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("leakpolicy*.yaml"))


def strict_json_schema(schema: Any) -> Any:
    """The openAPIV3Schema as plain JSON Schema: x-kubernetes-* dropped, unknown fields rejected."""
    if isinstance(schema, list):
        return [strict_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    plain = {k: strict_json_schema(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    if "properties" in schema and "additionalProperties" not in schema and schema["properties"]:
        plain["additionalProperties"] = False
    if "properties" in plain:  # property *names* are not schemas: keep them as they are
        plain["properties"] = {k: strict_json_schema(v) for k, v in schema["properties"].items()}
    return plain


def cel_failures(schema: dict[str, Any], value: Any, path: str = "") -> Iterator[str]:
    """Every x-kubernetes-validations rule at the nodes present in `value`, evaluated as the sandbox
    API server evaluates them (kubesandbox.cel: Google's CEL runtime); an evaluation error fails too."""
    for _, field, message in cel.evaluate(schema, value, None, path):
        yield f"{field}: {message}"


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def test_there_are_a_demo_and_a_production_example() -> None:
    assert {p.name for p in EXAMPLES} >= {"leakpolicy.yaml", "leakpolicy-demo.yaml"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_valid_everywhere(path: Path) -> None:
    document = load(path)
    jsonschema.Draft7Validator(strict_json_schema(root_schema())).validate(document)
    defaulted = apply_defaults(root_schema(), document)
    assert list(cel_failures(root_schema(), defaulted)) == []
    assert validate_spec(document["spec"]) == []
    assert LeakPolicy.model_validate(document).spec == parse_spec(defaulted["spec"])


def test_demo_example_is_demo_scale() -> None:
    spec = parse_spec(load(EXAMPLES[0] if "demo" in EXAMPLES[0].name else EXAMPLES[1])["spec"])
    assert spec.schedule.interval <= 5
    assert spec.detection.window <= 120
    assert "app" in {e.key for e in spec.selector.match_expressions} | set(spec.selector.match_labels)


def test_strict_schema_rejects_a_typo() -> None:
    document = load(EXAMPLES[0])
    document["spec"]["schedule"]["intervall"] = "1m"
    with pytest.raises(jsonschema.ValidationError, match="intervall"):
        jsonschema.Draft7Validator(strict_json_schema(root_schema())).validate(document)


BASE: dict[str, Any] = {"selector": {"matchLabels": {"app": "x"}}}

# (a bad change to BASE, the CEL message, the field validate_spec names): both layers must refuse it,
# since an API server without CEL (before 1.25, or with it disabled) lets these through.
BAD_SPECS = [
    ({"selector": {}}, "selector must not be empty", "spec.selector"),
    ({"selector": {"matchLabels": {}}}, "selector must not be empty", "spec.selector"),
    (
        {"selector": {"matchExpressions": [{"key": "app", "operator": "In"}]}},
        "values must be non-empty",
        "spec.selector.matchExpressions[0].values",
    ),
    (
        {"selector": {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}},
        "values must be non-empty for In and NotIn, and empty",
        "spec.selector.matchExpressions[0].values",
    ),
    ({"target": {"port": 70000}}, "port must be a number 1-65535", "spec.target.port"),
    ({"target": {"port": "a-very-long-port-name"}}, "port must be a number", "spec.target.port"),
    (
        {"target": {"timeouts": {"connect": "40s"}}},
        "connect and read at most total",
        "spec.target.timeouts.connect",
    ),
    ({"schedule": {"interval": "500ms"}}, "interval must be at least 1s", "spec.schedule.interval"),
    ({"schedule": {"jitter": "2m"}}, "jitter must be shorter than interval", "spec.schedule.jitter"),
    (
        {"profiles": {"goroutineleakInterval": "30s"}},
        "goroutineleakInterval must be at least schedule.interval",
        "spec.profiles.goroutineleakInterval",
    ),
    (
        {"profiles": {"goroutine": "Disabled", "heap": "Disabled", "goroutineleak": "Disabled"}},
        "at least one profile must be enabled",
        "spec.profiles",
    ),
    ({"detection": {"warmup": "2h"}}, "warmup must be shorter than window", "spec.detection.warmup"),
    ({"detection": {"window": "0s"}}, "window must be positive", "spec.detection.window"),
    (
        {"detection": {"maxSamples": 10}},
        "maxSamples must be at least minSamples",
        "spec.detection.maxSamples",
    ),
    (
        {"detection": {"significance": "0.5"}},
        "significance must be between 0 and 0.5",
        "spec.detection.significance",
    ),
    (
        {"detection": {"extraRules": [{"id": "r", "match": {}, "cause": "c", "fix": "f"}]}},
        "match needs frame or waitKind",
        "spec.detection.extraRules[0].match",
    ),
]


@pytest.mark.parametrize(
    ("change", "cel_message", "field"), BAD_SPECS, ids=[b[2] + ":" + b[1] for b in BAD_SPECS]
)
def test_cel_and_validate_spec_refuse_the_same_specs(
    change: dict[str, Any], cel_message: str, field: str
) -> None:
    raw = _merge(copy.deepcopy(BASE), change)
    defaulted = apply_defaults(root_schema()["properties"]["spec"], raw)
    failures = list(cel_failures(root_schema()["properties"]["spec"], defaulted))
    assert any(cel_message in f for f in failures), failures
    assert field in {issue.path for issue in validate_spec(raw)}


def _merge(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    for key, value in change.items():
        if isinstance(value, dict) and value and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base
