"""`make demo`: the operator against the local sandbox cluster with a real leaking Go service.

Starts the sandbox, installs the CRD, deploys a leaking service (an http.Client with its own
Transport per request) and a healthy one, runs `leakpatrol operator`, applies
examples/leakpolicy-demo.yaml with kubectl, waits for the verdict, and prints what a person would
look at. Exits 0 only when the leak is found and the healthy service is not flagged.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from harness import Kubectl, OperatorProcess, condition, wait_until  # noqa: E402

from kubesandbox import ThreadedSandbox  # noqa: E402

os.environ.setdefault("SCENARIO_MINUTE", "1s")  # the services run a minute of their life each second


def banner(text: str) -> None:
    print(f"\n\033[1m$ {text}\033[0m", flush=True)


def show(k: Kubectl, *args: str) -> str:
    banner("kubectl " + " ".join(args))
    out = k(*args)
    print(out, flush=True)
    return out


def deploy_demo_services(k: Kubectl) -> None:
    """The CRD, then the leaking and the healthy service (examples/demo/services.yaml), Available."""
    show(k, "apply", "-f", str(ROOT / "crds"))
    show(k, "apply", "-f", str(ROOT / "examples/demo/services.yaml"))
    wait_until(
        lambda: k("wait", "--for=condition=Available", "deployment", "--all", "--timeout=5s", check=False),
        within=180,
        what="both services Available",
    )


def leak_found(k: Kubectl) -> dict[str, object] | None:
    lp = k.json("get", "leakpolicy", "demo")
    c = condition(lp, "LeakDetected")
    return lp if c and c["status"] == "True" else None


def deployment_has_event(k: Kubectl) -> bool:
    events = k.json("get", "events", "--field-selector", "involvedObject.kind=Deployment,reason=LeakDetected")
    return any(e["involvedObject"]["name"] == "leaky-http" for e in events["items"])


def main() -> int:
    with ThreadedSandbox() as sb:
        k = Kubectl(sb.kubeconfig_path)
        deploy_demo_services(k)
        show(k, "get", "pods", "-o", "wide")
        with OperatorProcess(sb.kubeconfig_path) as operator:
            show(k, "apply", "-f", str(ROOT / "examples/leakpolicy-demo.yaml"))
            started = time.monotonic()
            try:
                policy = wait_until(lambda: leak_found(k), within=120, what="LeakDetected on the demo policy")
                wait_until(
                    lambda: deployment_has_event(k), within=30, what="the Deployment's LeakDetected Event"
                )
            except TimeoutError as exc:
                print(f"\nFAILED: {exc}\n--- operator log ---\n{operator.log()[-5000:]}", file=sys.stderr)
                return 1
            print(
                f"\nleak confirmed {time.monotonic() - started:.0f}s after the policy was applied", flush=True
            )
            show(k, "get", "leakpolicies", "-o", "wide")
            show(k, "describe", "leakpolicy", "demo")
            show(k, "describe", "deployment", "leaky-http")
    findings = policy["status"]["findings"]  # type: ignore[index]
    flagged = {f["workload"]["name"] for f in findings}
    leak_ok = any(
        f["workload"]["name"] == "leaky-http" and f["ruleId"] == "http-transport-per-request"
        for f in findings
    )
    if not leak_ok or "healthy-http" in flagged:
        print(f"FAILED: findings name {sorted(flagged)}", file=sys.stderr)
        return 1
    leak = next(f for f in findings if f["workload"]["name"] == "leaky-http")
    if not leak.get("spread") or not (leak.get("forecast") or {}).get("limit"):
        print(f"FAILED: the finding lacks spread or forecast: {leak}", file=sys.stderr)
        return 1
    print(f"spread: {leak['spread']}; forecast: {leak['forecast']['message']}")
    print("OK: leaky-http leaks (http-transport-per-request); healthy-http is not flagged.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
