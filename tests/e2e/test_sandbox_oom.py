"""The sandbox kills like a node: a container over its `resources.limits.memory` is OOMKilled (exit
137) by the kernel in its own memory cgroup (or by the watchdog where cgroups are not ours), and
the kubelet restarts it per `restartPolicy` with CrashLoopBackOff's doubling back-off, reporting
it as a real kubelet does. Every cgroup goes with its container, its pod and its sandbox.

`pytest -k oom` selects these (and the operator's OOM tests); the mechanism that ran is printed.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness import Kubectl
from support import Obj, delete_namespace, namespace_fixture, say, wait_pod

from kubesandbox import Backoff, Sandbox, ThreadedSandbox, memory

LEAK = "leakpatrol.test/scenario:transport-per-request"
HELLO = "leakpatrol.test/hello-pprof"


@pytest.fixture(scope="module", autouse=True)
def _say_the_mechanism(sandbox: ThreadedSandbox, pytestconfig: pytest.Config) -> None:
    """Which enforcement ran, in the test output even without -s."""
    say(pytestconfig, f"\nkubesandbox memory limits enforced by: {sandbox.sandbox.limits.mechanism}")


ns = namespace_fixture("oom", scope="function")


def hog(name: str, ns: str, *, limit: str = "48Mi", image: str = LEAK, rate: str = "40", **spec: Any) -> Obj:
    """A pod whose container leaks ~8 MiB/s (transport-per-request at 40x) under `limit`."""
    container = {
        "name": "app",
        "image": image,
        "ports": [{"containerPort": 8080}],
        "resources": {"limits": {"memory": limit}},
        **({"args": ["-leak-rate", rate]} if image == LEAK else {}),
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"containers": [container], **spec},
    }


def status_of(sandbox: ThreadedSandbox, ns: str, name: str) -> Obj:
    sb = sandbox.sandbox
    pod = sandbox.run(sb.store.find, sb.kind("v1", "pods"), ns, name)
    return ((pod or {}).get("status") or {}) if pod else {}


def resource_version(sandbox: ThreadedSandbox) -> int:
    return int(sandbox.run(lambda: sandbox.sandbox.store.resource_version))


def watch(
    sandbox: ThreadedSandbox, ns: str, name: str, until: Any, *, since: int, timeout: float = 60
) -> list[Obj]:
    """Every distinct containerStatus the pod went through after resourceVersion `since` until
    `until(status)` holds, read from the store's change log (what a watch replays): a 500 ms
    back-off state is not missed when a loaded machine stalls this thread's polls for longer."""
    sb = sandbox.sandbox
    deadline = time.monotonic() + timeout
    while True:
        seen: list[Obj] = []
        for obj in sandbox.run(history, sb, since, ns, name):
            cs = ((obj.get("status") or {}).get("containerStatuses") or [None])[0]
            if cs is not None and (not seen or cs != seen[-1]):
                seen.append(cs)
                if until(cs):
                    return seen
        assert time.monotonic() < deadline, f"timed out; last states: {seen[-3:]}"
        time.sleep(0.2)


def history(sb: Sandbox, since: int, ns: str, name: str) -> list[Obj]:
    """The pod's stored versions after resourceVersion `since`, oldest first (on the sandbox's loop)."""
    pods = sb.kind("v1", "pods").key()
    return [
        new
        for rv, kind, _, _, new in sb.store.log
        if rv > since and kind.key() == pods and new["metadata"].get("namespace") == ns
        and new["metadata"]["name"] == name
    ]  # fmt: skip


def cgroups_of(uid: str) -> list[Path]:
    return [p for p in memory.live() if p.name.startswith(uid)]


def test_oom_pod_over_its_limit_is_oomkilled_and_crash_loops(
    sandbox: ThreadedSandbox, kubectl: Kubectl, ns: str
) -> None:
    since = resource_version(sandbox)
    sandbox.apply_yaml(yaml.safe_dump(hog("hog", ns)))
    seen = watch(sandbox, ns, "hog", lambda cs: cs["restartCount"] >= 3, since=since)
    waits = [cs["state"]["waiting"] for cs in seen if "waiting" in cs["state"]]
    loops = [w for w in waits if w["reason"] == "CrashLoopBackOff"]
    assert len(loops) >= 3, waits
    # The kubelet's message, with its doubling back-off (the session sandbox: 0.5 s base).
    assert [re.match(r"back-off (\S+) restarting failed container=app pod=hog_", w["message"]) for w in loops]
    delays = [re.search(r"back-off (\S+) ", w["message"]).group(1) for w in loops]  # type: ignore[union-attr]
    assert delays[:3] == ["500ms", "1s", "2s"], delays
    counts = [cs["restartCount"] for cs in seen]
    assert counts == sorted(counts) and counts[-1] >= 3
    for cs in seen:
        last = cs["lastState"].get("terminated")
        if last is not None:
            assert (last["reason"], last["exitCode"]) == ("OOMKilled", 137), last
            began, ended = (stamp(last[k]) for k in ("startedAt", "finishedAt"))
            assert began <= ended
    # What a person sees: `kubectl describe pod`.
    described = kubectl("describe", "pod", "hog", "-n", ns)
    assert re.search(r"Last State:\s+Terminated\s+Reason:\s+OOMKilled\s+Exit Code:\s+137", described), (
        described
    )
    assert re.search(r"Restart Count:\s+[3-9]", described), described
    assert "Back-off restarting failed container app in pod hog_" in described, described
    assert re.search(r"QoS Class:\s+Burstable", described), described


def test_oom_pod_under_its_limit_is_never_killed(sandbox: ThreadedSandbox, ns: str) -> None:
    sandbox.apply_yaml(yaml.safe_dump(hog("calm", ns, limit="64Mi", image=HELLO)))
    pod = wait_pod(sandbox, ns, "calm", lambda p: bool(p and (p.get("status") or {}).get("podIP")))
    uid = pod["metadata"]["uid"]
    mechanism = sandbox.sandbox.limits.mechanism
    if mechanism in (memory.CGROUP_V1, memory.CGROUP_V2):  # the limit is the kernel's to enforce
        (cell,) = wait_for(lambda: cgroups_of(uid))
        limit_file = "memory.max" if mechanism == memory.CGROUP_V2 else "memory.limit_in_bytes"
        assert int((cell / limit_file).read_text()) == 64 << 20
    time.sleep(6)
    cs = status_of(sandbox, ns, "calm")["containerStatuses"][0]
    assert cs["restartCount"] == 0 and cs["lastState"] == {} and "running" in cs["state"], cs
    # Deleted mid-run: its process and its cgroup go with it.
    delete_namespace(sandbox, ns)
    wait_for(lambda: not cgroups_of(uid) or None)


def test_oom_with_restart_policy_never_the_pod_fails(sandbox: ThreadedSandbox, ns: str) -> None:
    sandbox.apply_yaml(yaml.safe_dump(hog("once", ns, restartPolicy="Never")))
    status = wait_for(lambda: (s := status_of(sandbox, ns, "once")).get("phase") == "Failed" and s, 60)
    cs = status["containerStatuses"][0]
    assert cs["state"]["terminated"]["reason"] == "OOMKilled" and cs["state"]["terminated"]["exitCode"] == 137
    assert cs["restartCount"] == 0 and not cs["ready"]


@pytest.mark.parametrize("mechanism", ["auto", memory.WATCHDOG])
async def test_oom_every_cgroup_goes_with_its_sandbox(mechanism: str) -> None:
    """A sandbox of its own (the watchdog forced in one): pods OOMKilled, one deleted mid-run,
    then the sandbox stops with a pod running: no cgroup of it is left on the machine."""
    async with Sandbox(
        memory_limits=None if mechanism == "auto" else mechanism, backoff=Backoff(0.2, 1)
    ) as sb:
        root = getattr(sb.limits, "root", None)
        sb.apply(hog("a", "default"))
        sb.apply(hog("b", "default", limit="128Mi", image=HELLO))
        pod = await sb.wait_for(
            "v1", "pods", "default", "a",
            lambda p: any(
                ((c.get("lastState") or {}).get("terminated") or {}).get("reason") == "OOMKilled"
                for c in ((p or {}).get("status") or {}).get("containerStatuses") or []
            ),
            within=60,
        )  # fmt: skip
        assert sb.limits.mechanism == (memory.WATCHDOG if mechanism != "auto" else sb.limits.mechanism)
        sb.store.delete(sb.kind("v1", "pods"), "default", "a")
        await sb.wait_for("v1", "pods", "default", "b", lambda p: bool(p and p["status"].get("podIP")))
    assert not [p for p in memory.live() if root is not None and root in (p, *p.parents)]
    if root is not None:
        assert not root.exists(), list(root.iterdir())
    assert pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 137


def stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def wait_for(check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return value


def test_oom_quantities() -> None:
    assert memory.parse_bytes("64Mi") == 64 << 20
    assert memory.parse_bytes("128M") == 128_000_000
    assert memory.parse_bytes("1.5Gi") == 3 << 29
    assert memory.parse_bytes("1e9") == 10**9
    with pytest.raises(ValueError, match="not a memory quantity"):
        memory.parse_bytes("64 MB")
    assert memory.container_limit({"resources": {"limits": {"memory": "1Ki"}}}) == 1024
    assert memory.container_limit({"name": uuid.uuid4().hex}) is None
