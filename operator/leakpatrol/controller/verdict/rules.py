"""A policy's rule set: its own extraRules first, then the shipped ones.

A tenant's rule speaks as its policy, never as leakpatrol: its cause and fix are marked here, where
they become `Rule`s, as `policy <namespace>/<name> says: …`, so wherever they reach (a finding, a
LeakDetected or RemediationSuspended Event on another team's workload) they read as the policy's
words. The shipped rules keep their own voice.
"""

from __future__ import annotations

from leakpatrol.api import ExtraRule, LeakPolicySpec
from leakpatrol.core import ObjectRef
from leakpatrol.diagnose.patterns import compile_search
from leakpatrol.diagnose.rules import Rule, RuleSet

USER_PRIORITY = 1000  # a site-specific rule knows better than any shipped one
MAX_TEXT = 1024  # a finding's cause and fix (status.findings[].cause/fix) hold at most this
_ALL_SIGNALS = frozenset({"goroutines", "heap", "goroutineleak"})


def said_by(policy: ObjectRef, text: str) -> str:
    """`text` marked as the words of `policy`; the mark is kept whole, the text cut to fit."""
    mark = f"policy {policy.namespace}/{policy.name} says: "
    room = MAX_TEXT - len(mark)
    return mark + (text if len(text) <= room else text[: room - 1] + "…")


def rule_from_extra(extra: ExtraRule, policy: ObjectRef) -> Rule:
    """spec.detection.extraRules[i] of `policy` -> Rule, its cause and fix marked as the policy's.
    `match.frame` is *searched* in each frame's function name, with RE2 (linear time: a tenant's
    pattern cannot stall the operator); validation already compiled it and named the field if it
    did not compile."""
    frames = () if extra.match.frame is None else (compile_search(extra.match.frame),)
    wait_kinds = frozenset() if extra.match.wait_kind is None else frozenset({extra.match.wait_kind.value})
    return Rule(
        id=extra.id,
        cause=said_by(policy, extra.cause),
        fix=said_by(policy, extra.fix),
        priority=USER_PRIORITY,
        signals=_ALL_SIGNALS,
        wait_kinds=wait_kinds,
        frames=frames,
    )


def rules_for(spec: LeakPolicySpec, policy: ObjectRef) -> RuleSet:
    return RuleSet.default().extended(rule_from_extra(r, policy) for r in spec.detection.extra_rules)
