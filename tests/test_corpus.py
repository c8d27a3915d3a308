"""The engine against our recorded corpus of real Go programs (tests/corpus/README.md says how each
series was made). Every leak is found with the right culprit and rule, on the signal that carries
it, and stays found once confirmed; no healthy shape is ever flagged, not even as a suspicion for
one evaluation. Over the leaks, the median time to confirm is at most 20 nominal minutes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from statistics import median

import pytest

from leakpatrol.cli import main
from leakpatrol.detect.evaluator import TargetEvaluator
from leakpatrol.detect.replay import ReplayVerdict, replay
from leakpatrol.detect.signals import Evaluation, Signal
from leakpatrol.seriesdir import SeriesDir

pytestmark = pytest.mark.corpus  # ~20 s: not in `make fast`
CORPUS = Path(__file__).parent / "corpus"
MINUTE = 60


@dataclass(frozen=True)
class Leak:
    signal: str
    rule: str
    frame: str  # a function the culprit (or a lockstep partner) must show
    within_minutes: float = 60
    lead: str = ""  # a function the lead culprit itself must show


LEAKS = {
    "transport-per-request": Leak("goroutines", "http-transport-per-request", "persistConn).readLoop", 30),
    "transport-per-request-text": Leak(
        "goroutines", "http-transport-per-request", "persistConn).readLoop", 30
    ),
    "body-not-closed": Leak("goroutines", "http-body-not-closed", "persistConn).readLoop", 30),
    "chan-send-after-timeout": Leak("goroutines", "chan-send-blocked", "main."),
    "slow-leak-noisy": Leak("goroutines", "chan-receive-blocked", "main."),
    "step-leak": Leak("goroutines", "select-forever", "main."),
    "heap-leak": Leak("heap", "heap-growth", "main.(*sessionCache).put", 40),
    # A leak inside the request root while traffic ramps: same stack as the healthy in-flight ones.
    "stuck-handler-ramp": Leak(
        "goroutines", "chan-receive-blocked", "main.handleOrder", lead="main.handleOrder"
    ),
    # Hung calls: roundTrip waiters with their connections' readLoop/writeLoop, led by the caller.
    "client-no-timeout": Leak(
        "goroutines", "http-no-timeout", "persistConn).readLoop", 30, "main.refreshPrice"
    ),
}
HEALTHY = [
    "steady-pool",
    "warmup-fill",
    "load-ramp",
    "batch-sawtooth",
    "periodic-load",
    "heap-sawtooth",
    "dispatcher-ramp",  # load that is not net/http: go d.handle(job), ramping an hour
    "queue-consumer-ramp",  # go c.process(m), ramping 45 minutes
]
MEDIAN_MINUTES = 20


@cache
def replay_series(corpus: Path, name: str, recorder: str) -> tuple[ReplayVerdict, SeriesDir]:
    """A recorded series replayed through the engine (this corpus and tests/corpus-lib alike);
    `recorder` is the script that records it, named when the series is missing."""
    path = corpus / name
    if not path.is_dir():
        pytest.fail(f"corpus series {path} missing: run scripts/{recorder} --only {name}")
    series = SeriesDir.open(path)
    verdict = replay(series.samples(), series.pod)
    assert not series.skipped, series.skipped
    return verdict, series


def series_start(series: SeriesDir) -> float:
    return series.pod.started_at if series.pod and series.pod.started_at else min(series.files)


def minutes_to_confirm(verdict: ReplayVerdict, series: SeriesDir) -> float:
    assert verdict.first_detected_at is not None, series
    return (verdict.first_detected_at - series_start(series)) / MINUTE


@cache
def evaluations_of(path: Path) -> list[Evaluation]:
    """The evaluator's verdict after every sample of the series, in order."""
    series = SeriesDir.open(path)
    evaluator = TargetEvaluator()
    return [evaluator.observe(s, series.pod) for s in series.samples()]


def assert_found(expected: Leak, verdict: ReplayVerdict, series: SeriesDir) -> Signal:
    """A leak found on its signal, with its rule and culprit, in time; that signal first."""
    assert verdict.verdict == "leak"
    signal = next((s for s in verdict.signals if s.kind.value == expected.signal), None)
    assert signal is not None, [s.kind for s in verdict.signals]
    assert signal.rule is not None and signal.rule.id == expected.rule, signal.rule
    frames = [f for g in (signal.culprit, *signal.related) for f in g.frames]
    assert any(expected.frame in f for f in frames), frames
    assert any(expected.lead in f for f in signal.culprit.frames), signal.culprit.frames
    assert minutes_to_confirm(verdict, series) <= expected.within_minutes
    # The signal a reader should act on comes first: what grows, before the runtime's proof.
    assert verdict.signals[0].kind.value == expected.signal
    return signal


@dataclass(frozen=True)
class Corpus:
    """A recorded corpus and the script that records it: what its tests replay, by series name."""

    path: Path
    recorder: str

    def replay(self, name: str) -> tuple[ReplayVerdict, SeriesDir]:
        return replay_series(self.path, name, self.recorder)

    def minutes_to_confirm(self, name: str) -> float:
        return minutes_to_confirm(*self.replay(name))

    def evaluations(self, name: str) -> list[Evaluation]:
        return evaluations_of(self.path / name)


STDLIB = Corpus(CORPUS, "record_corpus.py")


@pytest.mark.parametrize("name", sorted(LEAKS))
def test_leak_is_found_with_culprit_and_rule(name: str) -> None:
    signal = assert_found(LEAKS[name], *STDLIB.replay(name))
    assert signal.culprit.share >= 0.2


@pytest.mark.parametrize("name", sorted(LEAKS))
def test_one_leak_one_rule_whatever_the_signal(name: str) -> None:
    """Every culprit group of a lockstep set, and the goroutineleak profile's view of the same
    stack, carries the rule the signal states."""
    verdict, _ = STDLIB.replay(name)
    by_stack: dict[str, set[str]] = {}
    for s in verdict.signals:
        for g in (s.culprit, *s.related):
            if g.rule is not None:
                by_stack.setdefault(g.signature.partition("|")[2], set()).add(g.rule.id)
    assert all(len(ids) == 1 for ids in by_stack.values()), by_stack


@pytest.mark.parametrize("name", sorted(LEAKS))
def test_a_confirmed_leak_stays_confirmed(name: str) -> None:
    evaluations = STDLIB.evaluations(name)
    first = next(i for i, ev in enumerate(evaluations) if ev.leak)
    lost = [i for i, ev in enumerate(evaluations[first:], first) if not ev.leak]
    assert lost == [], f"confirmed at sample {first}, then not at {lost}"


def test_median_time_to_confirm() -> None:
    minutes = {name: STDLIB.minutes_to_confirm(name) for name in LEAKS}
    assert median(minutes.values()) <= MEDIAN_MINUTES, minutes
    assert max(minutes.values()) <= 60, minutes


@pytest.mark.parametrize("name", HEALTHY)
def test_healthy_shape_is_never_flagged(name: str) -> None:
    verdict, _ = STDLIB.replay(name)
    assert verdict.verdict == "no-leak"
    assert verdict.flagged_at == [], f"flagged at {len(verdict.flagged_at)} evaluations"


def test_goroutineleak_profile_is_a_direct_signal() -> None:
    verdict, _ = STDLIB.replay("chan-send-after-timeout")
    leak = next(s for s in verdict.signals if s.kind.value == "goroutineleak")
    assert leak.rule is not None and leak.rule.id == "chan-send-blocked"
    assert leak.culprit.wait_kind == "chan send"  # recovered from the goroutine profile beside it


def test_analyze_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(CORPUS / "transport-per-request"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "leak"
    assert isinstance(out["first_detected_at"], float)
    sig = out["signals"][0]
    assert set(sig) >= {"kind", "culprit", "rule", "growth_per_hour", "p_value"}
    assert set(sig["culprit"]) == {"signature", "frames", "count", "growth", "share"}
    assert sig["rule"]["id"] == "http-transport-per-request"
    assert 0 < sig["culprit"]["share"] <= 1 and sig["p_value"] < 0.01


def test_thresholds_flags_change_the_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    main(["analyze", str(CORPUS / "transport-per-request"), "--json", "--min-growth", "100000"])
    assert json.loads(capsys.readouterr().out)["verdict"] == "no-leak"


def test_allowlisted_groups_are_never_flagged(capsys: pytest.CaptureFixture[str]) -> None:
    # Everything the transport leak grows is declared static: nothing is left to flag.
    args = ["--allow", "persistConn", "--allow", "net/http.(*conn).serve", "--json"]
    main(["analyze", str(CORPUS / "transport-per-request"), *args])
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "no-leak", out["signals"]
