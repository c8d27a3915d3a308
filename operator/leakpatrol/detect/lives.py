"""Memory across container lives: what each life of a pod's container showed, and the leak they
confirm together when no single life is as long as the window. Pure: data in, data out.

A restart (a new restart count, a new start time) ends a *life*. Before its series is dropped, the
life is judged on its own (onelife.py).

**The rule.** A *run* is the newest judged lives, consecutive (lives too short to judge are
skipped, neither for nor against), that flagged a common group. Then:

- **Confirmed** when the run is two lives long (the same group grew in two consecutive lives), or
  when one life of the run ended OOMKilled and the current life shows the group rising again (a
  significant Mann-Kendall rise over at least `RISING_SAMPLES` of its samples).
- **Suspected** when the run is one life long and it ended OOMKilled, or the current life shows
  the group rising again.
- Nothing when the current life has a judged length of samples and the group is flat or falling in
  it: that leak did not come back.

Its measured false alarms on the healthy shapes (README, "OOM-looping services"). Bounded: at
most `MAX_LIVES` lives of at most `MAX_RELATED` + 1 groups each per kind, none older than
`HORIZON_SECONDS` past the window.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from leakpatrol.core import CheckpointCorrupt, LeakState, SignalKind
from leakpatrol.detect.onelife import MAX_FRAMES, MAX_RELATED, LifeSignal
from leakpatrol.detect.signals import CulpritGroup, RuleRef, Signal
from leakpatrol.diagnose.rules import RuleSet
from leakpatrol.reasons import Termination

MAX_LIVES = 12  # lives kept per pod
HORIZON_SECONDS = 24 * 3600.0  # lives ended longer ago than the window plus this are forgotten
LIVES_WITHOUT_OOM = 3  # lives growing the same group that confirm a leak when none was OOMKilled
KINDS = (SignalKind.GOROUTINES, SignalKind.HEAP)


@dataclass(frozen=True, slots=True)
class LastLife:
    """The kubelet's account of the container's previous life (`lastState.terminated`)."""

    end: Termination
    exit_code: int | None = None
    started_at: float | None = None
    finished_at: float | None = None


@dataclass(frozen=True, slots=True)
class Life:
    started: float | None  # None: not seen (it began and ended between two looks)
    ended: float | None
    end: Termination
    exit_code: int | None = None
    samples: int = 0  # samples of it that were judged; fewer than the minimum: not judged
    judged: bool = False
    signals: Mapping[SignalKind, LifeSignal] = field(default_factory=dict)

    @property
    def length(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return max(0.0, self.ended - self.started)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The lives' verdict on one kind."""

    state: LeakState
    signal: LifeSignal  # the newest life of the run
    run: int  # consecutive judged lives that flagged it, the current one included
    oom: bool  # one of the ended ones ended OOMKilled
    again: bool  # the current life flagged it too


@dataclass(slots=True)
class Lives:
    """The ended lives of one pod's container, oldest first, bounded."""

    ended: list[Life] = field(default_factory=list)

    def add(self, life: Life) -> None:
        self.ended.append(life)
        del self.ended[: max(0, len(self.ended) - MAX_LIVES)]

    def trim(self, now: float, window: float) -> None:
        horizon = now - window - HORIZON_SECONDS
        self.ended = [life for life in self.ended if life.ended is None or life.ended >= horizon]

    def verdict(self, kind: SignalKind, current: LifeSignal | bool | None) -> Verdict | None:
        """The lives' verdict on `kind`. `current`: the current life's own signal, False when it is
        judgeable and flagged nothing, None when it cannot be judged (yet, or between lives)."""
        judged = [life for life in self.ended if life.judged]
        if not judged or kind not in judged[-1].signals:
            return None
        newest = judged[-1].signals[kind]
        common, run, oom = set(newest.flagged), 1, judged[-1].end is Termination.OOM_KILLED
        for life in reversed(judged[:-1]):
            older = life.signals.get(kind)
            if older is None or not common & older.flagged:
                break
            common &= older.flagged
            run += 1
            oom = oom or life.end is Termination.OOM_KILLED
        if current is False or (isinstance(current, LifeSignal) and not common & current.flagged):
            return None  # the current life is long enough to tell, and it did not grow it again
        again = isinstance(current, LifeSignal)
        lives = run + again
        if lives >= (2 if oom else LIVES_WITHOUT_OOM):
            state = LeakState.CONFIRMED
        elif oom or lives >= 2:
            state = LeakState.SUSPECTED
        else:
            return None
        return Verdict(state, current if isinstance(current, LifeSignal) else newest, lives, oom, again)

    # --- as plain data, for the checkpoint ---------------------------------------------------------
    def dump(self) -> list[Any]:
        return [
            [
                life.started,
                life.ended,
                life.end.value,
                life.exit_code,
                life.samples,
                life.judged,
                {kind.value: _dump_signal(s) for kind, s in life.signals.items()},
            ]
            for life in self.ended
        ]

    @classmethod
    def restore(cls, state: object, rules: RuleSet) -> Lives:
        """Checked field by field: a checkpoint may have been edited by anyone who can write it."""
        if not isinstance(state, list) or len(state) > MAX_LIVES:
            raise CheckpointCorrupt(f"lives is not a list of at most {MAX_LIVES}")
        lives = cls()
        by_id = {r.id: r for r in rules.rules}
        for item in state:
            if not isinstance(item, list) or len(item) != 7:
                raise CheckpointCorrupt("lives holds an entry that is not a life")
            started, ended, end, exit_code, samples, judged, signals = item
            if end not in Termination._value2member_map_ or not isinstance(signals, dict):
                raise CheckpointCorrupt(f"lives holds an unknown end {str(end)[:40]!r}")
            if type(samples) is not int or samples < 0 or type(judged) is not bool:
                raise CheckpointCorrupt("lives holds a life with an unusable sample count")
            if exit_code is not None and (type(exit_code) is not int or not -(2**31) <= exit_code < 2**31):
                raise CheckpointCorrupt("lives holds an unusable exit code")
            parsed = {}
            for kind, raw in signals.items():
                if kind not in (k.value for k in KINDS):
                    raise CheckpointCorrupt(f"lives holds a signal of kind {str(kind)[:40]!r}")
                parsed[SignalKind(kind)] = _restore_signal(raw, by_id)
            lives.ended.append(
                Life(_time(started), _time(ended), Termination(end), exit_code, samples, judged, parsed)
            )
        return lives


def _time(value: object) -> float | None:
    if value is None:
        return None
    if type(value) not in (int, float) or not math.isfinite(float(value)):  # type: ignore[arg-type]
        raise CheckpointCorrupt(f"lives holds {str(value)[:40]!r}, not a time")
    return float(value)  # type: ignore[arg-type]


def _number(value: object) -> float:
    if type(value) not in (int, float) or not math.isfinite(float(value)):  # type: ignore[arg-type]
        raise CheckpointCorrupt(f"lives holds {str(value)[:40]!r}, not a number")
    return float(value)  # type: ignore[arg-type]


def _dump_group(g: CulpritGroup) -> list[Any]:
    return [
        g.signature,
        g.wait_kind,
        list(g.frames),
        g.count,
        g.growth,
        g.share,
        g.rule.id if g.rule else None,
    ]


def _restore_group(raw: object, rules: Mapping[str, Any]) -> CulpritGroup:
    if not isinstance(raw, list) or len(raw) != 7:
        raise CheckpointCorrupt("lives holds a group that is not one")
    signature, wait_kind, frames, count, growth, share, rule_id = raw
    if not isinstance(signature, str) or not isinstance(wait_kind, str) or len(signature) > 4096:
        raise CheckpointCorrupt("lives holds a group without a signature")
    if (
        not isinstance(frames, list)
        or len(frames) > MAX_FRAMES
        or not all(isinstance(f, str) for f in frames)
    ):
        raise CheckpointCorrupt("lives holds a group with unusable frames")
    rule = rules.get(rule_id) if isinstance(rule_id, str) else None
    ref = None if rule is None else RuleRef(rule.id, rule.cause, rule.fix, rule.priority)
    return CulpritGroup(
        signature, wait_kind, tuple(frames), _number(count), _number(growth), _number(share), ref
    )


def _dump_signal(s: LifeSignal) -> list[Any]:
    return [
        sorted(s.flagged),
        _dump_group(s.culprit),
        [_dump_group(g) for g in s.related],
        s.growth_per_hour,
        s.p_value,
        s.baseline,
        s.current,
    ]


def _restore_signal(raw: object, rules: Mapping[str, Any]) -> LifeSignal:
    if not isinstance(raw, list) or len(raw) != 7:
        raise CheckpointCorrupt("lives holds a signal that is not one")
    flagged, culprit, related, per_hour, p_value, baseline, current = raw
    if not isinstance(flagged, list) or not all(isinstance(f, str) for f in flagged) or not flagged:
        raise CheckpointCorrupt("lives holds a signal that flagged no group")
    if not isinstance(related, list) or len(related) > MAX_RELATED or len(flagged) > 64:
        raise CheckpointCorrupt("lives holds a signal with too many groups")
    return LifeSignal(
        frozenset(flagged),
        _restore_group(culprit, rules),
        tuple(_restore_group(g, rules) for g in related),
        _number(per_hour),
        _number(p_value),
        _number(baseline),
        _number(current),
    )


def lives_signal(kind: SignalKind, v: Verdict, since: float, lives: Sequence[Life]) -> Signal:
    """The verdict as a signal like the window's, naming the same culprit and rule."""
    judged = [life.signals.get(kind) for life in lives if life.judged]
    rates = [s.growth_per_hour for s in [*judged, v.signal if v.again else None][-v.run :] if s is not None]
    return Signal(
        kind=kind,
        state=v.state,
        culprit=v.signal.culprit,
        related=v.signal.related,
        rule=v.signal.culprit.rule,
        growth_per_hour=median(rates) if rates else v.signal.growth_per_hour,
        p_value=v.signal.p_value,
        baseline=v.signal.baseline,
        current=v.signal.current,
        since=since,
        lives=v.run,
    )
