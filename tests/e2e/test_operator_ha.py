"""Replicas and identity, end to end: two `leakpatrol operator` processes started with the flags the
chart renders share one sandbox; exactly one scans, the other takes over within the lease when the
first is killed, and no Event is posted twice. And start-up as a UID with no passwd entry works."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import Kubectl, OperatorProcess, condition, wait_until
from support import DEMO_POLICY, HELM, apply, chart_args, deploy_services, free_port

from kubesandbox import ThreadedSandbox

LEASE_SECONDS = 6


def rendered_args(home: str) -> list[str]:
    """The operator container's args from `helm template` of the HA values."""
    return chart_args("lp", home, "replicaCount=2", f"leaderElection.leaseDuration={LEASE_SECONDS}s")


def holder(k: Kubectl, home: str) -> str | None:
    lease = k.json("get", "lease", "lp-leakpatrol", "-n", home) if _has_lease(k, home) else {}
    return (lease.get("spec") or {}).get("holderIdentity") or None


def _has_lease(k: Kubectl, home: str) -> bool:
    return bool(k("get", "lease", "lp-leakpatrol", "-n", home, "--ignore-not-found"))


def fetches(op: OperatorProcess, ns: str) -> int:
    """Targets scanned, from the operator's one line per pass (httpx's per-request lines are off)."""
    return sum(int(n) for n in re.findall(rf"policy {ns}/[^:]+: scanned ([0-9]+) of", op.log()))


@pytest.mark.skipif(not HELM.exists(), reason="helm is not installed: `make setup`")
def test_one_replica_scans_and_a_standby_takes_over(sandbox: ThreadedSandbox, kubectl: Kubectl) -> None:
    suffix = uuid.uuid4().hex[:5]
    home, ns = f"ha-home-{suffix}", f"ha-app-{suffix}"
    kubectl("create", "namespace", home)
    kubectl("create", "namespace", ns)
    deploy_services(kubectl, ns)
    args = rendered_args(home)
    assert "--leader-election" in args and "--lease-name=lp-leakpatrol" in args
    ops = {
        name: OperatorProcess(
            sandbox.kubeconfig_path,
            metrics_port=free_port(),
            identity=name,
            args=args,
            env=dict(os.environ, POD_NAMESPACE=home, POD_NAME=name),
        )
        for name in (f"lp-leakpatrol-{suffix}-a", f"lp-leakpatrol-{suffix}-b")
    }
    try:
        for op in ops.values():
            op.start()
        leader_name = wait_until(lambda: holder(kubectl, home), within=60, what="a Lease holder")
        leader = ops[leader_name]
        (standby,) = (op for name, op in ops.items() if name != leader_name)
        for op in ops.values():  # both ready: a standby is live and ready, just not leading
            wait_until(lambda op=op: _get(op, "/readyz").status_code == 200, within=60, what="/readyz")
        assert _get(leader, "/readyz").text.endswith("leader")
        assert _get(standby, "/readyz").text.endswith("standby")

        apply(kubectl, ns, DEMO_POLICY)
        wait_until(lambda: _leak_detected(kubectl, ns), within=120, what="LeakDetected")
        assert fetches(leader, ns) > 0 and fetches(standby, ns) == 0, "the standby scanned"
        assert "leakpatrol_leader 0.0" in _get(standby, "/metrics").text

        leader.kill()  # a crash: the Lease is not released, the standby must wait it out
        killed = time.monotonic()
        wait_until(
            lambda: holder(kubectl, home) == standby.identity, within=LEASE_SECONDS + 20, what="take-over"
        )
        took = time.monotonic() - killed
        # The lease, plus one retry (2/15 of it) and kubectl's polling on 2 busy cores.
        assert took < LEASE_SECONDS + 6, f"take-over took {took:.1f}s"
        before = fetches(standby, ns)
        wait_until(lambda: fetches(standby, ns) > before, within=30, what="the new leader scanning")
        assert "resumed 2 series from checkpoint" in standby.log()
        time.sleep(4)  # a few passes of the new leader: the transitions it inherited are not re-posted
        _assert_each_transition_posted_once(kubectl, ns)
    finally:
        for op in ops.values():
            op.stop()
    for op in ops.values():
        assert "Traceback" not in op.log(), op.log()[-3000:]


def _get(op: OperatorProcess, path: str) -> httpx.Response:
    try:
        return httpx.get(f"http://127.0.0.1:{op.metrics_port}{path}", timeout=5)
    except httpx.HTTPError:
        return httpx.Response(599)


def _leak_detected(k: Kubectl, ns: str) -> bool:
    c = condition(k.json("get", "leakpolicy", "demo", "-n", ns), "LeakDetected")
    return bool(c and c["status"] == "True")


def _assert_each_transition_posted_once(k: Kubectl, ns: str) -> None:
    items: list[dict[str, Any]] = k.json("get", "events", "-n", ns)["items"]
    ours = [e for e in items if e.get("reason") in ("LeakSuspected", "LeakDetected")]
    assert ours, "no leak Events at all"
    seen: dict[tuple[str, str, str], int] = {}
    for e in ours:
        key = (e["reason"], e["involvedObject"]["kind"], e["involvedObject"]["name"])
        seen[key] = seen.get(key, 0) + (e.get("count") or 1)
    assert all(n == 1 for n in seen.values()), seen


def _userns_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    done = subprocess.run(
        ["unshare", "--user", "--map-user=54321", "--map-group=54321", "true"],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


@pytest.mark.skipif(not _userns_works(), reason="needs `unshare --user` (root, or user namespaces enabled)")
def test_starts_under_a_uid_without_a_passwd_entry(
    sandbox: ThreadedSandbox, kubectl: Kubectl, tmp_path: Path
) -> None:
    """OpenShift's restricted SCC (or any runAsUser) runs us as a UID /etc/passwd does not know;
    kopf's default identity would call getpwuid() and crash. No $USER, no $POD_NAME either."""
    env = {key: v for key, v in os.environ.items() if key not in ("USER", "LOGNAME", "LNAME", "USERNAME")}
    env.pop("POD_NAME", None)
    lease = f"uid-{uuid.uuid4().hex[:5]}"
    op = OperatorProcess(
        sandbox.kubeconfig_path,
        metrics_port=free_port(),
        identity="",  # let the operator choose: it must not ask the passwd database
        args=["--lease-name", lease],
        env=env,
        prefix=["unshare", "--user", "--map-user=54321", "--map-group=54321"],
    )
    with op:
        wait_until(lambda: _get(op, "/readyz").status_code == 200, within=60, what="/readyz")
        got = kubectl.json("get", "lease", lease, "-n", "default")["spec"]["holderIdentity"]
        assert got == f"{socket.gethostname()}-{op.proc.pid if op.proc else 0}"
    assert "getpwuid" not in op.log() and "Traceback" not in op.log(), op.log()[-3000:]
