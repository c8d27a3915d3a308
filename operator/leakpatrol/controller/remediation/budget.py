"""The cluster-wide budget of actions per hour, every policy and every replica together, and each
namespace's share of it (so that one tenant's leaks cannot spend every other tenant's actions).

The count lives in the API server (`Cluster.read_ledger` / `write_ledger`: one ConfigMap in the
operator's namespace, written with a resourceVersion precondition), not in memory, so replicas that
act at once (`--sharding`) and an operator restarted mid-hour count the same actions. An action
claims its entry after every other rail passed and before it is written ahead; one that certainly
did not happen (its write-ahead refused, every eviction answered 429, or a pending one found at a
later pass not to have happened) gives it back; one that may have happened keeps it. A dry run
claims nothing. Unsure — the ledger unreadable, or a conflict on every try — means no action (the
caller's skip says why).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta

from leakpatrol.controller.ports import ActionLedger, Cluster, LedgerConflict, LedgerEntry
from leakpatrol.controller.remediation.rails import Block
from leakpatrol.reasons import Reason

HOUR = timedelta(hours=1)
TRIES = 3  # read, judge, write: a conflict (another policy or replica claimed meanwhile) re-reads


def namespace_of(e: LedgerEntry) -> str:
    return e.policy.partition("/")[0]  # an entry's policy is "<namespace>/<name>"


def recent(entries: Sequence[LedgerEntry], now: datetime) -> list[LedgerEntry]:
    """The entries of the last hour, oldest first (a time ahead of `now` counts: fail closed)."""
    return sorted((e for e in entries if now - e.time < HOUR), key=lambda e: e.time)


def admit(
    entries: Sequence[LedgerEntry],
    limit: int,
    now: datetime,
    namespace: str | None = None,
    namespace_limit: int | None = None,
) -> Block | None:
    """None while the last hour holds fewer than `limit` actions, and fewer than `namespace_limit`
    of `namespace`'s (None: no share of its own); else a Block until the oldest ages out."""
    last = recent(entries, now)
    if limit == 0:
        return Block(Reason.CLUSTER_BUDGET_EXHAUSTED, "the cluster admin allows no action (0 per hour)")
    if len(last) >= limit:
        return _spent(Reason.CLUSTER_BUDGET_EXHAUSTED, last, limit, "across the cluster", "its budget")
    if namespace is not None and namespace_limit is not None:
        own = [e for e in last if namespace_of(e) == namespace]
        if len(own) >= namespace_limit:
            where, whose = f"in namespace {namespace}", "a namespace's share of the cluster's budget"
            return _spent(Reason.NAMESPACE_BUDGET_EXHAUSTED, own, namespace_limit, where, whose)
    return None


def _spent(reason: Reason, last: Sequence[LedgerEntry], limit: int, where: str, whose: str) -> Block:
    until = last[len(last) - limit].time + HOUR
    message = (
        f"{len(last)} action(s) {where} in the last hour reach {whose} of {limit} per hour"
        f" (the cluster admin's); next after {until.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    )
    return Block(reason, message, until)


class ClusterBudget:
    """The operator's one budget (shared by its policies through `SharedCapacity`): the lock keeps
    its own policies from racing each other; the resourceVersion keeps replicas from racing."""

    def __init__(self, per_hour: int, per_namespace: int | None = None) -> None:
        self.per_hour, self.per_namespace = per_hour, per_namespace  # None: no share of its own
        self.lock = asyncio.Lock()

    async def claim(self, cluster: Cluster, entry: LedgerEntry) -> Block | None:
        """Claim one action at `entry.time`: None when claimed, a Block when the budget (the
        cluster's, or its namespace's share) is spent. Raises the port's errors (and
        `LedgerConflict` after `TRIES` conflicts): no action then."""
        async with self.lock:
            for attempt in range(TRIES):
                ledger = await cluster.read_ledger()
                ns = namespace_of(entry)
                block = admit(ledger.entries, self.per_hour, entry.time, ns, self.per_namespace)
                if block is not None:
                    return block
                try:
                    await cluster.write_ledger(
                        ActionLedger((*recent(ledger.entries, entry.time), entry), ledger.version)
                    )
                    return None
                except LedgerConflict:
                    if attempt == TRIES - 1:
                        raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def give_back(self, cluster: Cluster, entry: LedgerEntry) -> None:
        """The action did not happen: its entry leaves the count. Raises the port's errors (the
        entry then stays: the budget errs on the side of fewer actions)."""
        async with self.lock:
            for attempt in range(TRIES):
                ledger = await cluster.read_ledger()
                if entry not in ledger.entries:
                    return
                kept = tuple(e for e in ledger.entries if e != entry)
                try:
                    await cluster.write_ledger(ActionLedger(kept, ledger.version))
                    return
                except LedgerConflict:
                    if attempt == TRIES - 1:
                        raise


def entry(policy: str, workload: str, action: str, now: datetime) -> LedgerEntry:
    return LedgerEntry(now.replace(microsecond=0), policy, workload, action)
