"""The chart's alerts, run by Prometheus' own `promtool`: `check rules` on the rendered
PrometheusRule, and `test rules` with each alert firing and not firing on series shaped as the
operator exports them. promtool is installed by `make setup` (Debian's `prometheus` package); a
machine without it fails here rather than skipping the alerts' only real test."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import test_chart
import yaml
from test_chart import MONITORING, ROOT, render

pytestmark = test_chart.pytestmark  # helm renders the rules: without it, the chart tests skip too

JOB = 'job="lp-leakpatrol"'
POLICY = f'{JOB}, namespace="shop", policy="demo"'
LEAK = f'{POLICY}, workload="Deployment/orders", signal="goroutines"'
INFO = f'{LEAK}, rule="http-transport-per-request", culprit="net/http.(*persistConn).readLoop"'
RUNBOOK = "https://github.com/leakpatrol/leakpatrol/blob/main/docs/runbooks.md"


def promtool() -> str:
    found = shutil.which("promtool") or next(
        (str(p) for p in [ROOT / ".tools" / "promtool"] if p.exists()), None
    )
    if found is None:
        pytest.fail("promtool is not installed: `make setup` installs it (Debian's prometheus package)")
    return found


def rules() -> dict[str, Any]:
    (rule,) = [d for d in render(*MONITORING) if d["kind"] == "PrometheusRule"]
    spec: dict[str, Any] = rule["spec"]
    return spec


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_promtool_checks_the_rules(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules()))
    result = run("check", "rules", "rules.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


def series(name: str, labels: str, values: str) -> dict[str, str]:
    return {"series": f"{name}{{{labels}}}", "values": values}


def case(
    alert: str, at: str, inputs: list[dict[str, str]], expected: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """One promtool test: these series, and at `at` the alerts `expected` (none: not firing)."""
    return {
        "interval": "1m",
        "input_series": inputs,
        "alert_rule_test": [{"eval_time": at, "alertname": alert, "exp_alerts": expected or []}],
    }


CULPRIT = "net/http.(*persistConn).readLoop"
CONFIRMED = {
    "exp_labels": {
        "severity": "warning", "namespace": "shop", "policy": "demo", "workload": "Deployment/orders",
        "signal": "goroutines", "rule": "http-transport-per-request", "culprit": CULPRIT,
    },
    "exp_annotations": {
        "summary": "Confirmed goroutines leak in shop/Deployment/orders (rule http-transport-per-request)",
        "description": "leakpatrol confirmed that goroutines keep growing in workload Deployment/orders, in"
        f" {CULPRIT} (rule http-transport-per-request). `kubectl describe leakpolicy"
        " demo -n shop` names the leaking stack, the likely cause and the fix.",
        "runbook_url": f"{RUNBOOK}#leakpatrolleakconfirmed",
    },
}  # fmt: skip
OOM = {
    "exp_labels": {"severity": "critical", "namespace": "shop", "policy": "demo",
                   "workload": "Deployment/orders"},
    "exp_annotations": {
        "summary": "shop/Deployment/orders reaches its memory limit in 30m 0s",
        "description": "A leak in Deployment/orders (confirmed or suspected) grows its container toward its"
        " memory limit: at the measured rate it gets there in 30m 0s and is OOM-killed. `kubectl describe"
        " leakpolicy demo -n shop` has the forecast's range and the fix; a restart buys time, the fix"
        " ends it.",
        "runbook_url": f"{RUNBOOK}#leakpatroloomsoon",
    },
}  # fmt: skip
FAILING = {
    "exp_labels": {"severity": "warning", "namespace": "shop", "policy": "demo"},
    "exp_annotations": {
        "summary": "LeakPolicy shop/demo fails to scan its targets",
        "description": "More than 25% of this policy's targets cannot be scanned, or its passes fail: leaks"
        " there go unseen. The policy's Ready and Degraded conditions and its Warning Events give the"
        " reason (RBAC, pprof not exposed, timeouts).",
        "runbook_url": f"{RUNBOOK}#leakpatrolscansfailing",
    },
}  # fmt: skip
DOWN = {
    "exp_labels": {"severity": "critical"},
    "exp_annotations": {
        "summary": "leakpatrol is down in leakpatrol-system",
        "description": "No leakpatrol replica has been scraped: no policy is being scanned. `kubectl -n"
        " leakpatrol-system get pods,events` and the pods' logs say why.",
        "runbook_url": f"{RUNBOOK}#leakpatroloperatordown",
    },
}  # fmt: skip
LEADERLESS = {
    "exp_labels": {"severity": "critical"},
    "exp_annotations": {
        "summary": "leakpatrol runs, but no replica holds the Lease",
        "description": "Replicas are up but none scans: they cannot write the Lease lp-leakpatrol in"
        " leakpatrol-system (RBAC, API server, the namespace). `/readyz` of each replica says why;"
        " see the pods' logs (\"lease ...\").",
        "runbook_url": f"{RUNBOOK}#leakpatrolnoleader",
    },
}  # fmt: skip


def targets(failing: int, selected: int, values: str = "x60") -> list[dict[str, str]]:
    return [
        series("leakpatrol_policy_targets", f'{POLICY}, state="failing"', f"{failing}{values}"),
        series("leakpatrol_policy_targets", f'{POLICY}, state="selected"', f"{selected}{values}"),
    ]


def leak(confirmed: str, *more: dict[str, str]) -> list[dict[str, str]]:
    return [
        series("leakpatrol_workload_leak", LEAK, confirmed),
        series("leakpatrol_workload_leak_info", INFO, "1x10"),
        *more,
    ]


def eta(seconds: str, *more: dict[str, str]) -> list[dict[str, str]]:
    return [
        series("leakpatrol_workload_oom_eta_seconds", f'{POLICY}, workload="Deployment/orders"', seconds),
        *more,
    ]


SUSPENDED = series("leakpatrol_policy_suspended", POLICY, "1x60")
RUNNING = series("leakpatrol_policy_suspended", POLICY, "0x60")
SUSPECTED = series("leakpatrol_workload_leak_suspected", LEAK, "1x10")
PASS_FAILING = series(
    "leakpatrol_scan_failures_total", f'{POLICY}, kind="Permanent", reason="Forbidden"', "0+1x60"
)
UP = 'job="lp-leakpatrol", namespace="leakpatrol-system", pod="lp-leakpatrol-0"'

CASES = {
    "confirmed fires, with rule and culprit": case(
        "LeakpatrolLeakConfirmed", "5m", leak("1x10", RUNNING), [CONFIRMED]
    ),
    "suspected is not confirmed": case("LeakpatrolLeakConfirmed", "5m", leak("0x10", SUSPECTED)),
    "a suspended policy's leak does not page": case("LeakpatrolLeakConfirmed", "5m", leak("1x10", SUSPENDED)),
    "OOM within the hour fires, critical": case("LeakpatrolOOMSoon", "8m", eta("1800x10", RUNNING), [OOM]),
    "OOM in two hours does not": case("LeakpatrolOOMSoon", "8m", eta("7200x10")),
    "OOM of a suspended policy does not": case("LeakpatrolOOMSoon", "8m", eta("1800x10", SUSPENDED)),
    "half the targets failing fires": case(
        "LeakpatrolScansFailing", "40m", [*targets(1, 2), RUNNING], [FAILING]
    ),
    "one pod of a hundred failing does not": case("LeakpatrolScansFailing", "40m", targets(1, 100)),
    "failing passes fire": case("LeakpatrolScansFailing", "40m", [*targets(0, 3), PASS_FAILING], [FAILING]),
    "a suspended policy's failures do not": case(
        "LeakpatrolScansFailing", "40m", [*targets(2, 2), SUSPENDED]
    ),
    "no replica scraped fires": case("LeakpatrolOperatorDown", "15m", [series("up", UP, "0x20")], [DOWN]),
    "a scraped replica does not": case("LeakpatrolOperatorDown", "15m", [series("up", UP, "1x20")]),
    "no leader fires": case(
        "LeakpatrolNoLeader", "15m", [series("leakpatrol_leader", UP, "0x20")], [LEADERLESS]
    ),
    "a leader does not": case("LeakpatrolNoLeader", "15m", [series("leakpatrol_leader", UP, "1x20")]),
}


def test_every_alert_fires_when_it_should_and_not_otherwise(tmp_path: Path) -> None:
    groups = rules()
    alerts = {r["alert"] for g in groups["groups"] for r in g["rules"]}
    tested = {c["alert_rule_test"][0]["alertname"] for c in CASES.values()}
    assert tested == alerts  # every alert has its cases
    for name in alerts:  # ... firing and not firing
        outcomes = {bool(c["alert_rule_test"][0]["exp_alerts"]) for c in CASES.values()
                    if c["alert_rule_test"][0]["alertname"] == name}  # fmt: skip
        assert outcomes == {True, False}, name
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(groups))
    suite = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": list(CASES.values())}
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    result = run("test", "rules", "tests.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_links_a_runbook_section_that_exists() -> None:
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line[3:].strip().lower()).replace(" ", "-")
        for line in (ROOT / "docs" / "runbooks.md").read_text().splitlines()
        if line.startswith("## ")
    }
    for group in rules()["groups"]:
        for rule in group["rules"]:
            url = rule["annotations"]["runbook_url"]
            assert url.startswith(RUNBOOK + "#"), url
            assert url.split("#", 1)[1] in headings, url
