"""crds/leakpolicy.yaml and the pydantic models in leakpatrol.api describe one API: walk both.

Every property in one exists in the other, with the same required-ness, defaults, enums, types and
numeric bounds; defaulting by the CRD (as the API server does) parses to the same model as
defaulting by pydantic; the CRD's defaults for spec.detection are DetectionConfig's.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import annotated_types
import pytest
import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, TypeAdapter
from pydantic.fields import FieldInfo

from leakpatrol.api import LeakPolicySpec, LeakPolicyStatus
from leakpatrol.api.detection import TO_CONFIG
from leakpatrol.api.units import DECIMAL_PATTERN, DURATION_PATTERN, QUANTITY_PATTERN
from leakpatrol.detect.config import DetectionConfig

ROOT = Path(__file__).resolve().parent.parent
CRD_PATH = ROOT / "crds" / "leakpolicy.yaml"


def load_crd() -> dict[str, Any]:
    crd: dict[str, Any] = yaml.safe_load(CRD_PATH.read_text())
    return crd


def root_schema() -> dict[str, Any]:
    (version,) = load_crd()["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """Structural defaulting as the API server does it: a missing property with a `default` gets it,
    then defaulting recurses into it (so `default: {}` fills the object's own defaults)."""
    value = copy.deepcopy(value)
    if isinstance(value, dict) and "properties" in schema:
        for name, prop in schema["properties"].items():
            if name not in value and "default" in prop:
                value[name] = copy.deepcopy(prop["default"])
            if name in value:
                value[name] = apply_defaults(prop, value[name])
    if isinstance(value, list) and "items" in schema:
        value = [apply_defaults(schema["items"], item) for item in value]
    return value


def _strip_none(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else Union[tuple(args)]  # noqa: UP007 - rebuilt at runtime
    return annotation


def _wire_default(field: FieldInfo) -> Any:
    """The field's default as the model writes it (seconds -> `1m`, bytes -> `16Mi`), empties dropped."""
    value = field.get_default(call_default_factory=True)
    annotation = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    return _drop_empty(adapter.dump_python(value, mode="json", by_alias=True))


def _drop_empty(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_empty(v) for k, v in value.items() if v not in (None, [], {})}
    return value


def _bounds(field: FieldInfo) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for meta in field.metadata:
        if isinstance(meta, annotated_types.Ge | annotated_types.Gt):
            found["minimum"] = getattr(meta, "ge", getattr(meta, "gt", None))
        if isinstance(meta, annotated_types.Le | annotated_types.Lt):
            found["maximum"] = getattr(meta, "le", getattr(meta, "lt", None))
        if getattr(meta, "max_length", None) is not None:  # MaxLen, or StringConstraints on list items
            found["max"] = meta.max_length
    return found


def walk(model: type[BaseModel], schema: dict[str, Any], path: str) -> Iterator[str]:
    fields = {field.alias or name: field for name, field in model.model_fields.items()}
    props: dict[str, Any] = schema.get("properties", {})
    for name in sorted(props.keys() - fields.keys()):
        yield f"{path}.{name}: in the CRD, missing from {model.__name__}"
    for name in sorted(fields.keys() - props.keys()):
        yield f"{path}.{name}: in {model.__name__}, missing from the CRD"
    crd_required = set(schema.get("required", []))
    model_required = {alias for alias, field in fields.items() if field.is_required()}
    if crd_required != model_required:
        crd, ours = sorted(crd_required), sorted(model_required)
        yield f"{path}: required {crd} in the CRD, {ours} in {model.__name__}"
    for name in sorted(props.keys() & fields.keys()):
        yield from _compare_field(fields[name], props[name], f"{path}.{name}")


def _compare_field(field: FieldInfo, prop: dict[str, Any], path: str) -> Iterator[str]:
    if "default" in prop:
        crd_default = apply_defaults(prop, prop["default"])
        if _drop_empty(crd_default) != _wire_default(field):
            yield f"{path}: default {crd_default!r} in the CRD, {_wire_default(field)!r} in the model"
    elif not field.is_required() and _wire_default(field) not in (None, [], {}):
        yield f"{path}: the model defaults to {_wire_default(field)!r}, the CRD has no default"
    yield from _compare_bounds(field, prop, path)
    yield from _compare_type(_strip_none(field.annotation), field, prop, path)


def _compare_bounds(field: FieldInfo, prop: dict[str, Any], path: str) -> Iterator[str]:
    bounds = _bounds(field)
    if prop.get("type") == "integer":
        for key in ("minimum", "maximum"):
            if prop.get(key) != bounds.get(key):
                yield f"{path}: {key} {prop.get(key)} in the CRD, {bounds.get(key)} in the model"
    # Lengths of the string-coded types (durations …) are the CRD's business: it bounds CEL cost.
    crd_max = prop.get("maxItems", prop.get("maxProperties"))
    if _strip_none(field.annotation) is str:
        crd_max = prop.get("maxLength")
    if crd_max != bounds.get("max") and not _codec(field):
        yield f"{path}: max size {crd_max} in the CRD, {bounds.get('max')} in the model"


def _codec(field: FieldInfo | None) -> str | None:
    """The name of the wire converter of a string-coded field (`_duration_in` …), if it has one."""
    for meta in field.metadata if field is not None else []:
        if isinstance(meta, BeforeValidator | AfterValidator):
            return str(getattr(meta.func, "__name__", ""))
    return None


CODEC_PATTERNS = {
    "_duration_in": DURATION_PATTERN,
    "_decimal_in": DECIMAL_PATTERN,
    "_quantity_in": QUANTITY_PATTERN,
}


def _compare_type(annotation: Any, field: FieldInfo | None, prop: dict[str, Any], path: str) -> Iterator[str]:
    codec = _codec(field)
    if prop.get("x-kubernetes-int-or-string"):
        if codec not in ("_quantity_in", "_port_in"):
            yield f"{path}: int-or-string in the CRD, {annotation} in the model"
        wanted = CODEC_PATTERNS.get(codec or "")
        if prop.get("pattern") != wanted:
            yield f"{path}: pattern {prop.get('pattern')!r} in the CRD, {wanted!r} in the model"
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield from _expect_type(prop, "object", path)
        yield from walk(annotation, prop, path)
    elif isinstance(annotation, type) and issubclass(annotation, Enum):
        yield from _expect_type(prop, "string", path)
        if sorted(prop.get("enum", [])) != sorted(m.value for m in annotation):
            yield f"{path}: enum {prop.get('enum')} in the CRD, {[m.value for m in annotation]} in the model"
    elif get_origin(annotation) is list:
        yield from _expect_type(prop, "array", path)
        item, items = get_args(annotation)[0], prop.get("items", {})
        if (item_field := _item_field(item)) is not None:
            yield from _compare_bounds(item_field, items, f"{path}[]")
        yield from _compare_type(_strip_none(item), item_field, items, f"{path}[]")
    elif get_origin(annotation) is dict:
        yield from _expect_type(prop, "object", path)
        yield from _compare_type(
            get_args(annotation)[1], None, prop.get("additionalProperties", {}), f"{path}{{}}"
        )
    elif annotation is bool:
        yield from _expect_type(prop, "boolean", path)
    elif annotation is int:
        yield from _expect_type(prop, "integer", path)
    else:  # str and the string-coded types: durations, decimals, timestamps
        yield from _expect_type(prop, "string", path)
        yield from _compare_pattern(field, codec, prop, path)


def _item_field(item: Any) -> FieldInfo | None:
    return FieldInfo.from_annotation(item) if get_origin(item) is Annotated else None


def _expect_type(prop: dict[str, Any], expected: str, path: str) -> Iterator[str]:
    if prop.get("type") != expected:
        yield f"{path}: type {prop.get('type')} in the CRD, {expected} in the model"


def _compare_pattern(
    field: FieldInfo | None, codec: str | None, prop: dict[str, Any], path: str
) -> Iterator[str]:
    metadata = field.metadata if field is not None else []
    pattern = CODEC_PATTERNS.get(codec or "") or next(
        (m.pattern for m in metadata if getattr(m, "pattern", None)), None
    )
    if codec == "_utc" and prop.get("format") != "date-time":
        yield f"{path}: a timestamp in the model, format {prop.get('format')} in the CRD"
    if pattern != prop.get("pattern"):
        yield f"{path}: pattern {prop.get('pattern')!r} in the CRD, {pattern!r} in the model"


# -- the tests ------------------------------------------------------------------------------------


def test_spec_schema_and_model_agree() -> None:
    assert list(walk(LeakPolicySpec, root_schema()["properties"]["spec"], "spec")) == []


def test_status_schema_and_model_agree() -> None:
    assert list(walk(LeakPolicyStatus, root_schema()["properties"]["status"], "status")) == []


def test_walk_notices_drift() -> None:
    """The walk is only proof if it fails on a difference: break the schema in each way it checks."""
    spec = root_schema()["properties"]["spec"]
    spec["properties"]["schedule"]["properties"]["interval"]["default"] = "2m"
    spec["properties"]["target"]["properties"]["transport"]["enum"].append("Ssh")
    spec["properties"]["detection"]["properties"]["minSamples"]["minimum"] = 3
    spec["properties"]["detection"]["properties"]["windowOops"] = {"type": "string"}
    spec["properties"]["profiles"]["properties"]["heap"]["type"] = "boolean"
    spec["required"].append("suspend")
    spec["properties"]["target"]["properties"]["path"]["pattern"] = "^/.*$"
    spec["properties"]["detection"]["properties"]["minHeapGrowth"]["pattern"] = "^[0-9]+$"
    spec["properties"]["detection"]["properties"]["allowlist"]["items"]["maxLength"] = 5
    spec["properties"]["detection"]["properties"]["extraRules"]["items"]["properties"]["cause"][
        "maxLength"
    ] = 5
    problems = "\n".join(walk(LeakPolicySpec, spec, "spec"))
    for fragment in (
        "spec.schedule.interval: default",
        "spec.target.transport: enum",
        "spec.detection.minSamples: minimum",
        "spec.detection.windowOops: in the CRD, missing",
        "spec.profiles.heap: type",
        "spec: required",
        "spec.target.path: pattern",
        "spec.detection.minHeapGrowth: pattern",
        "spec.detection.allowlist[]: max size",
        "spec.detection.extraRules[].cause: max size",
    ):
        assert fragment in problems


@pytest.mark.parametrize(
    "raw",
    [
        {"selector": {"matchLabels": {"app": "x"}}},
        {"selector": {"matchLabels": {"app": "x"}}, "target": {}, "detection": {"window": "6h"}},
        {"selector": {"matchLabels": {"app": "x"}}, "target": {"timeouts": {"total": "1m"}}, "profiles": {}},
    ],
)
def test_crd_defaulting_and_model_defaulting_agree(raw: dict[str, Any]) -> None:
    defaulted = apply_defaults(root_schema()["properties"]["spec"], raw)
    assert LeakPolicySpec.model_validate(defaulted) == LeakPolicySpec.model_validate(raw)


def test_crd_detection_defaults_are_detection_config_defaults() -> None:
    defaulted = apply_defaults(root_schema()["properties"]["spec"], {"selector": {"matchLabels": {"a": "b"}}})
    assert LeakPolicySpec.model_validate(defaulted).detection_config() == DetectionConfig.model_validate({})


def test_every_detection_config_field_is_settable_from_the_spec() -> None:
    assert set(TO_CONFIG) == set(DetectionConfig.model_fields)


def test_crd_names_and_columns() -> None:
    crd = load_crd()
    assert crd["metadata"]["name"] == "leakpolicies.leakpatrol.dev"
    names = crd["spec"]["names"]
    assert (names["kind"], names["plural"], crd["spec"]["scope"]) == (
        "LeakPolicy",
        "leakpolicies",
        "Namespaced",
    )
    assert "lp" in names["shortNames"]
    assert "all" not in names["categories"]
    (version,) = crd["spec"]["versions"]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c for c in version["additionalPrinterColumns"]}
    assert columns["Ready"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    # A policy that is not working shows in the default columns, with the reason, no -o wide needed.
    assert [n for n, c in columns.items() if c.get("priority", 0) == 0] == [
        "Ready",
        "Reason",
        "Targets",
        "Failing",
        "Leaking",
        "Last Scan",
        "Age",
    ]
    assert columns["Reason"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].reason'
    assert columns["Last Scan"]["type"] == "date"
    # The OOM column is an absolute time: a relative "~9.2m" frozen at the last scan goes stale.
    assert columns["OOM At"]["jsonPath"] == ".status.worstEtaTime"
    assert "OOM ETA" not in columns


def test_kubectl_explain_says_whose_numbers_a_finding_holds() -> None:
    """baseline/current are the pod's totals, growthPerHour and pValue the culprit group's (or the
    total's, as growthOf says): the descriptions must not say otherwise."""
    status = root_schema()["properties"]["status"]["properties"]
    for findings in (status["findings"], status["shards"]["additionalProperties"]["properties"]["findings"]):
        finding = findings["items"]["properties"]
        assert "total" in finding["baseline"]["description"]
        assert "Not the culprit group's" in finding["baseline"]["description"]
        assert "total" in finding["totalGrowthPerHour"]["description"]
        assert "culprit" in finding["growthPerHour"]["description"]
        assert "growthOf" in finding["growthPerHour"]["description"]
        assert "growthPerHour" in finding["pValue"]["description"]
        assert finding["growthOf"]["enum"] == ["Culprit", "Total"]


def test_conditions_are_a_list_map_keyed_by_type() -> None:
    conditions = root_schema()["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]


def _properties(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    for name, child in (node.get("properties") or {}).items():
        yield f"{path}.{name}", child
        yield from _properties(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _properties(node["items"], f"{path}[]")


def test_every_field_has_a_description_for_kubectl_explain() -> None:
    """`kubectl explain leakpolicy.spec.X` prints the description: none may be empty, and a spec
    field with a scalar default says what the default is."""
    schema = root_schema()
    missing = [path for path, node in _properties(schema) if len(node.get("description", "")) < 10]
    assert missing == []
    undocumented_defaults = [
        path
        for path, node in _properties(schema)
        if path.startswith(".spec")
        and isinstance(node.get("default"), str | int)
        and not isinstance(node.get("default"), bool)
        and str(node["default"]) not in node["description"]
    ]
    assert undocumented_defaults == []


def test_the_crd_file_has_no_duplicate_keys() -> None:
    """YAML keeps the last of two equal keys silently: a second `description:` would hide the first."""

    class Strict(yaml.SafeLoader):
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [loader.construct_object(k, deep=deep) for k, _ in node.value]
        assert len(keys) == len(set(keys)), f"duplicate key at line {node.start_mark.line + 1}"
        return yaml.SafeLoader.construct_mapping(loader, node, deep)

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    yaml.load(CRD_PATH.read_text(), Strict)
