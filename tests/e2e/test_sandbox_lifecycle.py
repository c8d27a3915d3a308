"""Pod processes never outlive the sandbox: neither a ThreadedSandbox nor `python -m kubesandbox up`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from kubesandbox import ThreadedSandbox, processes

ROOT = Path(__file__).resolve().parents[2]
POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "life", "namespace": "default"},
    "spec": {
        "containers": [
            {"name": "app", "image": "leakpatrol.test/hello-pprof", "ports": [{"containerPort": 6060}]}
        ]
    },
}


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


def wait_pids(sb: ThreadedSandbox, timeout: float = 20) -> list[int]:
    deadline = time.monotonic() + timeout
    while not (pids := sb.pids().get("life")):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return pids


def test_threaded_sandbox_stop_kills_pod_processes() -> None:
    with ThreadedSandbox() as sb:
        sb.apply_yaml(yaml.safe_dump(POD))
        pids = wait_pids(sb)
        assert all(alive(pid) for pid in pids)
    assert not any(alive(pid) for pid in pids)
    assert not set(pids) & processes.live_groups()  # other sandboxes (the session one) may run pods


def test_up_command_prints_kubeconfig_and_cleans_up_on_ctrl_c(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    up = subprocess.Popen(
        [sys.executable, "-m", "kubesandbox", "up", "--kubeconfig", str(kubeconfig)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert up.stdout is not None
        up.stdout.readline()  # the URL line
        assert up.stdout.readline().strip() == f"export KUBECONFIG={kubeconfig}"
        kenv = {**os.environ, "KUBECONFIG": str(kubeconfig), "KUBECACHEDIR": str(tmp_path / "cache")}
        kubectl = [str(ROOT / ".venv" / "bin" / "kubectl")]
        subprocess.run(
            [*kubectl, "apply", "-f", "-"],
            input=yaml.safe_dump(POD),
            env=kenv,
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        )
        subprocess.run(
            [*kubectl, "wait", "--for=condition=Ready", "pod/life", "--timeout=30s"],
            env=kenv,
            check=True,
            capture_output=True,
            timeout=40,
        )
        children = [
            int(p)
            for p in subprocess.run(
                ["pgrep", "-f", "hello-pprof -listen"], capture_output=True, text=True, check=False
            ).stdout.split()
        ]
        ours = [pid for pid in children if Path(f"/proc/{pid}/stat").read_text().split()[3] == str(up.pid)]
        assert len(ours) == 1
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(timeout=20)
    assert up.returncode == 0, up.stderr.read() if up.stderr else ""
    assert not alive(ours[0])
