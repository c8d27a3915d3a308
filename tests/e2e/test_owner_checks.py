"""Owners are verified, never taken on trust: a pod's ownerReferences are whatever its author wrote.

Against the sandbox's API server (which, like a real one, refuses a patch whose body names another
uid), through the real `KubeCluster` the operator acts with: a spoofed owner restarts nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from support import NO_PROCESS, deployment, namespace_fixture, pod_manifest

from leakpatrol.core import ObjectRef
from leakpatrol.kube import errors
from leakpatrol.kube.client import ApiClient
from leakpatrol.kube.pods import list_pods
from leakpatrol.kube.restart import RESTARTED_AT
from leakpatrol.reasons import Reason
from leakpatrol.runtime.cluster import KubeCluster

pytestmark = pytest.mark.slow
SPOOFED_UID = "00000000-0000-4000-8000-000000000000"


ns = namespace_fixture("owners")


def imposter(ns: str, name: str, owner: dict[str, Any]) -> dict[str, Any]:
    pod = pod_manifest(name, ns, image=NO_PROCESS)
    pod["metadata"]["ownerReferences"] = [owner | {"name": owner["name"], "controller": True}]
    return pod


async def billing(sandbox: Any, api: ApiClient, ns: str) -> tuple[dict[str, Any], dict[str, Any]]:
    manifest = yaml.safe_load(deployment("billing", NO_PROCESS, 1))
    manifest["metadata"]["namespace"] = ns
    sandbox.apply_yaml(yaml.safe_dump(manifest))
    for _ in range(200):
        pods = await list_pods(api, ns, "app=billing")
        if pods:
            deployed = await api.get(f"/apis/apps/v1/namespaces/{ns}/deployments/billing")
            return deployed, pods[0]
        await asyncio.sleep(0.05)
    raise AssertionError("the sandbox's controllers made no pod for Deployment billing")


def restarted_at(obj: dict[str, Any]) -> str | None:
    annotations = obj["spec"]["template"]["metadata"].get("annotations") or {}
    return annotations.get(RESTARTED_AT)


async def test_a_spoofed_owner_restarts_nothing_and_a_real_one_still_does(
    sandbox: Any, api: ApiClient, ns: str
) -> None:
    cluster = KubeCluster(api, ns)
    deployed, real_pod = await billing(sandbox, api, ns)
    path = f"/apis/apps/v1/namespaces/{ns}/deployments/billing"
    now = datetime.now(UTC)

    # 1. Another group's "Deployment billing" is not the apps/v1 one: refused before any request.
    evil = {"apiVersion": "evil.example/v1", "kind": "Deployment", "name": "billing", "uid": SPOOFED_UID}
    pod = sandbox.apply_yaml(yaml.safe_dump(imposter(ns, "imposter-1", evil)))[0]
    ref = await cluster.workload_of(pod)
    assert (ref.api_version, ref.kind, ref.name) == ("evil.example/v1", "Deployment", "billing")
    with pytest.raises(errors.Rejected) as refused:
        await cluster.restart_workload(ref, now, dry_run=False)
    assert refused.value.reason is Reason.UNSUPPORTED_WORKLOAD

    # 2. The real ReplicaSet's name with a made-up uid: the pod is its own workload.
    rs = real_pod["metadata"]["ownerReferences"][0]
    fake_rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs["name"], "uid": SPOOFED_UID}
    pod = sandbox.apply_yaml(yaml.safe_dump(imposter(ns, "imposter-2", fake_rs)))[0]
    assert (await cluster.workload_of(pod)).kind == "Pod"

    # 3. apps/v1 Deployment billing with a made-up uid: the read says so, the API server refuses the patch.
    spoofed = ObjectRef("apps/v1", "Deployment", "billing", SPOOFED_UID, ns)
    with pytest.raises(errors.Rejected) as mismatch:
        await cluster.read_workload(spoofed)
    assert mismatch.value.reason is Reason.OWNER_MISMATCH
    with pytest.raises(errors.Conflict, match="Precondition failed: UID in precondition"):
        await cluster.restart_workload(spoofed, now, dry_run=False)
    assert restarted_at(await api.get(path)) is None

    # The real owner, resolved from the real pod, is restarted as before.
    real = await cluster.workload_of(real_pod)
    assert (real.api_version, real.uid) == ("apps/v1", deployed["metadata"]["uid"])
    await cluster.read_workload(real)
    await cluster.restart_workload(real, now, dry_run=False)
    assert restarted_at(await api.get(path)) == now.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_an_eviction_names_the_pod_by_uid_and_a_recreated_pod_is_not_evicted(
    sandbox: Any, api: ApiClient, ns: str
) -> None:
    """`deleteOptions.preconditions.uid`: the API server evicts the pod that was judged, never one
    re-created under its name since (409 Conflict, the pod left alone)."""
    cluster = KubeCluster(api, ns)
    pod = sandbox.apply_yaml(yaml.safe_dump(pod_manifest("stateful-0", ns, image=NO_PROCESS)))[0]
    path = f"/api/v1/namespaces/{ns}/pods/stateful-0"
    with pytest.raises(errors.Conflict, match="the UID in the precondition"):
        await cluster.evict_pod(ns, "stateful-0", uid=SPOOFED_UID, dry_run=False)
    assert (await api.get(path))["metadata"]["uid"] == pod["metadata"]["uid"]  # still there
    with pytest.raises(errors.Rejected) as no_uid:  # never by name alone: refused before any request
        await cluster.evict_pod(ns, "stateful-0", uid="", dry_run=False)
    assert no_uid.value.reason is Reason.OWNER_MISMATCH
    await cluster.evict_pod(ns, "stateful-0", uid=pod["metadata"]["uid"], dry_run=True)
    await api.get(path)  # a dry run evicts nothing
    await cluster.evict_pod(ns, "stateful-0", uid=pod["metadata"]["uid"], dry_run=False)
    with pytest.raises(errors.NotFound):
        await api.get(path)
