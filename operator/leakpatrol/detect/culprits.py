"""From flagged series to a signal's culprits: lockstep sets, one rule per leak, the lead.

Groups that grow in lockstep (a connection's readLoop and writeLoop, the caller waiting on it,
the server's side of it) are one leak. A rule is judged on the whole set: each member is matched
with its partners' frames in view, and the set's highest-priority rule is the leak's rule, given
to every member, so a near-tie in counts cannot change what the user is told. Among the members
that rule names, the one carrying the user's code leads (it says which call to fix), then the one
with the most specific rule, then the biggest grower.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from leakpatrol.detect.display import is_user_function
from leakpatrol.detect.signals import CulpritGroup, RuleRef
from leakpatrol.detect.stats import pearson
from leakpatrol.detect.tracker import Series
from leakpatrol.detect.trend import Trend
from leakpatrol.diagnose.rules import Rule, RuleSet

LOCKSTEP_CORRELATION = 0.9
_RATIO = (0.5, 2.0)  # lockstep partners grow within a factor of two of each other


@dataclass(slots=True)
class Scored:
    series: Series
    trend: Trend


def in_lockstep(a: Scored, b: Scored) -> bool:
    if a.trend.growth <= 0 or b.trend.growth <= 0:
        return False
    ratio = b.trend.growth / a.trend.growth
    if not _RATIO[0] <= ratio <= _RATIO[1]:
        return False
    n = min(len(a.series.values), len(b.series.values))
    return pearson(a.series.values[-n:], b.series.values[-n:]) >= LOCKSTEP_CORRELATION


def _ref(rule: Rule | None) -> RuleRef | None:
    return None if rule is None else RuleRef(rule.id, rule.cause, rule.fix, rule.priority)


class CulpritPicker:
    def __init__(self, kind: str, rules: RuleSet) -> None:
        self.kind = kind
        self.rules = rules

    def rule_of(self, s: Scored, partners: Sequence[Scored]) -> Rule | None:
        return self.rules.match(
            self.kind, s.series.wait_kind, s.series.functions, [p.series.functions for p in partners]
        )

    def groups(
        self, culprits: list[Scored], growing: Sequence[Scored], positive: float
    ) -> tuple[int, list[CulpritGroup]]:
        """(index of the lead, a CulpritGroup per culprit); the biggest grower's lockstep set
        shares one rule."""
        partners = [[g for g in growing if g is not c and in_lockstep(c, g)] for c in culprits]
        own = [self.rule_of(c, p) for c, p in zip(culprits, partners, strict=True)]
        members = [0] + [i for i in range(1, len(culprits)) if in_lockstep(culprits[0], culprits[i])]
        best = max((r for i in members if (r := own[i]) is not None), key=lambda r: r.priority, default=None)
        rules = [best if i in members and best is not None else r for i, r in enumerate(own)]
        lead = 0 if best is None else self._lead(culprits, own, members, best)
        return lead, [self._group(c, r, positive) for c, r in zip(culprits, rules, strict=True)]

    @staticmethod
    def _lead(culprits: list[Scored], own: list[Rule | None], members: list[int], best: Rule) -> int:
        def rank(i: int) -> tuple[bool, int, float]:
            rule = own[i]
            carries_user = any(is_user_function(f) for f in culprits[i].series.functions)
            return (carries_user, -1 if rule is None else rule.priority, culprits[i].trend.growth)

        named = [i for i in members if (r := own[i]) is not None and r.id == best.id]
        return max(named, key=rank)

    @staticmethod
    def _group(s: Scored, rule: Rule | None, positive: float) -> CulpritGroup:
        return CulpritGroup(
            signature=s.series.signature,
            wait_kind=s.series.wait_kind,
            frames=s.series.frames,
            count=s.series.values[-1],
            growth=s.trend.growth,
            share=max(0.0, s.trend.growth) / positive,
            rule=_ref(rule),
        )
