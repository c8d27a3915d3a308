"""A heap finding is confirmed on growth that persists (detect/persist.py): a fill that stops
stays Suspected and resolves; a leak is confirmed one span after it is first suspected; once
confirmed it stays so, across a checkpoint too, while it still rises."""

from __future__ import annotations

import random

import pytest

from leakpatrol.core import LeakState, SignalKind
from leakpatrol.detect import checkpoint
from leakpatrol.detect.config import DetectionConfig
from leakpatrol.detect.evaluator import PodIdentity, Sample, TargetEvaluator
from leakpatrol.detect.persist import keeps_growing, persistence_span
from leakpatrol.detect.signals import Evaluation
from leakpatrol.diagnose.rules import RuleSet
from leakpatrol.profiles.model import (
    Frame,
    HeapValues,
    Profile,
    ProfileFormat,
    ProfileKind,
    StackGroup,
    WaitKind,
)

T0 = 1_900_000_000.0
MINUTE = 60.0
MIB = 1 << 20
CONFIG = DetectionConfig(warmup_seconds=0)
POD = PodIdentity("pod", T0)  # started at the first sample: the default's 10 minutes of warm-up apply
# Sampled once a minute, the span is the window's eighth: 15 minutes.
SPAN_MINUTES = persistence_span(CONFIG.window_seconds, [m * MINUTE for m in range(60)], 12) / MINUTE


def heap(minute: int, mib: float) -> Sample:
    """A heap profile: a flat 4 MiB of start-up data and one site holding `mib`."""

    def site(name: str, size: float) -> StackGroup:
        frames = (Frame(name, "main.go", 10), Frame("main.main", "main.go", 3))
        values = HeapValues(int(size / 1024), int(size * 3), int(size / 1024), int(size))
        return StackGroup(f"unknown|{name};main.main", WaitKind.UNKNOWN, frames, frames, 1, values)

    groups = [site("main.loadConfig", 4 * MIB), site("main.(*store).put", mib * MIB)]
    total = sum(int(g.heap.inuse_space) for g in groups if g.heap is not None)
    return Sample(T0 + minute * MINUTE, heap=Profile(ProfileKind.HEAP, ProfileFormat.PROTO, groups, total))


def heap_states(evaluations: list[Evaluation]) -> list[str]:
    return [next((s.state.value for s in ev.signals if s.kind is SignalKind.HEAP), "-") for ev in evaluations]


def run(
    curve: list[float],
    evaluator: TargetEvaluator | None = None,
    start: int = 0,
    pod: PodIdentity | None = None,
) -> list[Evaluation]:
    ev = evaluator or TargetEvaluator(CONFIG)
    return [ev.observe(heap(start + m, mib), pod) for m, mib in enumerate(curve)]


def test_a_steady_leak_is_confirmed_one_span_after_it_is_suspected() -> None:
    states = heap_states(run([0.6 * m for m in range(90)]))
    suspected, confirmed = states.index("Suspected"), states.index("Confirmed")
    assert suspected < confirmed
    assert confirmed - suspected == SPAN_MINUTES
    assert set(states[confirmed:]) == {"Confirmed"}


def test_a_cache_that_fills_and_stops_is_never_confirmed_and_resolves() -> None:
    """The leak's curve above until minute 35, eight minutes after the floors are crossed (at 27),
    then flat: the heap of a read-through cache that reached its bound."""
    states = heap_states(run([0.6 * min(m, 35) for m in range(120)]))
    assert "Suspected" in states  # while it rose, it was a leak's curve
    assert "Confirmed" not in states
    assert states[-1] == "-"


def test_a_fill_that_slows_down_before_the_span_ends_is_not_confirmed() -> None:
    """A read-through cache whose hit rate climbs: fast at first, then a quarter of the pace from
    minute 28 (the floors are crossed at 21)."""
    curve = [0.8 * m if m < 28 else 22.4 + 0.2 * (m - 28) for m in range(50)]
    assert "Confirmed" not in heap_states(run(curve))


def test_once_confirmed_a_heap_leak_that_slows_stays_confirmed_across_a_checkpoint() -> None:
    """Persistence guards confirming, not holding (the hold is the trend's own, judge._held)."""
    curve = [0.6 * m for m in range(60)] + [36 + 0.2 * m for m in range(40)]
    straight = heap_states(run(curve))
    assert straight[55:60] == ["Confirmed"] * 5 and set(straight[60:]) == {"Confirmed"}

    # Checkpointed 20 minutes into the slower rise: its last span alone would not confirm it.
    first = TargetEvaluator(CONFIG)
    run(curve[:80], first)
    blob = checkpoint.encode({"pod": checkpoint.dump(first)})
    resumed = checkpoint.restore(checkpoint.decode(blob)["pod"], CONFIG, RuleSet.default())
    assert heap_states(run(curve[80:], resumed, start=80)) == straight[80:]

    # Without the latch the slower recent rise reads as a fill: what `held` carries over.
    state = checkpoint.decode(blob)["pod"]
    state["heap"]["held"] = False
    unlatched = checkpoint.restore(state, CONFIG, RuleSet.default())
    assert heap_states(run(curve[80:], unlatched, start=80))[0] == LeakState.SUSPECTED.value


def test_the_span_is_what_the_sampling_can_see() -> None:
    """15 minutes of a 2 h window; 24 samples' time where that is shorter (a CI run every 5 s)."""
    assert SPAN_MINUTES == 15
    every_5s = [t * 5.0 for t in range(100)]
    assert persistence_span(3600, every_5s, 12) == 23 * 5.0
    assert persistence_span(3600, every_5s[:3], 12) == 10.0
    assert persistence_span(3600, [], 12) == 0.0


def gc_stepped(mib_at: list[float], every: int, seed: int) -> list[float]:
    """What a heap profile shows of a curve: it moves only when a GC completes (every `every`
    minutes here), and what is live at that moment wobbles by up to 0.5 MiB."""
    rng, shown, out = random.Random(seed), mib_at[0], []
    for m, mib in enumerate(mib_at):
        if m % every == 0:
            shown = max(0.0, mib + rng.uniform(-0.5, 0.5))
        out.append(shown)
    return out


@pytest.mark.parametrize("fill_minutes", [35, 45, 55])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_class_a_cache_filling_to_its_bound_is_never_confirmed(fill_minutes: int, seed: int) -> None:
    """Issue 24's class with the default policy (10 minutes of warm-up, 2 h window): a read-through
    cache grows from 0.5 to 25 MiB over 35-55 minutes, every lookup a miss, then holds while it
    evicts."""
    fill = [0.5 + 24.5 * min(m, fill_minutes) / fill_minutes for m in range(120)]
    states = heap_states(run(gc_stepped(fill, 1 + seed, seed), TargetEvaluator(), pod=POD))
    assert "Confirmed" not in states
    assert states[-1] == "-"


@pytest.mark.parametrize("mib_per_minute", [0.55, 0.7, 2.0])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_same_curve_kept_on_is_a_leak_confirmed_within_the_hour(mib_per_minute: float, seed: int) -> None:
    """Up to its fill's end a cache's curve is a leak's: a leak is told by going on. From 0.55
    MiB/min (the 45-minute fill above) it is confirmed within 60 minutes; slower ones take longer
    (the 16 MiB floor, then the span: 0.45 MiB/min, 61 minutes)."""
    leak = [0.5 + mib_per_minute * m for m in range(120)]
    states = heap_states(run(gc_stepped(leak, 1 + seed, seed), TargetEvaluator(), pod=POD))
    assert states.index("Confirmed") <= 60
    assert set(states[states.index("Confirmed") :]) == {"Confirmed"}


def test_keeps_growing_needs_the_span_and_the_rate() -> None:
    times = [m * MINUTE for m in range(60)]
    steady = [float(m) for m in range(60)]
    span = 15 * MINUTE
    assert keeps_growing(times, steady, since=times[-1] - span, span=span)
    assert not keeps_growing(times, steady, since=times[-1] - span + MINUTE, span=span)  # too soon
    slowed = [float(m) if m < 45 else 45 + 0.5 * (m - 45) for m in range(60)]
    assert not keeps_growing(times, slowed, since=0.0, span=span)  # half its earlier pace
    assert not keeps_growing(times[:16], steady[:16], since=0.0, span=span)  # nothing before the span
    assert not keeps_growing([], [], since=0.0, span=span)
