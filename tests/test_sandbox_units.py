"""The sandbox's pure pieces: selectors, patches, JSONPath, schema defaults/validation, paths."""

from __future__ import annotations

import pytest
from kmock import KubernetesError

from kubesandbox import paths, schema, selectors
from kubesandbox.patches import json_patch, merge_patch, strategic_merge
from kubesandbox.tables import jsonpath


def obj(**labels: str) -> dict:
    return {"metadata": {"name": "x", "labels": labels}}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("app=web", {"app": "web"}, True),
        ("app==web,tier!=db", {"app": "web", "tier": "db"}, False),
        ("app in (web, api),!legacy", {"app": "api"}, True),
        ("app notin (web)", {}, True),
        ("app", {}, False),
    ],
)
def test_label_selectors(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert selectors.label_matcher(selector)(obj(**labels)) is expected


def test_field_selector_on_nested_fields() -> None:
    event = {"metadata": {"name": "e"}, "involvedObject": {"name": "p", "uid": "u1"}}
    assert selectors.field_matcher("involvedObject.name=p,involvedObject.uid=u1")(event)
    assert not selectors.field_matcher("involvedObject.name!=p")(event)


def test_strategic_merge_merges_containers_by_name() -> None:
    current = {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]}}
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
            "containers": [{"name": "b", "image": "2"}, {"name": "a", "$patch": "delete"}],
        }
    }
    assert strategic_merge(current, patch) == {"spec": {"containers": [{"name": "b", "image": "2"}]}}


def test_merge_patch_null_deletes() -> None:
    assert merge_patch({"a": {"b": 1, "c": 2}}, {"a": {"b": None}}) == {"a": {"c": 2}}


def test_json_patch_test_op_failure_is_422() -> None:
    with pytest.raises(KubernetesError) as failed:
        json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 2}])
    assert failed.value.status == 422
    assert json_patch({"a": [1]}, [{"op": "add", "path": "/a/-", "value": 2}]) == {"a": [1, 2]}


def test_jsonpath_subset() -> None:
    status = {
        "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "X", "status": "False"}]}
    }
    assert jsonpath(status, '.status.conditions[?(@.type=="Ready")].status') == ["True"]
    assert jsonpath(status, "{.status.conditions[*].type}") == ["Ready", "X"]
    assert jsonpath(status, ".status.conditions[1].status") == ["False"]


def test_schema_defaults_nested_and_prunes_unknown() -> None:
    spec_schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "limits": {
                        "type": "object",
                        "default": {},
                        "properties": {"max": {"type": "integer", "default": 5}},
                    }
                },
            }
        },
    }
    cr = {"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n"}, "spec": {"junk": 1}}
    schema.admit(cr, spec_schema, "K", "x", strict=False)
    assert cr["spec"] == {"limits": {"max": 5}}
    with pytest.raises(KubernetesError) as strict:
        schema.admit({"metadata": {"name": "n"}, "spec": {"junk": 1}}, spec_schema, "K", "x", strict=True)
    assert strict.value.status == 400 and 'unknown field "spec.junk"' in (strict.value.message or "")


def test_paths_parse_namespaces_and_subresources() -> None:
    assert paths.parse("/api/v1/namespaces") == paths.ApiPath("", "v1", "namespaces")
    assert paths.parse("/api/v1/namespaces/ns1") == paths.ApiPath("", "v1", "namespaces", None, "ns1")
    assert paths.parse("/api/v1/namespaces/ns1/pods/p/portforward") == paths.ApiPath(
        "", "v1", "pods", "ns1", "p", "portforward"
    )
    assert paths.parse("/apis/apps/v1/deployments") == paths.ApiPath("apps", "v1", "deployments")
    assert paths.parse("/version") is None
