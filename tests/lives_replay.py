"""Replaying the recorded corpus as a service that restarts: the measurement behind the lives rule
(detect/lives.py) and its false-alarm figures in the README. Used by tests/test_oom_lives_corpus.py
and `scripts/lives_figures.py` (which prints the README's table).

A series (120 samples of a real Go program, tests/corpus) becomes a container that dies every
`life` samples and is restarted, `lives` times:

- `restart`: every life replays the recording from its start, as a restarted process replays its
  own start-up (warm-up fills, pools refilling, clients reconnecting);
- `segments`: consecutive stretches of the recording, as if the service kept its course across
  the restart (the hard case for load ramps and cycles: a ramp spans two lives).

Every life ends the same way (`OOMKilled` is the worst case for a false alarm: one OOM-killed
life that grew is half the evidence), told to the next life as the kubelet's `lastState`. The
goroutineleak profile is left out: the lives rule is measured alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from leakpatrol.core import LeakState
from leakpatrol.detect.config import DetectionConfig
from leakpatrol.detect.evaluator import PodIdentity, Sample, TargetEvaluator
from leakpatrol.detect.lives import LastLife
from leakpatrol.reasons import Termination
from leakpatrol.seriesdir import SeriesDir

CORPUS = Path(__file__).parent / "corpus"
T0 = 1_900_000_000.0

# The README's two policies: the defaults (1 sample a minute), and the production example's
# (window 6h, warm-up 15m, 36 samples at one every 5 minutes: the recording restamped 5 min apart).
POLICIES = {
    "defaults (window 2h, 1/min)": (DetectionConfig(), 60.0),
    "production (window 6h, 1/5min)": (
        DetectionConfig(window_seconds=6 * 3600, warmup_seconds=900, min_samples=36),
        300.0,
    ),
}


@cache
def recorded(name: str) -> tuple[Sample, ...]:
    series = SeriesDir.open(CORPUS / name)
    return tuple(Sample(s.time, s.goroutine, s.heap, None) for s in series.samples())


@dataclass(frozen=True, slots=True)
class Outcome:
    lives_flags: int  # evaluations where the lives said anything (Suspected or Confirmed)
    window_flags: int  # evaluations where only the window's own path said something
    confirmed_in_life: int | None  # 1-based life in which a leak was first confirmed (either path)
    rule: str | None  # the confirmed signal's rule
    culprit: tuple[str, ...]  # and its frames
    window_confirmed_in_life: int | None = None  # the same by the window's own path alone (as before)


def replay_lives(
    name: str,
    config: DetectionConfig,
    step: float,
    life: int,
    *,
    end: Termination,
    mode: str = "restart",
    lives: int = 5,
) -> Outcome:
    samples = recorded(name)
    ev = TargetEvaluator(config)
    t, last = T0, None
    lives_flags = window_flags = 0
    confirmed: tuple[int, str | None, tuple[str, ...]] | None = None
    window_only: int | None = None
    for k in range(lives):
        start = 0 if mode == "restart" else (k * life) % max(1, len(samples) - life)
        part = samples[start : start + life]
        pod = PodIdentity("uid", t - 10, k, last)
        for i, s in enumerate(part):
            e = ev.observe(Sample(t + i * step, s.goroutine, s.heap, None), pod)
            if any(x.lives for x in e.signals):
                lives_flags += 1
            elif e.signals:
                window_flags += 1
            hit = next((x for x in e.signals if x.state is LeakState.CONFIRMED), None)
            if hit is not None and confirmed is None:
                confirmed = (k + 1, hit.rule.id if hit.rule else None, hit.culprit.frames)
            window = any(x.state is LeakState.CONFIRMED and not x.lives for x in e.signals)
            if window and window_only is None:
                window_only = k + 1
        ended = t + len(part) * step
        last = LastLife(end, 137 if end is Termination.OOM_KILLED else 1, t - 10, ended)
        t = ended + 20
    if confirmed is None:
        return Outcome(lives_flags, window_flags, None, None, (), window_only)
    return Outcome(lives_flags, window_flags, *confirmed, window_only)
