"""How a finding reads to a person, in conditions, Events and status messages. Pure.

Every number goes through the one formatter (`leakpatrol.api.units`): heap sizes in KiB/MiB/GiB,
rates per hour with their unit. The status fields keep the raw numbers. A finding states both
growths it has: the pod's total (`baseline -> current`, `totalGrowthPerHour`) and the culprit
group's, which the verdict rests on (`growthPerHour`, `pValue`) — two different series.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from leakpatrol.api import Finding, GrowthOf
from leakpatrol.api.units import amount_text, rate_text
from leakpatrol.core import SignalKind


def workload_name(f: Finding) -> str:
    return f"{f.workload.kind}/{f.workload.name}"


def numbers(f: Finding, *, p_value: bool = True) -> str:
    """`total 266 -> 1018 (+540/h), culprit group +138/h (p=4.5e-54)`; a goroutineleak finding is
    a count the runtime proved, not a trend."""
    if f.signal is SignalKind.GOROUTINELEAK:
        return f"{f.current} goroutines proven blocked forever by the runtime"
    k = f.signal.value
    total = f"total {amount_text(k, f.baseline)} -> {amount_text(k, f.current)}"
    if f.total_growth_per_hour is not None:
        total += f" ({rate_text(k, f.total_growth_per_hour)})"
    p = f" (p={f.p_value})" if p_value else ""
    if f.growth_of is GrowthOf.TOTAL:  # no one group was flagged: the total less its load was
        return f"{total}, beyond its load {rate_text(k, f.growth_per_hour)}{p}"
    return f"{total}, culprit group {rate_text(k, f.growth_per_hour)}{p}"


def rule_words(f: Finding) -> str:
    return f"rule {f.rule_id}" if f.rule_id else "no rule matched"


def signal_clause(f: Finding) -> str:
    """`goroutines total 266 -> 1018 (+540/h), culprit group +138/h, rule http-transport-per-request`"""
    return f"{f.signal.value} {numbers(f, p_value=False)}, {rule_words(f)}"


def workload_clauses(findings: Sequence[Finding], shown: int) -> str:
    """One clause per workload, each with its own signals, rates and rules:
    `Deployment/orders: goroutines …, rule a; Deployment/sessions: heap …, no rule matched`."""
    by_workload: dict[str, list[Finding]] = {}
    for f in findings:
        by_workload.setdefault(workload_name(f), []).append(f)
    clauses = [
        f"{name}: " + " and ".join(signal_clause(f) for f in group)
        for name, group in list(by_workload.items())[:shown]
    ]
    more = len(by_workload) - shown
    return "; ".join(clauses) + (f"; and {more} more workload(s)" if more > 0 else "")


def selector_words(selector: Mapping[str, Any]) -> str:
    """spec.selector as a person reads it, e.g. `app=web, tier in (a, b)`."""
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        values = ", ".join(expr.get("values") or [])
        terms.append(f"{expr.get('key')} {expr.get('operator')}" + (f" ({values})" if values else ""))
    return ", ".join(terms)
