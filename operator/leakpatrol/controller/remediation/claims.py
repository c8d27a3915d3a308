"""A `Remediator`'s claims on the cluster-wide budget of actions (budget.py): the ledger entry of
an action, and giving it back when the action certainly did not happen."""

from __future__ import annotations

import logging
from datetime import datetime

from leakpatrol.controller.ports import LedgerEntry
from leakpatrol.controller.remediation import budget
from leakpatrol.controller.remediation.budget import ClusterBudget
from leakpatrol.controller.remediation.telling import Telling
from leakpatrol.core import LeakpatrolError

log = logging.getLogger(__name__)


class Claims(Telling):
    budget: ClusterBudget

    def _claim(self, workload: str, action: str, at: datetime) -> LedgerEntry:
        """The ledger entry of this policy's action at `at` (whole seconds, as written ahead)."""
        return budget.entry(f"{self.namespace}/{self.policy.name}", workload, action, at)

    async def _give_back(self, claim: LedgerEntry | None) -> None:
        """An action that certainly did not happen leaves the cluster's count (best effort: if the
        ledger cannot be written, the budget errs on the side of fewer actions)."""
        if claim is None:
            return
        try:
            await self.budget.give_back(self.cluster, claim)
        except LeakpatrolError as exc:
            log.info("policy %s/%s: an unused claim on the cluster's budget stays: %s", *self._where(), exc)
