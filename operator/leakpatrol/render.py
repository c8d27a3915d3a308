"""Plain-text reports for people: readable at a glance in a terminal."""

from __future__ import annotations

import time
from collections.abc import Sequence

from leakpatrol.api.units import amount_text
from leakpatrol.core import SignalKind
from leakpatrol.detect.display import display_frames, is_user_function
from leakpatrol.detect.replay import ReplayVerdict
from leakpatrol.detect.signals import Signal
from leakpatrol.diagnose.rules import Rule, RuleSet
from leakpatrol.profiles.model import Profile, ProfileKind, StackGroup, WaitKind

_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int = 60) -> str:
    if not values:
        return ""
    step = max(1, len(values) // width)
    picked = [max(values[i : i + step]) for i in range(0, len(values), step)]
    lo, hi = min(picked), max(picked)
    span = (hi - lo) or 1.0
    return "".join(_BARS[int((v - lo) / span * (len(_BARS) - 1))] for v in picked)


def _when(t: float | None) -> str:
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


_unit = amount_text  # the one formatter of sizes (leakpatrol.api.units), shared with the operator


def _headline(signal: Signal) -> str:
    k = signal.kind.value
    if signal.kind is SignalKind.GOROUTINELEAK:  # a direct observation, not a trend
        return (
            f"  [{signal.state.value}] {k}: {signal.current:.0f} goroutines the runtime's GC proved "
            f"unreachable and blocked forever, reported {_when(signal.since)}"
        )
    return (
        f"  [{signal.state.value}] {k}: {_unit(k, signal.baseline)} -> {_unit(k, signal.current)}"
        f", +{_unit(k, signal.growth_per_hour)}/h, p={signal.p_value:.2g}, since {_when(signal.since)}"
    )


def culprit_where(signal: Signal) -> str:
    """The one frame that names the culprit: the first of the user's own code, else the deepest
    frame shown (e.g. net/http's readLoop under its plumbing)."""
    frames = signal.culprit.frames
    if not frames:
        return signal.culprit.signature
    return next((f for f in frames if is_user_function(f.split(" ", 1)[0])), frames[-1])


def signal_summary(signal: Signal) -> str:
    """One line: the signal, its numbers, the culprit, the rule."""
    k = signal.kind.value
    if signal.kind is SignalKind.GOROUTINELEAK:
        numbers = f"{signal.current:.0f} goroutines proved blocked forever"
    else:
        grew = f"+{_unit(k, signal.growth_per_hour)}/h"
        numbers = f"{_unit(k, signal.baseline)} -> {_unit(k, signal.current)}, {grew}"
    rule = signal.rule.id if signal.rule is not None else "no rule matched"
    return f"{k}: {numbers}; culprit [{signal.culprit.wait_kind}] {culprit_where(signal)}; rule {rule}"


def signal_lines(signal: Signal) -> list[str]:
    k = signal.kind.value
    c = signal.culprit
    out = [
        _headline(signal),
        f"    culprit ({c.share:.0%} of growth, now {_unit(k, c.count)}, +{_unit(k, c.growth)})"
        f": [{c.wait_kind}]",
    ]
    out += [f"      {frame}" for frame in c.frames]
    for g in signal.related:
        where = g.frames[0] if g.frames else g.signature
        out.append(f"    with ({g.share:.0%}, +{_unit(k, g.growth)}): [{g.wait_kind}] {where}")
    if signal.rule is not None:
        out += [
            f"    rule:  {signal.rule.id}",
            f"    cause: {signal.rule.cause}",
            f"    fix:   {signal.rule.fix}",
        ]
    else:
        out.append("    rule:  none matched; the culprit frames above are where to look")
    return out


def verdict_text(v: ReplayVerdict, source: str, notes: Sequence[str] = ()) -> str:
    """`notes`: what the reader must know to trust the numbers (warm-up origin, skipped files)."""
    lines = [f"series {source}: {v.samples} samples", *notes, f"verdict: {v.verdict.upper()}"]
    if v.totals:
        lines.append(f"goroutines {v.totals[0]:.0f} -> {v.totals[-1]:.0f}  {sparkline(v.totals)}")
    if v.first_detected_at is not None:
        lines.append(f"first confirmed at {_when(v.first_detected_at)}")
    for s in v.signals:
        lines += signal_lines(s)
    if v.suspected:
        lines.append("suspected at the last evaluation, not (yet) confirmed:")
        for s in v.suspected:
            lines += signal_lines(s)
    return "\n".join(lines)


def group_rules(profile: Profile, rules: RuleSet, g: StackGroup) -> tuple[Rule, ...]:
    """The rule for one group of one snapshot (its count decides whether a rule about goroutines
    piling up may speak, `min_goroutines`): none, one, or, where debug=1 hid the runtime frame
    that tells a channel send from a receive, each the possible wait kinds give (the same rule
    when they agree, as a select and a `select {}` do)."""
    signal = {ProfileKind.HEAP: "heap", ProfileKind.GOROUTINELEAK: "goroutineleak"}.get(
        profile.kind, "goroutines"
    )
    count = None if profile.kind is ProfileKind.HEAP else g.count
    functions = [f.function for f in g.user_frames]
    kinds = g.wait_candidates if g.wait_kind is WaitKind.UNKNOWN and g.wait_candidates else (g.wait_kind,)
    found: list[Rule] = []
    for kind in kinds:
        rule = rules.match(signal, kind.value, functions, count=count)
        if rule is None:
            return ()  # a possible wait kind no rule explains: no rule can be claimed
        if all(r.id != rule.id for r in found):
            found.append(rule)
    return tuple(found)


def snapshot_note(profile: Profile, first: Profile | None = None) -> str:
    """What one snapshot can and cannot show, said once, above the groups."""
    if profile.kind is ProfileKind.GOROUTINELEAK:
        return "the runtime proved these goroutines blocked forever: each group is a leak, no growth needed"
    what = (
        "what holds memory, not whether it grows"
        if profile.kind is ProfileKind.HEAP
        else "what goroutines wait on, not whether they grow"
    )
    know = "record a series (leakpatrol record) and analyze it to know"
    if first is not None:
        return (
            f"several snapshots: each group's change from the first (total {first.total}) "
            f"is shown; two points are no trend, and a rule says what it would mean if its group keeps "
            f"growing: {know}"
        )
    lone = (
        profile.kind is ProfileKind.GOROUTINE and profile.groups and all(g.count == 1 for g in profile.groups)
    )
    if lone:
        return (
            "every group holds one goroutine, as in a deadlock or crash dump: the rules say what blocks, "
            "not what piles up (that takes growth)"
        )
    return f"one snapshot shows {what}: a rule says what it would mean if its group grows; {know}"


def _lone(profile: Profile) -> bool:
    """Every group holds one goroutine: a deadlock or crash dump, where a rule names the blocker."""
    return (
        profile.kind is ProfileKind.GOROUTINE
        and bool(profile.groups)
        and all(g.count == 1 for g in profile.groups)
    )


def diagnose_text(profile: Profile, rules: RuleSet, top: int = 10, first: Profile | None = None) -> str:
    """`first`: the first of several snapshots in one paste (each group shows its change since)."""
    unit = "bytes in use" if profile.kind is ProfileKind.HEAP else "goroutines"
    lines = [f"{profile.kind.value} profile ({profile.format.value}): total {profile.total} {unit}"]
    lines.append(snapshot_note(profile, first))
    lines += [f"warning: {w}" for w in profile.warnings]  # what a tolerant read had to accept
    proved = profile.kind is ProfileKind.GOROUTINELEAK or _lone(profile)
    before = {g.signature: g.count for g in first.groups} if first is not None else None
    for g in sorted(profile.groups, key=lambda g: g.size, reverse=True)[:top]:
        waited = f", waiting up to {max(g.wait_minutes)} min" if g.wait_minutes else ""
        amount = _unit("heap", g.size) if profile.kind is ProfileKind.HEAP else str(g.count)
        change = (
            f"  ({g.count - before.get(g.signature, 0):+d} since the first)" if before is not None else ""
        )
        lines.append(f"\n{amount:>10}  [{g.wait_kind.value}{waited}]{change}")
        lines += [f"            {frame}" for frame in display_frames(g.user_frames or g.frames, 6)]
        if g.created_by:
            lines.append(f"            created by {g.created_by}")
        if g.ancestors:  # GODEBUG=tracebackancestors: where the creator stood when it started it
            lines.append(f"            from {' <- '.join(f.function for f in g.ancestors[:4])}")
        found = group_rules(profile, rules, g)
        cause = "cause" if proved else "if it grows"
        if len(found) == 1:
            rule = found[0]
            lines += [f"      rule: {rule.id}", f"      {cause}: {rule.cause}", f"      fix: {rule.fix}"]
        elif found:  # debug=1 hid which
            kinds = " or a ".join(k.value for k in g.wait_candidates)
            lines.append(
                f"      rule: {' or '.join(r.id for r in found)}: a {kinds}, which debug=1 does not show "
                "(?debug=0 does)"
            )
            lines += [f"      {r.id}: {r.fix}" for r in found]
    return "\n".join(lines)
