"""A policy's rule set: its own extraRules first, then the shipped ones."""

from __future__ import annotations

from leakpatrol.api import ExtraRule, LeakPolicySpec
from leakpatrol.diagnose.patterns import compile_search
from leakpatrol.diagnose.rules import Rule, RuleSet

USER_PRIORITY = 1000  # a site-specific rule knows better than any shipped one
_ALL_SIGNALS = frozenset({"goroutines", "heap", "goroutineleak"})


def rule_from_extra(extra: ExtraRule) -> Rule:
    """spec.detection.extraRules[i] -> Rule. `match.frame` is *searched* in each frame's function name,
    with RE2 (linear time: a tenant's pattern cannot stall the operator); validation already
    compiled it and named the field if it did not compile."""
    frames = () if extra.match.frame is None else (compile_search(extra.match.frame),)
    wait_kinds = frozenset() if extra.match.wait_kind is None else frozenset({extra.match.wait_kind.value})
    return Rule(
        id=extra.id,
        cause=extra.cause,
        fix=extra.fix,
        priority=USER_PRIORITY,
        signals=_ALL_SIGNALS,
        wait_kinds=wait_kinds,
        frames=frames,
    )


def rules_for(spec: LeakPolicySpec) -> RuleSet:
    return RuleSet.default().extended(rule_from_extra(r) for r in spec.detection.extra_rules)
