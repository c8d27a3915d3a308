"""`SharedCapacity`: what every policy of one operator process shares, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field

from leakpatrol.controller.collect.fairness import FairShare
from leakpatrol.controller.remediation.admin import AdminPolicy
from leakpatrol.controller.remediation.budget import ClusterBudget
from leakpatrol.core import GLOBAL_FETCHES, MAX_TARGET_TIMEOUT, PER_NAMESPACE_FETCHES, PER_POLICY_FETCHES
from leakpatrol.inflight import PROFILE_BUFFER_BYTES, ByteBudget
from leakpatrol.profiles.parser import ProfileParser


@dataclass(slots=True)
class SharedCapacity:
    """What every policy of one operator process shares: fetch slots (round-robin by namespace),
    the per-policy cap on them, the profile parser with its worker pool (its workers too taken
    round-robin by namespace; a namespace holds at most its share of the fetch slots), the longest a
    fetch may hold a slot (`max_timeout`), the budget of profile bytes held at once, and what the cluster
    admin decided about remediation (where, how much, the floors) with its budget of actions."""

    fetches: FairShare = field(default_factory=lambda: FairShare(GLOBAL_FETCHES, PER_NAMESPACE_FETCHES))
    per_policy: int = PER_POLICY_FETCHES
    parser: ProfileParser = field(default_factory=ProfileParser)
    buffer: ByteBudget = field(default_factory=lambda: ByteBudget(PROFILE_BUFFER_BYTES))
    max_timeout: float = MAX_TARGET_TIMEOUT  # the longest spec.target.timeouts accepted (admin's)
    admin: AdminPolicy = field(default_factory=AdminPolicy)
    # The parser's workers, in turn by namespace; sized after the parser's own pool.
    workers: FairShare = field(init=False)
    actions: ClusterBudget = field(
        init=False
    )  # admin.actions_per_hour (and a namespace's share), every policy together

    def __post_init__(self) -> None:
        self.workers = FairShare(max(1, self.parser.workers))
        self.actions = ClusterBudget(self.admin.actions_per_hour, self.admin.namespace_actions_per_hour)
