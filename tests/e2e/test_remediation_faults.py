"""Remediation against the sandbox's API, in process: an API error while deciding means no action,
and evidence ConfigMaps are real, labelled and bounded per policy.

The scan passes run for real (real leaky-http pod, real port-forward, real status patches); a thin
wrapper around the real KubeCluster fails the reads the rails need, the way a struggling API
server would. No operator process here: it would act on the same policy.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from harness import ROOT, Kubectl
from support import deploy_services, namespace

from kubesandbox import ThreadedSandbox
from leakpatrol.controller.capacity import SharedCapacity
from leakpatrol.controller.ports import EvidenceCapture
from leakpatrol.controller.scanner import PolicyScanner
from leakpatrol.core import ObjectRef
from leakpatrol.kube import errors
from leakpatrol.kube.connection import connect
from leakpatrol.kube.evidence import list_evidence
from leakpatrol.runtime.cluster import KubeCluster


class NoReads(KubeCluster):
    """The real adapter, whose workload reads fail: 500, then a lost connection, then 503 ..."""

    failures = (
        errors.ServerError(500, "InternalError", "etcd timeout"),
        errors.ApiUnavailable("connection reset by peer"),
        errors.ServerError(503, "ServiceUnavailable", "etcdserver: leader changed"),
    )

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.reads = 0

    async def read_workload(self, ref: ObjectRef) -> dict[str, Any]:
        self.reads += 1
        raise self.failures[self.reads % len(self.failures)]


def _policy(k: Kubectl, ns: str) -> dict[str, Any]:
    result: dict[str, Any] = k.json("get", "leakpolicy", "demo", "-n", ns)
    return result


async def test_an_api_error_while_deciding_means_no_action(
    sandbox: ThreadedSandbox, kubectl: Kubectl
) -> None:
    ns = "rem-faults"
    deploy_services(kubectl, namespace(kubectl, ns))
    kubectl("label", "namespace", ns, "leakpatrol.dev/remediation=enabled")  # the admin's: act here
    kubectl("apply", "-n", ns, "-f", str(ROOT / "examples/leakpolicy-remediation-demo.yaml"))
    cluster = NoReads(await connect(str(sandbox.kubeconfig_path)))
    scanner = PolicyScanner(cluster, ObjectRef.of(_policy(kubectl, ns)), SharedCapacity())
    try:
        for _ in range(40):
            await scanner.scan(_policy(kubectl, ns))
            if cluster.reads >= 4:
                break
            await asyncio.sleep(1.5)
    finally:
        await cluster.aclose()
    status = _policy(kubectl, ns)["status"]
    assert cluster.reads >= 4, status.get("findings")  # the leak was confirmed, the rails read, failed
    remediation = status["remediation"]
    assert (
        remediation["lastSkip"]["reason"] == "DecisionFailed"
        and "nothing done" in remediation["lastSkip"]["message"]
    )
    assert not remediation.get("lastAction") and remediation["actions"] == []
    deploy = kubectl.json("get", "deployment", "leaky-http", "-n", ns)
    assert "kubectl.kubernetes.io/restartedAt" not in (
        deploy["spec"]["template"]["metadata"].get("annotations") or {}
    )
    assert len(kubectl.json("get", "rs", "-n", ns, "-l", "app=leaky-http")["items"]) == 1
    failed = [e for e in kubectl.json("get", "events", "-n", ns)["items"] if e["reason"] == "DecisionFailed"]
    assert {e["involvedObject"]["kind"] for e in failed} == {"LeakPolicy", "Deployment"}
    assert all(e["type"] == "Warning" for e in failed)


async def test_evidence_configmaps_are_labelled_and_bounded_per_policy(sandbox: ThreadedSandbox) -> None:
    cluster = KubeCluster(await connect(str(sandbox.kubeconfig_path)), "default")
    policy = ObjectRef("leakpatrol.dev/v1alpha1", "LeakPolicy", "bounded", "uid-bounded", "shop")
    other = ObjectRef("leakpatrol.dev/v1alpha1", "LeakPolicy", "other", "uid-other", "shop")
    workload = ObjectRef("apps/v1", "Deployment", "web", "uid-web", "shop")
    start = datetime(2030, 1, 1, tzinfo=UTC)
    try:
        await cluster.save_evidence(
            EvidenceCapture(other, workload, "web-0", start, {"goroutine.pb.gz": b"x"}), keep=5
        )
        names = []
        for i in range(7):
            capture = EvidenceCapture(
                policy,
                workload,
                "web-1",
                start + timedelta(minutes=i),
                {"goroutine.pb.gz": b"\x1f\x8b" + bytes([i])},
            )
            names.append((await cluster.save_evidence(capture, keep=5)).name)
        kept = await list_evidence(cluster.api, "default", policy.uid)
        assert [cm["metadata"]["name"] for cm in kept] == names[2:]  # the oldest two removed
        labels = kept[-1]["metadata"]["labels"]
        assert labels["leakpatrol.dev/policy"] == "bounded" and labels["leakpatrol.dev/namespace"] == "shop"
        assert (
            labels["leakpatrol.dev/workload"] == "Deployment.web" and labels["leakpatrol.dev/pod"] == "web-1"
        )
        assert len(await list_evidence(cluster.api, "default", other.uid)) == 1  # another policy's stay
        too_big = EvidenceCapture(policy, workload, "web-1", start, {"goroutine.pb.gz": b"0" * (800 << 10)})
        with pytest.raises(errors.CheckpointTooLarge):
            await cluster.save_evidence(too_big, keep=5)
    finally:
        await cluster.aclose()
