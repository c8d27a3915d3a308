"""Replay a recorded series through the streaming evaluator: the `analyze` verdict."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from leakpatrol.core import LeakState
from leakpatrol.detect.config import DetectionConfig
from leakpatrol.detect.evaluator import PodIdentity, Sample, TargetEvaluator
from leakpatrol.detect.signals import Evaluation, Signal
from leakpatrol.diagnose.rules import RuleSet


@dataclass(slots=True)
class ReplayVerdict:
    verdict: str  # "leak" | "no-leak" | "insufficient-data"
    first_detected_at: float | None
    signals: tuple[Signal, ...]
    samples: int
    totals: list[float] = field(default_factory=list)  # goroutine totals, for a sparkline
    flagged_at: list[float] = field(default_factory=list)  # every time any signal was raised
    last: tuple[Signal, ...] = ()  # the signals of the last evaluation (confirmed or suspected)

    @property
    def suspected(self) -> tuple[Signal, ...]:
        """Raised at the end but never confirmed: what `--fail-on suspected` also fails on."""
        return tuple(s for s in self.last if s.state is LeakState.SUSPECTED) if not self.signals else ()

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "first_detected_at": self.first_detected_at,
            "signals": [s.to_json() for s in self.signals],
        }


def replay(
    samples: Iterable[Sample],
    pod: PodIdentity | None = None,
    config: DetectionConfig | None = None,
    rules: RuleSet | None = None,
) -> ReplayVerdict:
    evaluator = TargetEvaluator(config, rules)
    first: float | None = None
    confirmed: tuple[Signal, ...] = ()
    evaluated = False
    result = ReplayVerdict("insufficient-data", None, (), 0)
    for sample in samples:
        ev: Evaluation = evaluator.observe(sample, pod)
        result.samples += 1
        if sample.goroutine is not None:
            result.totals.append(float(sample.goroutine.total))
        evaluated = evaluated or ev.evaluated
        if ev.signals:
            result.flagged_at.append(ev.time)
        result.last = ev.signals
        now_confirmed = tuple(s for s in ev.signals if s.state is LeakState.CONFIRMED)
        if now_confirmed:
            confirmed = now_confirmed
            first = ev.time if first is None else first
    result.first_detected_at = first
    result.signals = confirmed
    result.verdict = "leak" if confirmed else ("no-leak" if evaluated else "insufficient-data")
    return result
