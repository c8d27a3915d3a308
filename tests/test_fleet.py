"""controller.fleet: how widespread a culprit is, the fleet rule, and its false-alarm rate measured
on the corpus's healthy services run side by side as replicas of one workload."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from leakpatrol.controller.verdict.fleet import FleetSpread, PodSignal, fleet_confirms, spread, spread_words
from leakpatrol.core import LeakState, SignalKind
from leakpatrol.detect.evaluator import PodIdentity, Sample, TargetEvaluator
from leakpatrol.detect.signals import CulpritGroup, Evaluation, Signal
from leakpatrol.profiles.loader import load

CORPUS = Path(__file__).parent / "corpus"
HEALTHY = ["steady-pool", "warmup-fill", "load-ramp", "batch-sawtooth", "periodic-load"]
LEAK, OTHER = "IO wait|readLoop", "chan send|worker"


def signal(sig: str, state: LeakState = LeakState.SUSPECTED) -> Signal:
    group = CulpritGroup(sig, "IO wait", ("f",), 100.0, 50.0, 1.0)
    return Signal(SignalKind.GOROUTINES, state, group, (), None, 60.0, 0.001, 50.0, 100.0, 0.0)


def test_spread_counts_pods_with_the_same_culprit_of_those_evaluated() -> None:
    pods = [
        PodSignal("a", True, signal(LEAK)),
        PodSignal("b", True, signal(OTHER)),
        PodSignal("c", True, None),
        PodSignal("d", False, None),  # scanned, too few samples for a verdict: still a replica
    ]
    assert spread(LEAK, pods) == FleetSpread(("a",), 4)


def test_fleet_rule_needs_two_replicas_and_half_of_them() -> None:
    two_of_three = [PodSignal(p, True, signal(LEAK)) for p in "ab"] + [PodSignal("c", True, None)]
    assert fleet_confirms(LEAK, two_of_three)
    one = [PodSignal("a", True, signal(LEAK)), PodSignal("b", True, None)]
    assert not fleet_confirms(LEAK, one)
    two_of_twelve = [PodSignal(str(i), True, signal(LEAK) if i < 2 else None) for i in range(12)]
    assert not fleet_confirms(LEAK, two_of_twelve)
    different = [PodSignal("a", True, signal(LEAK)), PodSignal("b", True, signal(OTHER))]
    assert not fleet_confirms(LEAK, different)


def test_words() -> None:
    assert spread_words(FleetSpread(("a", "b", "c"), 3)) == "in 3 of 3 pods"
    assert (
        spread_words(FleetSpread(("web-x",), 12))
        == "in 1 of 12 pods only (web-x): likely data- or peer-specific"
    )
    assert spread_words(FleetSpread(("a", "b"), 12)) == "in 2 of 12 pods only: likely data- or peer-specific"
    assert spread_words(FleetSpread(("a",), 1)) == "in 1 of 1 pod"


def _replay(series: str) -> list[Evaluation]:
    folder = CORPUS / series
    start = json.loads((folder / "pod.json").read_text())["pod_start"]
    evaluator, out = TargetEvaluator(), []
    for path in sorted(folder.glob("*.goroutine.pb.gz")):  # the goroutine signal only: time-bound
        sample = Sample(float(path.name.split(".")[0]), load(path.read_bytes()))
        out.append(evaluator.observe(sample, PodIdentity(series, start)))
    return out


def test_fleet_rule_false_alarms_on_healthy_replicas_measured() -> None:
    """Every 3 of the 5 healthy goroutine shapes, stamped alike, as the 3 replicas of one workload: at every
    one of their 120 passes, does the fleet rule confirm anything? (The per-pod rule never flags
    them at all, tests/test_corpus.py; this measures that pooling replicas adds no false alarm.)"""
    replays = {s: _replay(s) for s in HEALTHY}
    passes = alarms = 0
    for trio in itertools.combinations(HEALTHY, 3):
        for evaluations in zip(*(replays[s] for s in trio), strict=True):
            passes += 1
            pods = [
                PodSignal(name, e.evaluated, next(iter(e.signals), None))
                for name, e in zip(trio, evaluations, strict=True)
            ]
            culprits = {p.signal.culprit.signature for p in pods if p.signal is not None}
            alarms += any(fleet_confirms(c, pods) for c in culprits)
    print(f"fleet rule: {alarms} false alarms in {passes} healthy 3-replica passes")
    assert passes == 10 * 120 and alarms == 0
