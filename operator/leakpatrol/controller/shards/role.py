"""`ShardRole`: a policy scanner's part in a sharded operator (`--sharding`), hooked into each pass.

At the start of a pass it takes the membership's current view once (so one pass never mixes two
views), and from it: which of the policy's shards this replica holds, which of those it has not
restored from their checkpoints yet (a shard just taken over resumes its series where the last
owner's checkpoint left them), and whether this replica is the policy's coordinator. At the end it
turns the pass into this replica's report and, on the coordinator, into the merged status
(`leakpatrol.controller.shards.status` says why one writer).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from leakpatrol import metrics
from leakpatrol.api import Finding, LeakPolicyStatus, ShardReport
from leakpatrol.controller.ports import ScanTarget, Unscannable
from leakpatrol.controller.report.status import ScanPass, scanned_status
from leakpatrol.controller.shards.assignment import Assignment, Shards, shard_of
from leakpatrol.controller.shards.solo import Folded
from leakpatrol.controller.shards.status import live_reports, merged_pass, shard_report
from leakpatrol.core import ObjectRef

T = TypeVar("T")


class ShardRole:
    sharded = True

    def __init__(self, shards: Shards, policy: ObjectRef) -> None:
        self.shards, self.policy = shards, policy
        self.view = Assignment("", frozenset())
        self.owned: frozenset[int] = frozenset()
        self.restored: frozenset[int] = frozenset()  # held, and restored, as of the last pass

    def begin(self) -> None:
        self.view = self.shards.assignment()
        self.owned = self.view.owned(self.policy.uid)

    @property
    def is_coordinator(self) -> bool:
        return self.view.is_coordinator(self.policy.uid)

    def to_restore(self) -> list[int | None]:
        """Shards held now but not at the last pass: read their checkpoints. A shard lost and won
        back is read again, since its other owner moved its series on meanwhile."""
        new, self.restored = self.owned - self.restored, self.owned
        return [*sorted(new)]

    def mine(self, targets: list[ScanTarget]) -> list[ScanTarget]:
        return [t for t in targets if shard_of(t.uid, self.view.shards) in self.owned]

    def unscannable(self, problems: list[Unscannable]) -> list[Unscannable]:
        """Pods we cannot scan (no such port) have no series, so no shard: the coordinator says it."""
        return problems if self.is_coordinator else []

    def by_shard(self, table: Mapping[str, T]) -> dict[int | None, dict[str, T]]:
        """`table` (by target uid) split by the held shards. A held shard with no series is left
        out: whatever its checkpoint still holds is of pods that are gone, dropped when restored."""
        out: dict[int | None, dict[str, T]] = {}
        for uid, value in table.items():
            s = shard_of(uid, self.view.shards)
            if s in self.owned:
                out.setdefault(s, {})[uid] = value
        return out

    def fold(
        self, previous: LeakPolicyStatus | None, p: ScanPass, generation: int | None, now: datetime
    ) -> Folded:
        """A replica that does not coordinate writes only its own report and speaks of nothing;
        its checkpoint is due when its own verdicts changed since its last report."""
        me = self.view.me
        self._metrics(p)
        changed = self.verdicts_changed(previous, p)
        if not self.view.active:  # not a member (yet, or any more): nothing of ours to report
            return Folded(previous or LeakPolicyStatus(), {}, False, changed)
        mine = shard_report(p, self.owned, now)
        if not self.is_coordinator:
            return Folded(previous or LeakPolicyStatus(), {"shards": {me: _json(mine)}}, False, changed)
        reports, gone = live_reports(previous.shards if previous else None, self.view.members, me, mine)
        status = scanned_status(previous, merged_pass(p.namespace, reports, p.selector), generation, now)
        shards: dict[str, Any] = {me: _json(mine)} | dict.fromkeys(gone)  # None: remove the key
        return Folded(status, {"shards": shards}, True, changed)

    def verdicts_changed(self, previous: LeakPolicyStatus | None, p: ScanPass) -> bool:
        """Did this replica's own verdicts change since its last report (its checkpoint is due)?"""
        before = (previous.shards or {}).get(self.view.me) if previous else None
        old = {_verdict(f) for f in before.findings} if before else set()
        return old != {_verdict(f) for f in p.findings}

    def _metrics(self, p: ScanPass) -> None:
        ns, name = self.policy.namespace or "", self.policy.name
        metrics.SHARDS_HELD.labels(ns, name).set(len(self.owned))
        metrics.SHARD_TARGETS.labels(ns, name).set(p.selected)
        metrics.COORDINATOR.labels(ns, name).set(int(self.is_coordinator))


def _json(report: ShardReport) -> dict[str, Any]:
    """As `status_body` writes it: camelCase, RFC 3339 times, no nulls."""
    return report.model_dump(mode="json", by_alias=True, exclude_none=True)


def _verdict(f: Finding) -> tuple[str, str, str, str]:
    return (f.workload.kind, f.workload.name, f.signal.value, f.state.value)
