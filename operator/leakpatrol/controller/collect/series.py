"""`SeriesStore`: a policy's series kept across operator restarts and hand-overs, in checkpoints.

Unsharded, the policy has one checkpoint (shard None), read at the first pass of a term. With
`--sharding` each shard has its own, read when this replica takes the shard and written only by
the shard's holder, so two replicas never fight over one object. Which to read and write the
replica's role says (`shards.solo.SoloRole`, `shards.role.ShardRole`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol

from leakpatrol.controller.ports import Cluster
from leakpatrol.core import CheckpointCorrupt, ObjectRef
from leakpatrol.detect import checkpoint
from leakpatrol.detect.config import DetectionConfig
from leakpatrol.detect.evaluator import TargetEvaluator
from leakpatrol.diagnose.rules import RuleSet

log = logging.getLogger(__name__)

CHECKPOINT_PASSES = 5  # write the checkpoint at least every 5th pass...
CHECKPOINT_SECONDS = 60.0  # ...or once a minute, whichever comes first


class HeldShards(Protocol):
    """What the store needs of the replica's role: which checkpoints to read now (None: the
    unsharded one), and the series split by the checkpoints they belong in."""

    def to_restore(self) -> list[int | None]: ...

    def by_shard(
        self, table: Mapping[str, TargetEvaluator]
    ) -> dict[int | None, dict[str, TargetEvaluator]]: ...


class SeriesStore:
    def __init__(self, cluster: Cluster, policy: ObjectRef, role: HeldShards) -> None:
        self.cluster, self.policy, self.role = cluster, policy, role
        self.dropped: list[str] = []  # checkpoints refused since last asked: each said once
        self.saved_at: float | None = None  # when the checkpoint was last written
        self.passes_unsaved = 0

    async def restore(self, config: DetectionConfig, rules: RuleSet) -> dict[str, TargetEvaluator]:
        """The series to resume: the policy's at the first pass; sharded, those of each shard just
        taken. Empty when there is nothing (new) to read."""
        out: dict[str, TargetEvaluator] = {}
        for shard in self.role.to_restore():
            blob = await self.cluster.load_checkpoint(self.policy, shard=shard)
            if blob:
                out |= self._decode(blob, config, rules, "" if shard is None else f" (shard {shard})")
        return out

    def _decode(
        self, blob: bytes, config: DetectionConfig, rules: RuleSet, where: str
    ) -> dict[str, TargetEvaluator]:
        where = f"policy {self.policy.namespace}/{self.policy.name}{where}"
        try:
            states = checkpoint.decode(blob)
            restored = {uid: checkpoint.restore(state, config, rules) for uid, state in states.items()}
        except CheckpointCorrupt as exc:
            # Dropped, not retried: the failing pass would never rewrite it, and every pass of the
            # policy would fail on it. The next save writes a fresh one.
            log.warning("%s: starting afresh, %s", where, exc)
            self.dropped.append(f"{where}: its checkpoint was unusable and its series start afresh ({exc})")
            return {}
        log.info("%s: resumed %d series from checkpoint", where, len(restored))
        return restored

    def take_dropped(self) -> list[str]:
        dropped, self.dropped = self.dropped, []
        return dropped

    async def save(self, evaluators: dict[str, TargetEvaluator], now: float, verdicts_changed: bool) -> None:
        """Not every pass: a crash loses at most a few samples, and the API server (and etcd) is
        spared a write per pass per policy. A changed verdict is always kept at once."""
        self.passes_unsaved += 1
        due = (
            verdicts_changed
            or self.saved_at is None
            or self.passes_unsaved >= CHECKPOINT_PASSES
            or now - self.saved_at >= CHECKPOINT_SECONDS
        )
        if not due:
            return
        # Sharded: one checkpoint per shard held, its only writer as long as it holds it.
        for shard, held in sorted(self.role.by_shard(evaluators).items(), key=lambda kv: kv[0] or 0):
            states = {uid: checkpoint.dump(e) for uid, e in held.items()}
            await self.cluster.save_checkpoint(self.policy, checkpoint.encode(states), shard=shard)
        self.saved_at, self.passes_unsaved = now, 0
