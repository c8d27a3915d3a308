"""`SoloRole`: an unsharded replica's part in a pass — it holds every target and speaks for the
policy. It answers what `ShardRole` answers, so the scan pass has one path for both."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from leakpatrol.api import LeakPolicyStatus
from leakpatrol.controller.ports import ScanTarget, Unscannable
from leakpatrol.controller.report.status import ScanPass, scanned_status

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Folded:
    """A pass folded into what this replica says: the status to speak of, the status patch beyond
    `status_body(status)`, whether it speaks for the policy, whether its verdicts changed."""

    status: LeakPolicyStatus
    patch: dict[str, Any]
    speaks: bool
    changed: bool


class SoloRole:
    sharded = False

    def __init__(self) -> None:
        self.restored = False

    def begin(self) -> None:
        """Nothing to look up: one replica holds it all."""

    def mine(self, targets: list[ScanTarget]) -> list[ScanTarget]:
        return targets

    def unscannable(self, problems: list[Unscannable]) -> list[Unscannable]:
        return problems

    def to_restore(self) -> list[int | None]:
        """The policy's one checkpoint, read at the first pass of a term."""
        first, self.restored = not self.restored, True
        return [None] if first else []

    def by_shard(self, table: Mapping[str, T]) -> dict[int | None, dict[str, T]]:
        return {None: dict(table)}

    def fold(
        self, previous: LeakPolicyStatus | None, p: ScanPass, generation: int | None, now: datetime
    ) -> Folded:
        status = scanned_status(previous, p, generation, now)
        return Folded(status, {}, True, verdicts(previous) != verdicts(status))


def verdicts(status: LeakPolicyStatus | None) -> set[tuple[str, str, str, str]]:
    findings = status.findings if status else []
    return {(f.workload.kind, f.workload.name, f.signal.value, f.state.value) for f in findings}
