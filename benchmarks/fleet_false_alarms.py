"""Measure the fleet rule's false-alarm rate on noise, against the single-pod rule it shortcuts.

Each run is one workload of REPLICAS pods, each fed SAMPLES goroutine profiles through the real
`TargetEvaluator`. Every pod has a steady group and one noisy group: AR(1) noise (phi 0.8) around
a flat level, independent per pod, with floors lowered so that single evaluations do trip now and
then (the corpus's healthy services never trip at all, which measures nothing). Counted per run:

- single: some pod is Confirmed by its own consecutive flags (what the operator does without the
  fleet rule), and
- fleet:  at some pass the fleet rule (controller.fleet.fleet_confirms) confirms the noisy group.

    .venv/bin/python benchmarks/fleet_false_alarms.py [runs]
"""

from __future__ import annotations

import random
import sys

from leakpatrol.controller.verdict.fleet import PodSignal, fleet_confirms
from leakpatrol.core import LeakState
from leakpatrol.detect.config import DetectionConfig
from leakpatrol.detect.evaluator import Sample, TargetEvaluator
from leakpatrol.profiles.model import Frame, Profile, ProfileFormat, ProfileKind, StackGroup, WaitKind

REPLICAS, SAMPLES, PHI, SIGMA = 3, 60, 0.8, 6.0
CONFIG = DetectionConfig(
    window_seconds=3600,
    warmup_seconds=0,
    min_samples=20,
    min_growth_goroutines=10,
    relative_growth=0.0,
)


def group(name: str, wait: WaitKind, count: int) -> StackGroup:
    frames = (Frame(f"main.{name}", "main.go", 10),)
    return StackGroup(f"{wait.value}|main.{name}", wait, frames, frames, count)


def profile(noisy: float) -> Profile:
    groups = [
        group("pool", WaitKind.CHAN_RECEIVE, 200),
        group("conns", WaitKind.IO_WAIT, max(0, round(noisy))),
    ]
    return Profile(ProfileKind.GOROUTINE, ProfileFormat.PROTO, groups, sum(g.count for g in groups))


def run(rng: random.Random) -> tuple[bool, bool]:
    pods = [TargetEvaluator(CONFIG) for _ in range(REPLICAS)]
    noise = [0.0] * REPLICAS
    single = fleet = False
    for i in range(SAMPLES):
        signals = []
        for p, ev in enumerate(pods):
            noise[p] = PHI * noise[p] + rng.gauss(0, SIGMA)
            out = ev.observe(Sample(60.0 * i, profile(100 + noise[p])))
            s = next(iter(out.signals), None)
            single |= s is not None and s.state is LeakState.CONFIRMED
            signals.append(PodSignal(str(p), out.evaluated, s))
        fleet |= any(fleet_confirms(s.signal.culprit.signature, signals) for s in signals if s.signal)
    return single, fleet


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    rng = random.Random(13)
    results = [run(rng) for _ in range(runs)]
    single = sum(s for s, _ in results)
    fleet = sum(f for _, f in results)
    added = sum(f and not s for s, f in results)
    print(f"{runs} runs of {REPLICAS} replicas x {SAMPLES} samples, AR(1) phi={PHI} sigma={SIGMA}:")
    print(f"  single-pod rule (own confirmations): {single} runs with a false alarm ({single / runs:.1%})")
    print(f"  fleet rule (>= 2 replicas, >= half, one pass): {fleet} runs ({fleet / runs:.1%})")
    print(f"  fleet rule where the single-pod rule had none (alarms it adds): {added} ({added / runs:.1%})")


if __name__ == "__main__":
    main()
