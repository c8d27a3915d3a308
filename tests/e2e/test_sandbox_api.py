"""The sandbox's API semantics, driven with the official `kubernetes` client (sync, so a threaded sandbox)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
from support import crd

GROUP, VERSION, PLURAL = "sandbox.leakpatrol.test", "v1", "widgets"
WIDGET = {
    "size": {"type": "integer", "minimum": 1, "maximum": 10},
    "mode": {"type": "string", "enum": ["fast", "slow"], "default": "slow"},
    "name": {"type": "string", "pattern": "^[a-z]+$"},
}
CRD = crd(GROUP, VERSION, "Widget", WIDGET, required=("size",), short_names=("wdg",))


def message(exc: ApiException) -> str:
    return str(json.loads(exc.body)["message"])


@pytest.fixture(scope="module")
def api(sandbox: Any) -> Iterator[client.ApiClient]:
    with config.new_client_from_config(config_file=str(sandbox.kubeconfig_path)) as api_client:
        ext = client.ApiextensionsV1Api(api_client)
        try:
            ext.create_custom_resource_definition(CRD)
        except ApiException as exc:
            assert exc.status == 409
        yield api_client


@pytest.fixture
def ns(api: client.ApiClient) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    yield name
    client.CoreV1Api(api).delete_namespace(name)


def test_server_sets_metadata_and_generate_name(api: client.ApiClient, ns: str) -> None:
    core = client.CoreV1Api(api)
    first = core.create_namespaced_config_map(ns, {"metadata": {"generateName": "cfg-"}, "data": {"a": "1"}})
    second = core.create_namespaced_config_map(ns, {"metadata": {"generateName": "cfg-"}, "data": {"a": "2"}})
    assert first.metadata.name.startswith("cfg-") and len(first.metadata.name) == len("cfg-") + 5
    assert first.metadata.name != second.metadata.name
    assert first.metadata.uid and first.metadata.creation_timestamp is not None
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)
    listing = core.list_namespaced_config_map(ns)
    assert int(listing.metadata.resource_version) >= int(second.metadata.resource_version)


def test_crud_put_conflict_and_delete(api: client.ApiClient, ns: str) -> None:
    core = client.CoreV1Api(api)
    cm = core.create_namespaced_config_map(ns, {"metadata": {"name": "c1"}, "data": {"k": "v"}})
    with pytest.raises(ApiException) as exists:
        core.create_namespaced_config_map(ns, {"metadata": {"name": "c1"}})
    assert exists.value.status == 409 and "already exists" in message(exists.value)
    cm.data = {"k": "v2"}
    replaced = core.replace_namespaced_config_map("c1", ns, cm)  # PUT with the current resourceVersion
    assert replaced.data == {"k": "v2"}
    cm.data = {"k": "stale"}
    with pytest.raises(ApiException) as stale:
        core.replace_namespaced_config_map("c1", ns, cm)  # PUT with the old resourceVersion
    assert stale.value.status == 409 and "the object has been modified" in message(stale.value)
    patched = core.patch_namespaced_config_map("c1", ns, {"data": {"extra": "1"}})
    assert patched.data == {"k": "v2", "extra": "1"}
    core.delete_namespaced_config_map("c1", ns)
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_config_map("c1", ns)
    assert gone.value.status == 404 and message(gone.value) == 'configmaps "c1" not found'


def test_a_uid_in_a_patch_or_update_is_a_precondition(api: client.ApiClient, ns: str) -> None:
    """As the real storage layer: a body naming another uid is refused with 409, nothing written
    (what keeps a restart addressed to one Deployment off a re-created one of the same name)."""
    core = client.CoreV1Api(api)
    cm = core.create_namespaced_config_map(ns, {"metadata": {"name": "u1"}, "data": {"k": "v"}})
    other = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(ApiException) as patched:
        core.patch_namespaced_config_map("u1", ns, {"metadata": {"uid": other}, "data": {"k": "x"}})
    text = message(patched.value)
    assert (
        patched.value.status == 409
        and f"UID in precondition: {other}, UID in object meta: {cm.metadata.uid}" in text
    )
    cm.metadata.uid = other
    with pytest.raises(ApiException) as replaced:
        core.replace_namespaced_config_map("u1", ns, cm)
    assert replaced.value.status == 409 and "Precondition failed" in message(replaced.value)
    same = core.patch_namespaced_config_map(
        "u1",
        ns,
        {"metadata": {"uid": core.read_namespaced_config_map("u1", ns).metadata.uid}, "data": {"k": "y"}},
    )
    assert same.data == {"k": "y"}


def test_json_patch_test_failure_is_422(api: client.ApiClient, ns: str) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(ns, {"metadata": {"name": "jp"}, "data": {"k": "v"}})
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "0"},
        {"op": "replace", "path": "/data/k", "value": "x"},
    ]
    with pytest.raises(ApiException) as failed:
        core.patch_namespaced_config_map("jp", ns, ops)
    assert failed.value.status == 422


def test_list_with_label_and_field_selectors(api: client.ApiClient, ns: str) -> None:
    core = client.CoreV1Api(api)
    for name, tier in (("a", "web"), ("b", "db"), ("c", "web")):
        core.create_namespaced_config_map(ns, {"metadata": {"name": name, "labels": {"tier": tier}}})
    names = lambda items: sorted(i.metadata.name for i in items.items)  # noqa: E731
    assert names(core.list_namespaced_config_map(ns, label_selector="tier=web")) == ["a", "c"]
    assert names(core.list_namespaced_config_map(ns, label_selector="tier in (db),!missing")) == ["b"]
    assert names(core.list_namespaced_config_map(ns, label_selector="tier!=web")) == ["b"]
    assert names(core.list_namespaced_config_map(ns, field_selector="metadata.name=c")) == ["c"]
    assert [n.metadata.name for n in core.list_namespace().items if n.metadata.name == ns] == [ns]


def test_watch_with_selector_and_timeout(api: client.ApiClient, ns: str) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(ns, {"metadata": {"name": "w0", "labels": {"app": "x"}}})
    start = core.list_namespaced_config_map(ns).metadata.resource_version

    def produce() -> None:
        time.sleep(0.3)
        core.create_namespaced_config_map(ns, {"metadata": {"name": "w1", "labels": {"app": "x"}}})
        core.create_namespaced_config_map(ns, {"metadata": {"name": "other", "labels": {"app": "y"}}})
        core.patch_namespaced_config_map("w1", ns, {"data": {"k": "v"}})
        core.patch_namespaced_config_map("w1", ns, {"metadata": {"labels": {"app": "gone"}}})

    threading.Thread(target=produce).start()
    began = time.monotonic()
    seen = [
        (e["type"], e["object"].metadata.name)
        for e in watch.Watch().stream(
            core.list_namespaced_config_map,
            ns,
            label_selector="app=x",
            resource_version=start,
            timeout_seconds=2,
        )
    ]
    assert seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]  # leaving the selector = DELETED
    assert 1.5 < time.monotonic() - began < 5  # the server closed the stream at timeoutSeconds


def test_custom_resource_status_subresource_and_generation(api: client.ApiClient, ns: str) -> None:
    crs = client.CustomObjectsApi(api)
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 2},
        "status": {"ignored": True},
    }
    created = crs.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)
    assert created["spec"] == {"size": 2, "mode": "slow"}  # the CRD default applied
    assert "status" not in created and created["metadata"]["generation"] == 1
    after_status = crs.patch_namespaced_custom_object_status(
        GROUP, VERSION, ns, PLURAL, "w", {"status": {"phase": "Ready"}, "spec": {"size": 9}}
    )
    assert after_status["status"] == {"phase": "Ready"} and after_status["spec"]["size"] == 2  # spec ignored
    assert after_status["metadata"]["generation"] == 1
    after_spec = crs.patch_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL, "w", {"spec": {"size": 3}, "status": {"phase": "Hacked"}}
    )
    assert after_spec["spec"]["size"] == 3 and after_spec["status"] == {"phase": "Ready"}  # status ignored
    assert after_spec["metadata"]["generation"] == 2


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        ({}, "spec.size", "Required value"),
        ({"size": 0}, "spec.size", "should be greater than or equal to 1"),
        ({"size": "big"}, "spec.size", "must be of type integer"),
        ({"size": 1, "mode": "warp"}, "spec.mode", 'supported values: "fast", "slow"'),
        ({"size": 1, "name": "X1"}, "spec.name", "should match '^[a-z]+$'"),
    ],
)
def test_custom_resource_schema_validation(
    api: client.ApiClient, ns: str, spec: dict[str, Any], field: str, words: str
) -> None:
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Widget", "metadata": {"name": "bad"}, "spec": spec}
    with pytest.raises(ApiException) as rejected:
        client.CustomObjectsApi(api).create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)
    assert rejected.value.status == 422
    text = message(rejected.value)
    assert text.startswith(f'Widget.{GROUP} "bad" is invalid: {field}: ') and words in text, text


def test_finalizers_delay_deletion(api: client.ApiClient, ns: str) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(ns, {"metadata": {"name": "f", "finalizers": ["x/y"]}})
    core.delete_namespaced_config_map("f", ns)
    marked = core.read_namespaced_config_map("f", ns)
    assert marked.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("f", ns, {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_config_map("f", ns)
    assert gone.value.status == 404
