"""What the evaluator reports: signals with a culprit, a rule and the numbers behind them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from leakpatrol.core import FindingBasis, LeakState, SignalKind

GROWTH_OF_CULPRIT = "culprit"  # a culprit group was flagged: the rate and p-value are its own
GROWTH_OF_TOTAL = "total"  # no one group was flagged, the total was: the rate is the total's


@dataclass(frozen=True, slots=True)
class RuleRef:
    id: str
    cause: str
    fix: str
    priority: int = 0  # ranks lockstep culprits; not reported


@dataclass(frozen=True, slots=True)
class CulpritGroup:
    signature: str
    wait_kind: str
    frames: tuple[str, ...]  # leaf first, "function file:line", the top few
    count: float  # current goroutines (heap: inuse bytes)
    growth: float  # over the window
    share: float  # of the signal's total growth, 0..1
    rule: RuleRef | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "signature": self.signature,
            "frames": list(self.frames),
            "count": round(self.count),
            "growth": round(self.growth),
            "share": round(self.share, 3),
        }


@dataclass(frozen=True, slots=True)
class Signal:
    kind: SignalKind
    state: LeakState
    culprit: CulpritGroup
    related: tuple[CulpritGroup, ...]  # lockstep partners and other culprits covering the growth
    rule: RuleRef | None
    growth_per_hour: float  # of what the verdict rests on: the culprit group, or the total (growth_of)
    p_value: float  # of the same series as growth_per_hour
    baseline: float  # the target's total: the median of the first quarter of the window
    current: float  # the target's total: the median of the last quarter
    since: float  # unix time this signal was first flagged in the current streak
    total_growth_per_hour: float = 0.0  # the total's own rate (Theil-Sen), load and all
    growth_of: str = GROWTH_OF_CULPRIT  # GROWTH_OF_CULPRIT or GROWTH_OF_TOTAL: whose growth_per_hour
    basis: FindingBasis = FindingBasis.TREND  # what raised it this evaluation
    samples: int = 0  # in the series whose trend flagged it (Trend, Early); 0 for Ceiling, Runtime
    lives: int = 0  # container lives behind the verdict (detect.lives); 0: one life's window

    def to_json(self) -> dict[str, Any]:
        across = {"lives": self.lives} if self.lives else {}
        return across | {
            "kind": self.kind.value,
            "state": self.state.value,
            "culprit": self.culprit.to_json(),
            "related": [g.to_json() for g in self.related],
            "rule": None
            if self.rule is None
            else {"id": self.rule.id, "cause": self.rule.cause, "fix": self.rule.fix},
            "growth_per_hour": round(self.growth_per_hour, 2),
            "p_value": float(f"{self.p_value:.3g}"),
            "baseline": round(self.baseline),
            "current": round(self.current),
            "since": self.since,
            "basis": self.basis.value,
            "samples": self.samples,
        }


@dataclass(frozen=True, slots=True)
class Evaluation:
    time: float
    samples: int  # samples in the window behind this evaluation (goroutine channel, else heap)
    evaluated: bool  # enough samples for a verdict
    signals: tuple[Signal, ...] = field(default=())

    @property
    def leak(self) -> bool:
        return any(s.state is LeakState.CONFIRMED for s in self.signals)
