"""Issue 21 end to end: what an on-call reads at 3am, from the operator process against the sandbox.

A policy none of whose targets answers, and one whose selector has a typo, are `Ready=False` with
a reason naming it, in the default `kubectl get` columns; two workloads leaking on different
signals get one `LeakDetected` clause each, with their own signal, numbers (heap in MiB) and rule;
every Event is short; a suspended policy exports itself as such instead of frozen gauges; and an
operator whose home namespace is missing is not ready, and says why.
"""

from __future__ import annotations

import itertools
import re
import uuid
from typing import Any

import httpx
from harness import Kubectl, OperatorProcess, condition, wait_until
from support import apply, deployment, events, free_port, has_condition, namespace, policy

from leakpatrol.controller.report.events import POD_EVENT_CHARS, POLICY_EVENT_CHARS, WORKLOAD_EVENT_CHARS

RAW_BYTES = re.compile(r"\d{6,}")  # a byte count a person would have to count the digits of


def leak_policy(name: str, selector: str, **target: str) -> str:
    """The demo's pace (2 s passes, a 1 m window), selecting `selector`."""
    extra = "".join(f", {k}: {v}" for k, v in target.items())
    return f"""apiVersion: leakpatrol.dev/v1alpha1
kind: LeakPolicy
metadata: {{name: {name}}}
spec:
  selector: {selector}
  target: {{port: http, timeouts: {{connect: 1s, read: 3s, total: 5s}}{extra}}}
  schedule: {{interval: 2s, jitter: 10%}}
  profiles: {{goroutineleak: Disabled}}
  detection: {{window: 1m, warmup: 4s, minSamples: 8, maxSamples: 60, confirmations: 2}}
"""


def started(k: Kubectl, ns: str, *manifests: str) -> None:
    apply(k, ns, "---\n".join(manifests))
    k("wait", "-n", ns, "--for=condition=Available", "deployment", "--all", "--timeout=120s", timeout=130)


def rows(k: Kubectl, ns: str, *args: str) -> dict[str, dict[str, str]]:
    """`kubectl get leakpolicies` as {name: {COLUMN: value}}, the columns split as kubectl aligns them."""
    lines = k("get", "leakpolicies", "-n", ns, *args).splitlines()
    starts = [m.start() for m in re.finditer(r"(?:^|(?<=\s\s))\S", lines[0])]
    cut = [*starts, None]

    def cells(line: str) -> list[str]:
        return [line[a:b].strip() for a, b in itertools.pairwise(cut)]

    header = cells(lines[0])
    return {cells(line)[0]: dict(zip(header, cells(line), strict=True)) for line in lines[1:]}


def test_a_policy_that_scans_nothing_is_not_ready_and_kubectl_get_shows_it(
    kubectl: Kubectl, operator: OperatorProcess
) -> None:
    ns = namespace(kubectl, "status-nothing")
    started(kubectl, ns, deployment("nopprof", "leakpatrol.test/badpprof:notfound", 2))
    apply(kubectl, ns, leak_policy("broken", "{matchLabels: {app: nopprof}}"))
    apply(kubectl, ns, leak_policy("typo", "{matchLabels: {app: nopprfo}}"))

    ready = wait_until(  # the first pass that fails them all says so; within a few passes
        lambda: (
            (c := condition(policy(kubectl, ns, "broken"), "Ready"))
            and c["reason"] == "NoTargetsScanned"
            and c
        ),
        within=30,
        what="broken: Ready=False NoTargetsScanned",
    )
    assert ready["status"] == "False"
    assert "none of the 2 selected target(s) could be scanned (2 PprofNotExposed)" in ready["message"]
    leak = condition(policy(kubectl, ns, "broken"), "LeakDetected")
    assert leak is not None and (leak["status"], leak["reason"]) == ("Unknown", "NoTargetsScanned")

    typo = wait_until(
        lambda: (c := condition(policy(kubectl, ns, "typo"), "Ready")) and c["reason"] == "NoTargets" and c,
        within=30,
        what="typo: Ready=False NoTargets",
    )
    assert typo["status"] == "False"
    assert f"no Running and Ready pod in namespace {ns} with labels app=nopprfo matches" in typo["message"]
    degraded = condition(policy(kubectl, ns, "typo"), "Degraded")
    assert degraded is not None and "all 0 selected" not in degraded["message"]

    table = rows(kubectl, ns)  # the default columns, no -o wide
    assert {k: table["broken"][k] for k in ("READY", "REASON", "TARGETS", "FAILING")} == {
        "READY": "False", "REASON": "NoTargetsScanned", "TARGETS": "2", "FAILING": "2"}  # fmt: skip
    assert {k: table["typo"][k] for k in ("READY", "REASON", "TARGETS")} == {
        "READY": "False", "REASON": "NoTargets", "TARGETS": "0"}  # fmt: skip


def test_two_workloads_leaking_on_different_signals_get_a_clause_each_and_suspend_means_suspended(
    kubectl: Kubectl, operator: OperatorProcess
) -> None:
    ns = namespace(kubectl, "status-two")
    limits = {"resources": {"limits": {"memory": "512Mi"}}}
    started(
        kubectl,
        ns,
        deployment("orders", "leakpatrol.test/scenario:transport-per-request", 1),
        deployment("sessions", "leakpatrol.test/scenario:heap-leak", 1, **limits),
    )
    apply(
        kubectl,
        ns,
        leak_policy("demo", "{matchExpressions: [{key: app, operator: In, values: [orders, sessions]}]}"),
    )

    def both() -> dict[str, Any] | None:
        c = has_condition(kubectl, ns, "LeakDetected", "True")
        return (
            c
            if c and "Deployment/orders:" in c["message"] and "Deployment/sessions:" in c["message"]
            else None
        )

    message = wait_until(both, within=180, what="both leaks confirmed")["message"]
    clauses = dict(c.split(": ", 1) for c in message.split(". The culprit")[0].split("; "))
    orders, sessions = clauses["Deployment/orders"], clauses["Deployment/sessions"]
    assert orders.startswith("goroutines total ") and "culprit group +" in orders
    assert "rule http-transport-per-request" in orders
    assert sessions.startswith("heap total ") and "goroutines" not in sessions  # its own signal
    assert "http-transport-per-request" not in sessions  # ... and its own rule
    assert re.search(r"heap total [\d.]+ MiB -> [\d.]+ MiB \(\+[\d.]+ [KMG]iB/h\), culprit group", sessions)
    assert not RAW_BYTES.search(message), message

    mine = [e for e in events(kubectl, ns) if e["source"].get("component") == "leakpatrol"]
    limit = {"LeakPolicy": POLICY_EVENT_CHARS, "Deployment": WORKLOAD_EVENT_CHARS, "Pod": POD_EVENT_CHARS}
    for e in mine:
        kind = e["involvedObject"]["kind"]
        assert len(e["message"]) <= limit[kind], (kind, len(e["message"]), e["message"])
        assert not RAW_BYTES.search(e["message"]), e["message"]
    heap_story = next(
        e["message"] for e in mine
        if e["involvedObject"]["name"] == "sessions" and e["reason"] == "LeakDetected"
    )  # fmt: skip
    assert heap_story.startswith("heap leak confirmed in 1 of 1 pod") and " MiB" in heap_story

    # Suspended: marked, not frozen; the OOM column is an absolute time.
    wait_until(
        lambda: policy(kubectl, ns).get("status", {}).get("worstEtaTime"), within=30, what="a forecast"
    )
    kubectl("patch", "leakpolicy", "demo", "-n", ns, "--type=merge", "-p", '{"spec":{"suspend":true}}')
    wait_until(lambda: has_condition(kubectl, ns, "Ready", "False", "Suspended"), within=15, what="Suspended")
    status = policy(kubectl, ns)["status"]
    assert has_condition(kubectl, ns, "LeakDetected", "Unknown", "Suspended")
    assert "worstEta" not in status and status["worstEtaTime"]
    assert rows(kubectl, ns, "-o", "wide")["demo"]["OOM AT"] == status["worstEtaTime"]
    metrics = httpx.get(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5).text
    assert f'leakpatrol_policy_suspended{{namespace="{ns}",policy="demo"}} 1.0' in metrics
    assert f'leakpatrol_target_goroutines{{namespace="{ns}"' not in metrics  # not a frozen line
    assert f'leakpatrol_workload_leak{{namespace="{ns}"' not in metrics  # the alert's input is gone


def test_an_operator_whose_home_namespace_is_missing_is_not_ready_and_says_why(sandbox: Any) -> None:
    port = free_port()
    missing = f"gone-{uuid.uuid4().hex[:6]}"
    args = ["--home-namespace", missing, "--lease-name", f"lp-{uuid.uuid4().hex[:5]}"]

    def readyz() -> httpx.Response | None:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        except httpx.HTTPError:
            return None

    with OperatorProcess(sandbox.kubeconfig_path, metrics_port=port, args=args):
        answer = wait_until(
            lambda: (r := readyz()) is not None and r.status_code == 503 and "does not exist" in r.text and r,
            within=60,
            what="/readyz 503 naming the namespace",
        )
    assert f"namespace {missing} does not exist" in answer.text
    assert "standby" in answer.text  # the role line stays: what it would be, and why it is not
