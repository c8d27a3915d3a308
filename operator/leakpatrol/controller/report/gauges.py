"""What a pass exports per workload: the leak states, the rule and culprit, the OOM forecast."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet

from prometheus_client import Gauge

from leakpatrol import metrics
from leakpatrol.api import Finding
from leakpatrol.core import LeakState

MAX_LABEL = 128  # a culprit's function name, cut: a label value is not a place for a stack


def finding_metrics(
    namespace: str, policy: str, findings: Iterable[Finding], now: float
) -> dict[Gauge, AbstractSet[tuple[str, ...]]]:
    """Set the workload gauges from the findings (carried ones included) and return, per gauge,
    the label tails to keep: `metrics.retain` drops the rest (a resolved leak, a gone workload)."""
    states: set[tuple[str, ...]] = set()
    info: set[tuple[str, ...]] = set()
    etas: dict[tuple[str, ...], float] = {}
    for f in findings:
        workload = f"{f.workload.kind}/{f.workload.name}"
        key = (workload, f.signal.value)
        states.add(key)
        confirmed = f.state is LeakState.CONFIRMED
        metrics.WORKLOAD_LEAKING.labels(namespace, policy, *key).set(1 if confirmed else 0)
        metrics.WORKLOAD_SUSPECTED.labels(namespace, policy, *key).set(0 if confirmed else 1)
        culprit = (f.culprit[0].split(" ", 1)[0] if f.culprit else "")[:MAX_LABEL]
        tail = (*key, f.rule_id or "none", culprit)
        info.add(tail)
        metrics.WORKLOAD_LEAK_INFO.labels(namespace, policy, *tail).set(1)
        if f.forecast is not None and f.forecast.reach_time is not None:
            seconds = max(0.0, f.forecast.reach_time.timestamp() - now)
            etas[(workload,)] = min(seconds, etas.get((workload,), seconds))
    for labels, seconds in etas.items():
        metrics.WORKLOAD_OOM_ETA.labels(namespace, policy, *labels).set(seconds)
    return {
        metrics.WORKLOAD_LEAKING: states,
        metrics.WORKLOAD_SUSPECTED: states,
        metrics.WORKLOAD_LEAK_INFO: info,
        metrics.WORKLOAD_OOM_ETA: set(etas),
    }
