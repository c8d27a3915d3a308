"""API trouble mid-scan (5xx, 410, 409, a lost connection) never loses a series or wedges the loop.

The scan pass runs for real against the sandbox (real pods, real port-forward, real status
patches); a thin wrapper around the real KubeCluster fails chosen API calls the way an overloaded
or restarting API server does. The daemon's loop catches a failed pass and tries again later; the
question here is what the next pass finds.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping
from typing import Any

from harness import ROOT, Kubectl
from support import deploy_services, namespace

from kubesandbox import ThreadedSandbox
from leakpatrol.controller.capacity import SharedCapacity
from leakpatrol.controller.ports import EventIntent
from leakpatrol.controller.scanner import PolicyScanner
from leakpatrol.core import ObjectRef
from leakpatrol.kube import errors
from leakpatrol.kube.connection import connect
from leakpatrol.runtime.cluster import KubeCluster

NS = "faults"


class FlakyCluster(KubeCluster):
    """The real cluster adapter, with one scripted API failure per pass number."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.passes = 0
        self.script: dict[int, tuple[str, errors.ApiError]] = {}
        self.event_failures = 1  # Events are posted on transitions only: fail the first one, whenever
        self.event_failed_at: int | None = None

    def _maybe_fail(self, call: str) -> None:
        planned = self.script.get(self.passes)
        if planned is not None and planned[0] == call:
            raise planned[1]

    async def list_pods(self, namespace: str, selector: Mapping[str, Any]) -> list[dict[str, Any]]:
        self.passes += 1
        self._maybe_fail("list_pods")
        return await super().list_pods(namespace, selector)

    async def patch_status(self, policy: ObjectRef, status: Mapping[str, Any]) -> None:
        self._maybe_fail("patch_status")
        await super().patch_status(policy, status)

    async def post_event(self, intent: EventIntent) -> None:
        if self.event_failures:
            self.event_failures -= 1
            self.event_failed_at = self.passes
            raise errors.ApiUnavailable("connection reset by peer")
        await super().post_event(intent)


def _policy(k: Kubectl) -> dict[str, Any]:
    result: dict[str, Any] = k.json("get", "leakpolicy", "demo", "-n", NS)
    return result


async def test_failed_passes_keep_every_series(sandbox: ThreadedSandbox, kubectl: Kubectl) -> None:
    deploy_services(kubectl, namespace(kubectl, NS))
    kubectl("apply", "-n", NS, "-f", str(ROOT / "examples/leakpolicy-demo.yaml"))
    body = _policy(kubectl)
    cluster = FlakyCluster(await connect(str(sandbox.kubeconfig_path)))
    cluster.script = {
        2: ("list_pods", errors.ServerError(503, "ServiceUnavailable", "etcdserver: leader changed")),
        4: ("patch_status", errors.Conflict(409, "Conflict", "the object has been modified")),
        5: ("list_pods", errors.Gone(410, "Expired", "the continue token has expired")),
        9: ("patch_status", errors.ServerError(500, "InternalError", "etcd timeout")),
    }
    ref = ObjectRef.of(body)
    scanner = PolicyScanner(cluster, ref, SharedCapacity())
    failed: list[int] = []
    samples: list[int] = []
    try:
        for _ in range(24):
            try:
                await scanner.scan(_policy(kubectl))
            except errors.ApiError:
                failed.append(cluster.passes)  # the daemon logs, posts ScanFailed, backs off
            samples.append(min((len(e.goroutines.tracker) for e in scanner.evaluators.values()), default=0))
            await asyncio.sleep(1)
    finally:
        await cluster.aclose()

    # Each scripted failure failed its pass, and so did the first Event's (whichever pass that was).
    assert set(failed) == {2, 4, 5, 9, cluster.event_failed_at} and len(failed) == len(set(failed))
    # A pass that failed before fetching adds no sample; one that failed after keeps what it fetched.
    # Either way no series ever shrinks, and none restarts from zero.
    assert all(b >= a for a, b in itertools.pairwise(samples)), samples
    assert samples[-1] >= 24 - 2 - 4  # warm-up samples and the two failed listings
    status = _policy(kubectl)["status"]
    assert {c["type"]: c["status"] for c in status["conditions"]}["LeakDetected"] == "True"
    assert any(f["ruleId"] == "http-transport-per-request" for f in status["findings"])
    # The pass whose first Event failed wrote no status either, so the next pass saw the same
    # transition again and posted it: on the policy, the Deployment and the pod.
    leak_events = [e["involvedObject"]["kind"] for e in kubectl.json("get", "events", "-n", NS)["items"]
                   if e["reason"] == "LeakDetected"]  # fmt: skip
    assert sorted(leak_events) == ["Deployment", "LeakPolicy", "Pod"]
