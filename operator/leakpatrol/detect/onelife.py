"""Judging one container life on its own. Pure: data in, data out.

A restart (a new restart count, a new start time) ends a *life*. Before its series is dropped, the
life is judged on its own: its length, how it ended (the kubelet's `lastState.terminated`:
OOMKilled, Error, Completed; or Deleted, Unknown), and its signal per kind, judged by the window's
own judge (every floor and load defence) with the floors scaled to the life:

- the absolute growth floor times the life's share of the window (at least `MIN_SCALE` of it): a
  leak's rate, not its total, is what a short life can show;
- `min_samples` cut to a quarter (at least `MIN_LIFE_SAMPLES`); a shorter life is not judged;
- a group that follows the target's load still needs a whole window: a ramp inside one life, or a
  restart that refills a pool, is never evidence;
- the group must still grow over the life's last third at half its rate over the whole life
  (`sustained`): a warm-up that flattens before the life ends is not a leak's shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from leakpatrol.detect.channel import Channel
from leakpatrol.detect.config import DetectionConfig
from leakpatrol.detect.signals import CulpritGroup
from leakpatrol.detect.stats import theil_sen_slope
from leakpatrol.detect.tracker import GroupTracker
from leakpatrol.diagnose.rules import RuleSet

MAX_RELATED = 4  # groups kept beside a life's lead culprit, per kind
MAX_FRAMES = 8
MIN_LIFE_SAMPLES = 6
MIN_SCALE = 0.25  # a life's floors are at least this share of the window's
SUSTAIN_SHARE = 0.5  # a life's growth over its last third, against its rate over the whole life
_NEVER = 1 << 30  # confirmations no life reaches: a life is judged afresh, never "held"


@dataclass(frozen=True, slots=True)
class LifeSignal:
    """What one life showed for one kind: the groups it flagged, the lead culprit and its partners."""

    flagged: frozenset[str]  # signatures of the groups flagged in this life
    culprit: CulpritGroup
    related: tuple[CulpritGroup, ...]
    growth_per_hour: float
    p_value: float
    baseline: float
    current: float


def life_samples(config: DetectionConfig) -> int:
    return max(MIN_LIFE_SAMPLES, config.min_samples // 4)


def life_config(config: DetectionConfig, span: float) -> DetectionConfig:
    """The window's thresholds for one life of `span` seconds."""
    scale = min(1.0, max(MIN_SCALE, span / config.window_seconds))
    return config.model_copy(
        update={
            "min_samples": life_samples(config),
            "min_growth_goroutines": config.min_growth_goroutines * scale,
            "min_growth_heap_bytes": config.min_growth_heap_bytes * scale,
            "confirmations": _NEVER,
        }
    )


def judgeable(tracker: GroupTracker, config: DetectionConfig) -> bool:
    """Enough of a life to judge: `life_samples` samples over at least `MIN_SCALE` of the window."""
    t = tracker.times
    return len(t) >= life_samples(config) and t[-1] - t[0] >= MIN_SCALE * config.window_seconds


def judge_life(channel: Channel, config: DetectionConfig, rules: RuleSet, now: float) -> LifeSignal | None:
    """The life's signal for the channel's kind, from its samples as they stand; None when the life
    is too short to judge or flagged no group. The channel's own streaks are left as they were."""
    t = channel.tracker
    if not judgeable(t, config):
        return None
    judge = Channel(channel.kind, life_config(config, t.times[-1] - t.times[0]), rules)
    judge.tracker = t
    streaks = {sig: s.flagged_streak for sig, s in t.groups.items()}
    for s in t.groups.values():
        s.flagged_streak = 0
    try:
        signal = judge.evaluate(now)
        flagged = frozenset(
            s.signature
            for s in t.groups.values()
            if s.flagged_streak > 0 and sustained(t.tail_times(s), s.values)
        )
    finally:
        for sig, s in t.groups.items():
            s.flagged_streak = streaks.get(sig, 0)
    if signal is None or not flagged:
        return None  # only the total, a ceiling or growth that flattened: nothing to follow
    groups = [signal.culprit, *signal.related]
    lead = next((g for g in groups if g.signature in flagged), None)
    if lead is None:
        return None
    return LifeSignal(
        flagged,
        _bounded(lead),
        tuple(_bounded(g) for g in groups if g is not lead)[:MAX_RELATED],
        signal.growth_per_hour,
        signal.p_value,
        signal.baseline,
        signal.current,
    )


def sustained(times: Sequence[float], values: Sequence[float]) -> bool:
    """Still growing at the end of the life at `SUSTAIN_SHARE` of its rate over the whole life: a
    short life shows a restart's warm-up (a pool filling, clients reconnecting) as growth that the
    window's "still rising" test lets through when it flattens only in the last quarter; a leak
    keeps its rate until the process dies."""
    n = len(values)
    if n < 6:
        return False
    whole = theil_sen_slope(times, values)
    third = max(3, n // 3)
    return whole > 0 and theil_sen_slope(times[-third:], values[-third:]) >= SUSTAIN_SHARE * whole


def _bounded(g: CulpritGroup) -> CulpritGroup:
    return replace(g, frames=g.frames[:MAX_FRAMES])
