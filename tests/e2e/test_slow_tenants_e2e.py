"""A tenant's slow pods cost that tenant, not the others, and never the operator's liveness.

One namespace runs 100 pods that answer every profile with a byte every 5 s (badpprof -mode slow
-period 5s) under four policies at the longest timeouts the operator allows: they would take every
fetch slot there is and hold each for a minute. Beside them a quiet namespace scans one healthy
pod every 2 s. Its cadence stays within 2x of its interval and `/healthz` answers 200 throughout,
while the slow tenant's own policies read Degraded, and a policy asking for an hour-long timeout
is refused naming the field. The real operator process against the sandbox, real Go programs.
"""

from __future__ import annotations

import itertools
import re
import statistics
import time
from datetime import datetime

import httpx
from harness import Kubectl, OperatorProcess, condition, wait_until
from support import SERVICES, apply, namespace, policy

HEALTHY = SERVICES.split("\n---\n")[1]
SLOW_PODS = 100
QUIET_INTERVAL = 2.0
WINDOW = 120.0  # seconds of watching: the slow policies' first passes are cut at 3 x 5 s + 60 s


def slow_pods(replicas: int) -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: slow}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: slow}}}}
  template:
    metadata: {{labels: {{app: slow}}}}
    spec:
      containers:
        - name: app
          image: leakpatrol.test/badpprof:slow
          args: ["-period", "5s"]
          ports: [{{name: http, containerPort: 8080}}]
"""


def lp(name: str, app: str, interval: str, timeouts: str) -> str:
    return f"""apiVersion: leakpatrol.dev/v1alpha1
kind: LeakPolicy
metadata: {{name: {name}}}
spec:
  selector: {{matchLabels: {{app: {app}}}}}
  target: {{port: http, timeouts: {timeouts}}}
  schedule: {{interval: {interval}, jitter: 0%}}
  profiles: {{heap: Disabled, goroutineleak: Disabled}}
  detection: {{window: 1m, warmup: 1s, minSamples: 6, maxSamples: 60}}
"""


LONGEST = "{connect: 1m, read: 1m, total: 1m}"  # the operator's maximum (--max-target-timeout 1m)
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def pass_times(log: str, ns: str, name: str) -> list[float]:
    marker = f"policy {ns}/{name}: scanned"
    return [
        datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        for line in log.splitlines()
        if marker in line and (m := STAMP.match(line))
    ]


def test_a_hundred_slow_pods_leave_another_namespace_its_cadence_and_healthz_healthy(
    kubectl: Kubectl, operator: OperatorProcess
) -> None:
    slow = namespace(kubectl, "slow")
    apply(kubectl, slow, slow_pods(SLOW_PODS))
    kubectl("rollout", "status", "-n", slow, "deployment/slow", "--timeout=240s", timeout=250)
    for i in range(4):  # a tenant may write as many policies as it likes
        apply(kubectl, slow, lp(f"hog-{i}", "slow", "5s", LONGEST))
    apply(kubectl, slow, lp("greedy", "slow", "5s", "{connect: 1s, read: 1h, total: 1h}"))
    quiet = namespace(kubectl, "quiet")
    apply(kubectl, quiet, HEALTHY)
    apply(
        kubectl,
        quiet,
        lp("demo", "healthy-http", f"{QUIET_INTERVAL:g}s", "{connect: 1s, read: 5s, total: 10s}"),
    )
    first = "the quiet tenant's first pass"
    wait_until(lambda: pass_times(operator.log(), quiet, "demo"), within=90, what=first)

    refused = condition(policy(kubectl, slow, "greedy"), "Ready") or {}
    assert refused.get("reason") == "InvalidSpec", refused
    assert "spec.target.timeouts.total: 1h exceeds the operator's maximum of 1m" in refused["message"]

    metrics_url = f"http://127.0.0.1:{operator.metrics_port}"
    began, codes, latency = time.time(), [], []
    while time.time() - began < WINDOW:
        t0 = time.monotonic()
        try:
            codes.append(httpx.get(f"{metrics_url}/healthz", timeout=5).status_code)
        except httpx.HTTPError as exc:
            codes.append(type(exc).__name__)  # type: ignore[arg-type]
        latency.append(time.monotonic() - t0)
        time.sleep(1)
    ended = time.time()

    times = [t for t in pass_times(operator.log(), quiet, "demo") if began <= t <= ended]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    p90 = sorted(gaps)[int(len(gaps) * 0.9)]
    summary = (
        f"{len(times)} quiet passes in {WINDOW:.0f}s (interval {QUIET_INTERVAL:g}s); gaps median"
        f" {statistics.median(gaps):.2f}s, p90 {p90:.2f}s, max {max(gaps):.2f}s;"
        f" /healthz {len(codes)} probes, median {statistics.median(latency):.3f}s, max {max(latency):.3f}s"
    )
    print(summary)
    assert set(codes) == {200}, (codes, summary)
    assert len(times) >= WINDOW / (2 * QUIET_INTERVAL), summary  # on average within 2x of its interval
    assert statistics.median(gaps) <= 2 * QUIET_INTERVAL, summary

    # The slow tenant's own policies say it: Degraded (their pods time out; the passes are cut).
    degraded = [condition(policy(kubectl, slow, f"hog-{i}"), "Degraded") or {} for i in range(4)]
    assert all(d.get("status") == "True" for d in degraded), degraded
    assert "pass overdue after" in operator.log()
    body = httpx.get(f"{metrics_url}/healthz", timeout=5)
    assert body.status_code == 200 and body.text.startswith("ok"), body.text
