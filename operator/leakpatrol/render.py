"""Plain-text reports for people: readable at a glance in a terminal."""

from __future__ import annotations

import time
from collections.abc import Sequence

from leakpatrol.api.units import amount_text
from leakpatrol.core import SignalKind
from leakpatrol.detect.display import display_frames
from leakpatrol.detect.replay import ReplayVerdict
from leakpatrol.detect.signals import Signal
from leakpatrol.diagnose.rules import RuleSet
from leakpatrol.profiles.model import Profile, ProfileKind

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


def verdict_text(v: ReplayVerdict, source: str) -> str:
    lines = [f"series {source}: {v.samples} samples", f"verdict: {v.verdict.upper()}"]
    if v.totals:
        lines.append(f"goroutines {v.totals[0]:.0f} -> {v.totals[-1]:.0f}  {sparkline(v.totals)}")
    if v.first_detected_at is not None:
        lines.append(f"first confirmed at {_when(v.first_detected_at)}")
    for s in v.signals:
        lines += signal_lines(s)
    return "\n".join(lines)


def diagnose_text(profile: Profile, rules: RuleSet, top: int = 10) -> str:
    unit = "bytes in use" if profile.kind is ProfileKind.HEAP else "goroutines"
    lines = [f"{profile.kind.value} profile ({profile.format.value}): total {profile.total} {unit}"]
    lines += [f"warning: {w}" for w in profile.warnings]  # what a tolerant read had to accept
    signal = (
        "heap"
        if profile.kind is ProfileKind.HEAP
        else ("goroutineleak" if profile.kind is ProfileKind.GOROUTINELEAK else "goroutines")
    )
    for g in sorted(profile.groups, key=lambda g: g.size, reverse=True)[:top]:
        waited = f", waiting up to {max(g.wait_minutes)} min" if g.wait_minutes else ""
        amount = _unit("heap", g.size) if profile.kind is ProfileKind.HEAP else str(g.count)
        lines.append(f"\n{amount:>10}  [{g.wait_kind.value}{waited}]")
        lines += [f"            {frame}" for frame in display_frames(g.user_frames or g.frames, 6)]
        if g.created_by:
            lines.append(f"            created by {g.created_by}")
        if g.ancestors:  # GODEBUG=tracebackancestors: where the creator stood when it started it
            lines.append(f"            from {' <- '.join(f.function for f in g.ancestors[:4])}")
        rule = rules.match(signal, g.wait_kind.value, [f.function for f in g.user_frames])
        if rule is not None:
            lines += [f"      rule: {rule.id}", f"      cause: {rule.cause}", f"      fix: {rule.fix}"]
    return "\n".join(lines)
