"""Scale-out, end to end: three `leakpatrol operator` processes with the chart's sharding flags share
one sandbox and a few hundred pods across four policies in two namespaces.

Fetches are counted at the pods (tests/lightpods.py, one light server on every pod IP): every pod is
fetched by one replica per pass — never twice within half an interval — while the three replicas
each hold a share. Then the coordinator of the leaking policy is SIGKILLed: its pods are fetched
again within the lease (plus one interval), their series resume from the shard checkpoints, the
leak stays confirmed with the same finding as one replica makes, and no Event is posted twice.

LEAKPATROL_SHARD_PODS sets the pod count (150 by default: this box has 2 shared cores).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fakecluster import Clock
from harness import ROOT, Kubectl, OperatorProcess, condition, wait_until
from support import HELM, apply, chart_args, free_port
from test_scan_pass import FIRST_STAMP, corpus_server, scanner
from test_scan_pass import spec as fake_spec

from kubesandbox import Image, ThreadedSandbox

PODS = int(os.environ.get("LEAKPATROL_SHARD_PODS", "150"))
LEAKY = 6
INTERVAL = 3.0
LEASE = 6
IMAGE = "leakpatrol.test/hold"


def sharding_args(home: str, lease: str) -> list[str]:
    return chart_args(
        lease, home, "replicaCount=3", "sharding.enabled=true", f"leaderElection.leaseDuration={LEASE}s"
    )


def deployment(name: str, replicas: int) -> str:
    labels = {"app": name}
    return yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "app", "image": IMAGE}]}}},
    })  # fmt: skip


def leak_policy(name: str, app: str, port: int) -> str:
    return yaml.safe_dump({
        "apiVersion": "leakpatrol.dev/v1alpha1", "kind": "LeakPolicy", "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": app}},
                 "target": {"port": port, "transport": "Direct"},
                 "schedule": {"interval": f"{INTERVAL:.0f}s", "jitter": "0%"},
                 "profiles": {"heap": "Disabled", "goroutineleak": "Disabled"},
                 "detection": {"window": "2h", "warmup": "0s", "minSamples": 12}},
    })  # fmt: skip


class LightPods:
    def __init__(self, groups: dict[str, list[str]]) -> None:
        self.portfile = Path(tempfile.mkstemp(prefix="lightpods-")[1])
        argv = [f"{series}={','.join(ips)}" for series, ips in groups.items()]
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests/lightpods.py"), str(self.portfile), *argv]
        )
        line = wait_until(lambda: self.portfile.read_text().strip(), within=30, what="the light pods")
        _, port, _, control = line.split()
        self.port, self.control = int(port), int(control)

    def fetches(self) -> dict[str, list[float]]:
        got: dict[str, list[float]] = httpx.get(f"http://127.0.0.1:{self.control}/fetches", timeout=10).json()
        return got

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def pod_ips(k: Kubectl, ns: str, app: str, count: int) -> list[str]:
    def ready() -> list[str] | None:
        pods = k.json("get", "pods", "-n", ns, "-l", f"app={app}")["items"]
        ips = [p["status"].get("podIP") for p in pods if p["status"].get("phase") == "Running"]
        return [ip for ip in ips if ip] if len([ip for ip in ips if ip]) == count else None

    return wait_until(ready, within=180, every=2, what=f"{count} pods of {app}")


def metric(op: OperatorProcess, name: str, **labels: str) -> float:
    try:
        text = httpx.get(f"http://127.0.0.1:{op.metrics_port}/metrics", timeout=5).text
    except httpx.HTTPError:  # not serving yet
        return 0.0
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(name + ("{" + want + "}" if want else " ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def one_replica_finding() -> dict[str, Any]:
    """The same recorded leak through one scanner (the single-replica code path), in memory."""
    clock = Clock(FIRST_STAMP)
    cluster = corpus_server(clock)
    scan = scanner(cluster, clock)
    for _ in range(40):
        asyncio.run(scan.scan(cluster.body(fake_spec())))
        if cluster.status.get("leaking"):
            break
        clock.now += 60
    finding: dict[str, Any] = cluster.status["findings"][0]
    return finding


@pytest.mark.skipif(not HELM.exists(), reason="helm is not installed: `make setup`")
def test_three_replicas_share_the_pods_and_take_over_a_killed_one(
    sandbox: ThreadedSandbox, kubectl: Kubectl
) -> None:
    # Pods that only hold an IP: the light server answers for them. The sandbox copied IMAGES when
    # it started, so the image goes into its own table.
    sandbox.sandbox.images[IMAGE] = Image("/bin/sleep", ["3600"])
    suffix = uuid.uuid4().hex[:5]
    home, ns_a, ns_b = f"sh-home-{suffix}", f"sh-a-{suffix}", f"sh-b-{suffix}"
    for ns in (home, ns_a, ns_b):
        kubectl("create", "namespace", ns)
    fleet = (PODS - LEAKY) // 3
    apps = {
        (ns_a, "leaky"): LEAKY,
        (ns_a, "fleet-1"): fleet,
        (ns_b, "fleet-2"): fleet,
        (ns_b, "fleet-3"): fleet,
    }
    for (ns, app), n in apps.items():
        apply(kubectl, ns, deployment(app, n))
    ips = {app: pod_ips(kubectl, ns, app, n) for (ns, app), n in apps.items()}
    healthy = [ip for app, got in ips.items() if app != "leaky" for ip in got]
    pods = LightPods({"transport-per-request": ips["leaky"], "steady-pool": healthy})
    args = sharding_args(home, f"sh{suffix}")
    assert "--sharding" in args and "--shards=16" in args
    names = [f"sh{suffix}-leakpatrol-{x}" for x in "abc"]
    ops = {
        n: OperatorProcess(sandbox.kubeconfig_path, metrics_port=free_port(), identity=n, args=args,
                           env=dict(os.environ, POD_NAMESPACE=home, POD_NAME=n))
        for n in names
    }  # fmt: skip
    try:
        for op in ops.values():
            op.start()
        for op in ops.values():
            wait_until(lambda op=op: metric(op, "leakpatrol_shard_members") == 3, within=90, what="3 members")
        for (ns, app), _ in apps.items():
            apply(kubectl, ns, leak_policy(app, app, pods.port))

        def leaking() -> dict[str, Any] | None:
            lp = kubectl.json("get", "leakpolicy", "leaky", "-n", ns_a)
            c = condition(lp, "LeakDetected")
            return lp if c and c["status"] == "True" else None

        lp = wait_until(leaking, within=240, every=2, what="LeakDetected on the leaky policy")
        # --- every pod fetched by one replica per pass, the work spread over all three ---------
        window_start = time.time()
        time.sleep(4 * INTERVAL)
        fetched = pods.fetches()
        _assert_once_per_pass(fetched, window_start, time.time())
        held = {n: sum(metric(op, "leakpatrol_shard_targets", namespace=ns, policy=app)
                       for (ns, app) in apps) for n, op in ops.items()}  # fmt: skip
        assert sum(held.values()) == PODS and all(v > 0 for v in held.values()), held
        for (ns, app), n in apps.items():
            status = kubectl.json("get", "leakpolicy", app, "-n", ns)["status"]
            assert status["targets"]["selected"] == n, (app, status["targets"])
        finding = next(f for f in lp["status"]["findings"] if f["workload"]["name"] == "leaky")
        one = one_replica_finding()
        for key in ("signal", "state", "ruleId", "culprit"):
            assert finding[key] == one[key], key
        assert all(f["workload"]["name"] == "leaky" for f in lp["status"]["findings"])  # none healthy

        # --- kill the leaky policy's coordinator ------------------------------------------------
        coordinates = {n: metric(op, "leakpatrol_shard_coordinator", namespace=ns_a, policy="leaky")
                       for n, op in ops.items()}  # fmt: skip
        victim = next(n for n, c in coordinates.items() if c == 1)
        victim_pods = held[victim]
        ops[victim].kill()
        killed = time.time()
        survivors = [op for n, op in ops.items() if n != victim]

        def all_fetched_since() -> bool:
            return all(any(t > killed for t in ts) for ts in pods.fetches().values())

        wait_until(
            all_fetched_since, within=LEASE + 4 * INTERVAL + 10, what="every pod fetched after the kill"
        )
        took = max(min(t for t in ts if t > killed) for ts in pods.fetches().values()) - killed
        assert took < LEASE + 2 * INTERVAL + 4, f"take-over took {took:.1f}s"
        resumed = sum(_resumed(op) for op in survivors)
        assert resumed >= victim_pods, (resumed, victim_pods)  # every series of its shards resumed
        print(f"\n{PODS} pods, held {sorted(held.values())}; killed {victim} ({victim_pods} pods): "
              f"all fetched again {took:.1f}s later, {resumed} series resumed")  # fmt: skip
        time.sleep(3 * INTERVAL)
        window = time.time()
        time.sleep(3 * INTERVAL)
        _assert_once_per_pass(pods.fetches(), window, time.time())
        assert leaking(), "the leak did not survive the take-over"
        status = kubectl.json("get", "leakpolicy", "leaky", "-n", ns_a)["status"]
        assert victim not in status["shards"] and len(status["shards"]) == 2
        _assert_each_transition_posted_once(kubectl, ns_a)
    finally:
        for op in ops.values():
            op.stop()
        pods.stop()
    for op in ops.values():
        assert "Traceback" not in op.log(), op.log()[-3000:]


def _assert_once_per_pass(fetched: dict[str, list[float]], start: float, end: float) -> None:
    """One owner fetches a pod once per pass (interval + the pass's own time apart); two owners
    would fetch it at unrelated moments, so some two fetches would fall within half an interval."""
    for ip, times in fetched.items():
        inside = [t for t in times if start <= t <= end]
        assert inside, f"pod {ip} not fetched within {end - start:.0f}s"
        gaps = [b - a for a, b in itertools.pairwise(inside)]
        assert all(g > INTERVAL / 2 for g in gaps), f"pod {ip} fetched twice in one pass: {gaps}"


def _resumed(op: OperatorProcess) -> int:
    return sum(int(line.split(": resumed ")[1].split()[0]) for line in op.log().splitlines()
               if "(shard " in line and "series from checkpoint" in line)  # fmt: skip


def _assert_each_transition_posted_once(k: Kubectl, ns: str) -> None:
    items: list[dict[str, Any]] = k.json("get", "events", "-n", ns)["items"]
    ours = [e for e in items if e.get("reason") in ("LeakSuspected", "LeakDetected", "LeakResolved")]
    assert ours and not any(e["reason"] == "LeakResolved" for e in ours), [e["reason"] for e in ours]
    seen: dict[tuple[str, str, str], int] = {}
    for e in ours:
        key = (e["reason"], e["involvedObject"]["kind"], e["involvedObject"]["name"])
        seen[key] = seen.get(key, 0) + (e.get("count") or 1)
    assert all(n == 1 for n in seen.values()), json.dumps({"/".join(k): n for k, n in seen.items()})
