"""ApiClient, list_pods and resolve_workload against the sandbox's API server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import yaml
from support import NO_PROCESS, namespace_fixture, pod_manifest

from leakpatrol.kube.client import ApiClient, PatchType
from leakpatrol.kube.deployments import pods_left
from leakpatrol.kube.errors import ApiError, Conflict, NotFound
from leakpatrol.kube.owners import resolve_workload, resolve_workload_ref
from leakpatrol.kube.pods import list_pods, selector_string

ns = namespace_fixture("res")


async def test_connect_from_the_kubeconfig_sends_its_token(api: ApiClient, sandbox: Any) -> None:
    assert api.server == sandbox.url
    assert (await api.headers())["Authorization"] == f"Bearer {sandbox.token}"
    assert (await api.get("/api/v1/namespaces/default"))["metadata"]["name"] == "default"


async def test_api_errors_carry_the_servers_status(api: ApiClient, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/configmaps"
    with pytest.raises(NotFound, match='configmaps "nope" not found') as missing:
        await api.get(f"{path}/nope")
    assert (missing.value.status, missing.value.status_reason, missing.value.retryable) == (
        404,
        "NotFound",
        False,
    )

    created = await api.post(path, {"metadata": {"name": "c"}, "data": {"k": "v"}})
    with pytest.raises(Conflict) as exists:
        await api.post(path, {"metadata": {"name": "c"}})
    assert exists.value.status_reason == "AlreadyExists" and exists.value.retryable

    stale = {"metadata": {"resourceVersion": "1"}, "data": {"k": "w"}}
    with pytest.raises(Conflict, match="the object has been modified"):
        await api.patch(f"{path}/c", stale)
    current = {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}, "data": {"k": "w"}}
    assert (await api.patch(f"{path}/c", current))["data"] == {"k": "w"}
    ops = [{"op": "test", "path": "/data/k", "value": "x"}]
    with pytest.raises(ApiError) as invalid:
        await api.patch(f"{path}/c", ops, content_type=PatchType.JSON)
    assert invalid.value.status == 422 and not invalid.value.retryable
    await api.delete(f"{path}/c")
    with pytest.raises(NotFound):
        await api.delete(f"{path}/c")


async def test_list_pods_by_selector(sandbox: Any, api: ApiClient, ns: str) -> None:
    labels = [
        {"app": "a", "tier": "web"},
        {"app": "a", "tier": "db"},
        {"app": "b"},
        {"app": "a", "skip": "1"},
    ]
    for i, pod_labels in enumerate(labels):
        sandbox.apply_yaml(yaml.safe_dump(pod_manifest(f"p{i}", ns, image=NO_PROCESS, labels=pod_labels)))

    names = [p["metadata"]["name"] for p in await list_pods(api, ns, "app=a")]
    assert sorted(names) == ["p0", "p1", "p3"]
    selector = {
        "matchLabels": {"app": "a"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["web", "db"]},
            {"key": "skip", "operator": "DoesNotExist"},
        ],
    }
    assert selector_string(selector) == "app=a,tier in (web,db),!skip"
    pods = await list_pods(api, ns, selector_string(selector))
    assert sorted(p["metadata"]["name"] for p in pods) == ["p0", "p1"]
    assert all(p["apiVersion"] == "v1" and p["kind"] == "Pod" for p in pods)
    assert await list_pods(api, ns, "app=nothing") == []


async def test_resolve_workload(sandbox: Any, api: ApiClient, ns: str) -> None:
    template = {
        "metadata": {"labels": {"app": "web"}},
        "spec": pod_manifest("-", ns, image=NO_PROCESS)["spec"],
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": template},
    }
    sandbox.apply_yaml(yaml.safe_dump(deployment))
    deployed = sandbox.call(
        sandbox.sandbox.wait_for("apps/v1", "deployments", ns, "web", lambda d: d is not None)
    )
    pods: list[dict[str, Any]] = []
    for _ in range(100):
        pods = await list_pods(api, ns, "app=web")
        if pods:
            break
        await asyncio.sleep(0.05)  # the sandbox's ReplicaSet controller creates it
    assert len(pods) == 1 and pods[0]["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
    assert await resolve_workload(api, pods[0]) == ("Deployment", "web")
    ref = await resolve_workload_ref(api, pods[0])
    assert (ref.api_version, ref.uid, ref.namespace) == ("apps/v1", deployed["metadata"]["uid"], ns)

    bare = sandbox.apply_yaml(yaml.safe_dump(pod_manifest("bare", ns, image=NO_PROCESS)))[0]
    assert await resolve_workload(api, bare) == ("Pod", "bare")

    def owned(kind: str, api_version: str = "apps/v1") -> dict[str, Any]:
        ref = {
            "apiVersion": api_version,
            "kind": kind,
            "name": f"my-{kind.lower()}",
            "uid": "u1",
            "controller": True,
        }
        return {"metadata": {"name": "x-0", "namespace": ns, "ownerReferences": [ref]}}

    assert await resolve_workload(api, owned("StatefulSet")) == ("StatefulSet", "my-statefulset")
    assert await resolve_workload(api, owned("DaemonSet")) == ("DaemonSet", "my-daemonset")
    # A ReplicaSet that is already gone (mid-rollout): the ReplicaSet is the best answer left.
    assert await resolve_workload(api, owned("ReplicaSet")) == ("ReplicaSet", "my-replicaset")
    # A static pod is owned by its Node: it is its own workload.
    static = owned("Node", "v1") | {"apiVersion": "v1", "kind": "Pod"}
    static["metadata"]["uid"] = "u2"
    assert await resolve_workload(api, static) == ("Pod", "x-0")


async def test_pods_left_never_counts_the_callers_pod_nor_a_jobs(
    sandbox: Any, api: ApiClient, ns: str
) -> None:
    """The uninstall hook waits for the operator's pods to go: its own pod (POD_NAME), or any Job's
    pod a chart labelled like the operator's, must not keep it waiting."""
    job_owner = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": "cleanup",
        "uid": "0000",
        "controller": True,
    }
    for name, owners in (("op-1", []), ("hook-self", []), ("hook-job", [job_owner])):
        manifest = pod_manifest(name, ns, image=NO_PROCESS, labels={"app": "left"})
        manifest["metadata"]["ownerReferences"] = owners
        sandbox.apply_yaml(yaml.safe_dump(manifest))
    assert await pods_left(api, ns, "app=left") == 2  # the Job's pod is never counted
    assert await pods_left(api, ns, "app=left", own_pod="hook-self") == 1
