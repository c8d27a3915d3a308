"""Big and hostile profiles against the operator process, in the sandbox.

A valid profile over the inline size is parsed in a worker and evaluated like any other (a
15,000-stack goroutine profile, a heap profile over 32 KiB: any such profile used to fail the
whole pass on a result that did not pickle back). And a hundred pods serving a small gzip that
inflates to a million samples keep their parses in the worker pool, taken in turn by namespace:
a quiet tenant beside them keeps its cadence and `/healthz` stays quick.
"""

from __future__ import annotations

import statistics
import tempfile
import time

import httpx
from harness import Kubectl, OperatorProcess, condition, wait_until
from hostile import distinct_stacks_profile, heap_profile, inflating_profile
from support import SERVICES, apply, deployment, namespace, policy

HEALTHY = SERVICES.split("\n---\n")[1]
BOMB_PODS = 100


def saved(data: bytes, suffix: str) -> str:
    with tempfile.NamedTemporaryFile(suffix=suffix, delete=False) as f:
        f.write(data)
    return f.name


def every_second(app: str, heap: str = "Disabled", interval: str = "1s") -> str:
    return f"""apiVersion: leakpatrol.dev/v1alpha1
kind: LeakPolicy
metadata: {{name: demo}}
spec:
  selector: {{matchLabels: {{app: {app}}}}}
  target: {{port: http, timeouts: {{connect: 1s, read: 5s, total: 10s}}}}
  schedule: {{interval: {interval}, jitter: 0%}}
  profiles: {{heap: {heap}, goroutineleak: Disabled}}
  detection: {{window: 1m, warmup: 1s, minSamples: 6, maxSamples: 60}}
"""


def served(app: str, args: list[str], replicas: int = 1) -> str:
    return deployment(app, "leakpatrol.test/badpprof:file", replicas, args=args)


def test_profiles_over_the_inline_size_are_scanned_and_evaluated_like_any_other(
    kubectl: Kubectl, operator: OperatorProcess
) -> None:
    goroutines, heap = distinct_stacks_profile(15_000), heap_profile(3_000)
    assert len(heap) > 32 << 10
    ns = namespace(kubectl, "big")
    apply(
        kubectl,
        ns,
        served("big", ["-file", saved(goroutines, ".pb.gz"), "-heap-file", saved(heap, ".pb.gz")]),
    )
    # A 15,000-stack profile takes seconds a pass on this loaded 2-core machine: a 1 s interval
    # would read PassesOverrun, which is true but not what this test is about.
    apply(kubectl, ns, every_second("big", heap="Enabled", interval="10s"))

    def evaluated() -> dict[str, object] | None:
        lp = policy(kubectl, ns)
        leak = condition(lp, "LeakDetected") or {}
        return lp if leak.get("reason") == "NoLeak" else None

    lp = wait_until(evaluated, within=240, what="an evaluation of the big profiles")
    status = lp["status"]
    assert status["targets"] == {"selected": 1, "scanned": 1, "failing": 0}, status
    degraded = condition(lp, "Degraded") or {}
    assert degraded.get("status") == "False", degraded
    assert "1 evaluated target(s)" in (condition(lp, "LeakDetected") or {})["message"]
    assert "internal error" not in operator.log()


def test_a_hundred_inflating_pods_leave_a_quiet_tenant_its_cadence(
    kubectl: Kubectl, operator: OperatorProcess
) -> None:
    bomb = inflating_profile(1_100_000)
    bombs = namespace(kubectl, "bombs")
    apply(kubectl, bombs, served("bomb", ["-file", saved(bomb, ".pb.gz")], replicas=BOMB_PODS))
    apply(kubectl, bombs, every_second("bomb"))
    quiet = namespace(kubectl, "calm")
    apply(kubectl, quiet, HEALTHY)
    apply(kubectl, quiet, every_second("healthy-http"))

    def refusing() -> dict[str, object] | None:
        lp = policy(kubectl, bombs)
        degraded = condition(lp, "Degraded") or {}
        failing = (lp.get("status") or {}).get("targets", {}).get("failing", 0)
        return lp if degraded.get("reason") == "ProfileTooLarge" and failing >= BOMB_PODS // 2 else None

    wait_until(refusing, within=240, what=f"ProfileTooLarge from {BOMB_PODS} inflating pods")
    wait_until(lambda: policy(kubectl, quiet).get("status"), within=60, what="the quiet tenant's first pass")

    metrics_url = f"http://127.0.0.1:{operator.metrics_port}"
    log = operator.log
    start, latency, began = log().count(f"policy {quiet}/demo: scanned"), [], time.monotonic()
    while time.monotonic() - began < 20:
        t0 = time.monotonic()
        assert httpx.get(f"{metrics_url}/healthz", timeout=5).status_code == 200
        latency.append(time.monotonic() - t0)
        time.sleep(0.5)
    elapsed = time.monotonic() - began
    quiet_passes = log().count(f"policy {quiet}/demo: scanned") - start
    # Within 2x of its 1 s interval: at least one pass per 2 s.
    assert quiet_passes >= elapsed / 2, f"{quiet_passes} quiet passes in {elapsed:.0f} s"
    assert statistics.median(latency) < 0.1, sorted(latency)
