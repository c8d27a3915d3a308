"""`make demo-remediation` (or `make demo REMEDIATION=1`): the demo, with `action: RolloutRestart`.

The same sandbox, services and operator as `make demo`, but the policy is
examples/leakpolicy-remediation-demo.yaml, and the namespace is labelled
`leakpatrol.dev/remediation=enabled` first: as the cluster admin would, since remediation acts only
in namespaces the admin marked (a policy elsewhere only says what it would do). Ends in
`kubectl describe` showing the leak, the saved evidence and the one restart with its reason, and
`kubectl get rs` showing the new ReplicaSet. Exits 0 only when all of that happened: the leak found
with its rule, the evidence ConfigMap present, exactly one restart, a new ReplicaSet of leaky-http
with its pod ready, and healthy-http never flagged nor touched.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))

from demo import banner, deploy_demo_services, show  # noqa: E402
from harness import Kubectl, OperatorProcess, wait_until  # noqa: E402

from kubesandbox import ThreadedSandbox  # noqa: E402

os.environ.setdefault("SCENARIO_MINUTE", "1s")
POLICY = ROOT / "examples/leakpolicy-remediation-demo.yaml"
HOME = "default"  # the operator's own namespace when run from a checkout: evidence lives there
ENABLE_LABEL = "leakpatrol.dev/remediation"  # the admin's label enabling remediation in a namespace


def remediation(k: Kubectl) -> dict[str, Any]:
    status = k.json("get", "leakpolicy", "demo").get("status") or {}
    result: dict[str, Any] = status.get("remediation") or {}
    return result


def replicasets(k: Kubectl, app: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = k.json("get", "rs", "-l", f"app={app}")["items"]
    return items


def rolled_out(k: Kubectl) -> bool:
    """A second ReplicaSet of leaky-http, ready, and the old one scaled to zero."""
    sets = replicasets(k, "leaky-http")
    ready = [rs for rs in sets if (rs.get("status") or {}).get("readyReplicas", 0) >= 1]
    return len(sets) == 2 and len(ready) == 1 and ready[0]["spec"]["replicas"] == 1


def verdict(k: Kubectl, flagged: set[str]) -> list[str]:
    """What did not happen that should have; [] when the demo is a success."""
    lp = k.json("get", "leakpolicy", "demo")
    status = lp.get("status") or {}
    state = status.get("remediation") or {}
    problems = []
    leaks = [f for f in status.get("findings") or [] if f["workload"]["name"] == "leaky-http"]
    if not any(f.get("ruleId") == "http-transport-per-request" for f in leaks):
        problems.append("leaky-http's leak is not in status.findings with its rule")
    if (
        len(state.get("actions") or []) != 1
        or (state.get("lastAction") or {}).get("reason") != "RolloutRestarted"
    ):
        problems.append(f"not exactly one restart: {state.get('actions')} {state.get('lastAction')}")
    evidence = state.get("evidence") or []
    if not evidence or not k("get", "configmap", evidence[-1]["configMap"], "-n", HOME, check=False):
        problems.append("no evidence ConfigMap")
    if not rolled_out(k):
        problems.append("no new ready ReplicaSet of leaky-http")
    if "healthy-http" in flagged or len(replicasets(k, "healthy-http")) != 1:
        problems.append("healthy-http was flagged or touched")
    return problems


def main() -> int:
    flagged: set[str] = set()

    def restarted() -> bool:
        lp = k.json("get", "leakpolicy", "demo")
        flagged.update(f["workload"]["name"] for f in (lp.get("status") or {}).get("findings") or [])
        return bool(((lp.get("status") or {}).get("remediation") or {}).get("lastAction"))

    with ThreadedSandbox() as sb:
        k = Kubectl(sb.kubeconfig_path)
        deploy_demo_services(k)
        show(k, "get", "rs")
        show(k, "label", "namespace", "default", f"{ENABLE_LABEL}=enabled", "--overwrite")  # the admin's
        with OperatorProcess(sb.kubeconfig_path) as operator:
            show(k, "apply", "-f", str(POLICY))
            started = time.monotonic()
            try:
                wait_until(restarted, within=150, what="the rollout restart")
                print(
                    f"\nrestarted {time.monotonic() - started:.0f}s after the policy was applied", flush=True
                )
                wait_until(lambda: rolled_out(k), within=60, what="the new ReplicaSet ready")
            except TimeoutError as exc:
                print(f"\nFAILED: {exc}\n--- operator log ---\n{operator.log()[-5000:]}", file=sys.stderr)
                return 1
            show(k, "describe", "leakpolicy", "demo")
            show(k, "describe", "deployment", "leaky-http")
            show(k, "get", "rs")
            evidence = remediation(k)["evidence"][-1]
            banner("extract the evidence (status.remediation.evidence[].command)")
            print(evidence["command"], flush=True)
            problems = verdict(k, flagged)
    if problems:
        print("FAILED: " + "; ".join(problems), file=sys.stderr)
        return 1
    print("OK: leaky-http's leak found, its profiles saved, restarted once (new ReplicaSet);", end=" ")
    print("healthy-http untouched.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
