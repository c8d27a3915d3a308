"""`make demo-oom`: leak -> OOMKilled -> restart -> leak again, found, said, and not restarted into.

Starts the sandbox (its kubelet enforces memory limits: a memory cgroup per container where the
machine allows, else a watchdog; it says which), deploys the seed's leaking service under a 48Mi
limit (examples/demo/oom.yaml: OOMKilled about once a minute), runs `leakpatrol operator`, applies
examples/leakpolicy-oom-demo.yaml (a 2-minute window no single life fills, remediation on), and
waits for the verdict across lives. Ends with what a person looks at: `kubectl describe pod`
showing the OOMKilled restarts and leakpatrol's finding (culprit persistConn, rule
http-transport-per-request, the kills, the fix), and the remediation that did nothing and said why.
Exits 0 only when all of that happened. About three minutes.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))

from demo import show  # noqa: E402
from harness import Kubectl, OperatorProcess, wait_until  # noqa: E402

from kubesandbox import Backoff, ThreadedSandbox  # noqa: E402

os.environ.setdefault("SCENARIO_MINUTE", "1s")  # the service runs a minute of its life each second


def leaky_pod(k: Kubectl) -> dict[str, Any]:
    items = k.json("get", "pods", "-l", "app=leaky-oom")["items"]
    return dict(items[0]) if items else {}


def finding(k: Kubectl) -> dict[str, Any] | None:
    status = k.json("get", "leakpolicy", "demo").get("status") or {}
    return next((f for f in status.get("findings") or [] if f["state"] == "Confirmed"), None)


def main() -> int:
    failures: list[str] = []
    with ThreadedSandbox(backoff=Backoff(base=1.0, cap=20.0)) as sb:
        print(f"kubesandbox: memory limits enforced by {sb.sandbox.limits.mechanism}", flush=True)
        k = Kubectl(sb.kubeconfig_path)
        show(k, "apply", "-f", str(ROOT / "crds"))
        show(k, "apply", "-f", str(ROOT / "examples/demo/oom.yaml"))
        with OperatorProcess(sb.kubeconfig_path) as operator:
            show(k, "apply", "-f", str(ROOT / "examples/leakpolicy-oom-demo.yaml"))
            started, restarts = time.monotonic(), -1

            def progress() -> dict[str, Any] | None:
                nonlocal restarts
                cs = ((leaky_pod(k).get("status") or {}).get("containerStatuses") or [{}])[0]
                if cs.get("restartCount", 0) != restarts:
                    restarts = cs.get("restartCount", 0)
                    last = (cs.get("lastState") or {}).get("terminated") or {}
                    state = next(iter(cs.get("state") or {}), "?")
                    ended = f", last life ended {last.get('reason')} ({last.get('exitCode')})" if last else ""
                    print(
                        f"  {time.monotonic() - started:4.0f}s  restarts={restarts}  {state}{ended}",
                        flush=True,
                    )
                return finding(k)

            try:
                f = wait_until(progress, within=300, every=2, what="the leak confirmed across lives")
                wait_until(
                    lambda: (
                        ((k.json("get", "leakpolicy", "demo").get("status") or {}).get("remediation") or {})
                        .get("lastSkip", {})
                        .get("reason")
                        == "OOMLoop"
                    ),
                    within=60,
                    what="remediation's OOMLoop skip",
                )
            except TimeoutError as exc:
                print(f"\nFAILED: {exc}\n--- operator log ---\n{operator.log()[-5000:]}", file=sys.stderr)
                return 1
            print(f"\nconfirmed across lives {time.monotonic() - started:.0f}s after the policy was applied")
            show(k, "get", "pods")
            pod = leaky_pod(k)["metadata"]["name"]
            described = show(k, "describe", "pod", pod)
            show(k, "describe", "leakpolicy", "demo")
            remediation = (k.json("get", "leakpolicy", "demo").get("status") or {}).get("remediation") or {}
            template = k.json("get", "deployment", "leaky-oom")["spec"]["template"]
    # What a person must have seen, checked.
    if not re.search(r"Last State:\s+Terminated\s+Reason:\s+OOMKilled\s+Exit Code:\s+137", described):
        failures.append("kubectl describe pod does not show the OOMKilled last state")
    if not re.search(r"Restart Count:\s+[1-9]", described):
        failures.append("kubectl describe pod shows no restart")
    if "LeakDetected" not in described or "persistConn" not in described:
        failures.append("the pod's Events lack leakpatrol's finding naming persistConn")
    if f.get("ruleId") != "http-transport-per-request" or not any("persistConn" in c for c in f["culprit"]):
        failures.append(f"the finding's culprit or rule is not the transport leak: {f}")
    if not f.get("oomKills") or not (f.get("lives") or {}).get("across") or not f.get("fix"):
        failures.append(f"the finding does not carry the kills, the lives and the fix: {f}")
    if "lastAction" in remediation or "kubectl.kubernetes.io/restartedAt" in (
        (template.get("metadata") or {}).get("annotations") or {}
    ):
        failures.append(f"remediation acted on an OOM-looping workload: {remediation}")
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    print(f"\nlives: {f['lives']['message']}")
    print(f"fix: {f['fix']}")
    print(f"remediation: {remediation['lastSkip']['reason']}: {remediation['lastSkip']['message']}")
    print("OK: the OOM loop is found across lives, said with its culprit and rule, and not restarted into.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
