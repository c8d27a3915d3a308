"""The engine against our recorded corpus of real Go programs (tests/corpus/README.md says how each
series was made). Every leak is found with the right culprit and rule; no healthy shape is ever
flagged, not even as a suspicion for one evaluation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from leakpatrol.cli import main
from leakpatrol.detect.replay import Verdict, replay
from leakpatrol.seriesdir import SeriesDir

CORPUS = Path(__file__).parent / "corpus"
MINUTE = 60


@dataclass(frozen=True)
class Leak:
    signal: str
    rule: str
    frame: str  # a function the culprit (or a lockstep partner) must show
    within_minutes: float = 120


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
}
HEALTHY = ["steady-pool", "warmup-fill", "load-ramp", "batch-sawtooth", "periodic-load", "heap-sawtooth"]


def _replay(name: str) -> tuple[Verdict, SeriesDir]:
    path = CORPUS / name
    if not path.is_dir():
        pytest.fail(f"corpus series {name} missing: run scripts/record_corpus.py --only {name}")
    series = SeriesDir.open(path)
    verdict = replay(series.samples(), series.pod)
    assert not series.skipped, series.skipped
    return verdict, series


@pytest.mark.parametrize("name", sorted(LEAKS))
def test_leak_is_found_with_culprit_and_rule(name: str) -> None:
    expected = LEAKS[name]
    verdict, series = _replay(name)
    assert verdict.verdict == "leak"
    signal = next((s for s in verdict.signals if s.kind.value == expected.signal), None)
    assert signal is not None, [s.kind for s in verdict.signals]
    assert signal.rule is not None and signal.rule.id == expected.rule
    frames = [f for g in (signal.culprit, *signal.related) for f in g.frames]
    assert any(expected.frame in f for f in frames), frames
    assert signal.culprit.share >= 0.2
    start = series.pod.started_at if series.pod and series.pod.started_at else min(series.files)
    assert verdict.first_detected_at is not None
    assert verdict.first_detected_at - start <= expected.within_minutes * MINUTE


@pytest.mark.parametrize("name", HEALTHY)
def test_healthy_shape_is_never_flagged(name: str) -> None:
    verdict, _ = _replay(name)
    assert verdict.verdict == "no-leak"
    assert verdict.flagged_at == [], f"flagged at {len(verdict.flagged_at)} evaluations"


def test_goroutineleak_profile_is_a_direct_signal() -> None:
    verdict, _ = _replay("chan-send-after-timeout")
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
