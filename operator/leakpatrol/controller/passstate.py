"""`PassState`: what one scan pass has learnt so far, handed from step to step.

Each step of `PolicyScanner.scan` reads the fields the steps before it filled and fills its own,
so the pass reads top to bottom as a table of contents and no step reaches into another.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from leakpatrol.api import LeakPolicySpec, LeakPolicyStatus
from leakpatrol.controller.ports import ScanTarget, Unscannable
from leakpatrol.controller.report.status import ScanPass, read_status
from leakpatrol.controller.shards.solo import Folded
from leakpatrol.controller.verdict.findings import PodResult
from leakpatrol.core import Obj
from leakpatrol.detect.signals import Evaluation


@dataclass(slots=True)
class PassState:
    body: Mapping[str, Any]  # the LeakPolicy as kopf handed it to this pass
    started: float  # the scanner's clock
    previous: LeakPolicyStatus | None  # the status the object carries: transitions are against it
    # filled by the steps, in order
    spec: LeakPolicySpec | None = None
    pods: list[Obj] = field(default_factory=list)  # every pod the selector matched
    pod_by_name: dict[str, Obj] = field(default_factory=dict)
    selected: list[ScanTarget] = field(default_factory=list)  # those scannable (every shard's)
    targets: list[ScanTarget] = field(default_factory=list)  # those this replica scans
    resting: list[ScanTarget] = field(default_factory=list)  # its pods between container lives
    failures: list[Unscannable] = field(default_factory=list)  # unscannable, failed, backed off
    due: list[ScanTarget] = field(default_factory=list)  # targets not waiting out a backoff
    outcomes: list[Evaluation | Unscannable | None] = field(default_factory=list)  # per due target
    results: list[PodResult] = field(default_factory=list)
    scan: ScanPass | None = None
    folded: Folded | None = None
    gauged: set[tuple[str, ...]] = field(default_factory=set)  # (workload, pod) of the target gauges set

    @property
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.started, UTC)

    @property
    def raw_spec(self) -> Mapping[str, Any]:
        return self.body.get("spec") or {}

    @property
    def selector(self) -> Mapping[str, Any]:
        return self.raw_spec.get("selector") or {}

    @property
    def generation(self) -> int | None:
        generation: int | None = (self.body.get("metadata") or {}).get("generation")
        return generation

    @classmethod
    def of(cls, body: Mapping[str, Any], started: float) -> PassState:
        return cls(body, started, read_status(body))
