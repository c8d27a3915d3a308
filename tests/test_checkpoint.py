"""A checkpointed evaluator resumes exactly where it stopped."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from leakpatrol.core import CheckpointCorrupt
from leakpatrol.detect import checkpoint
from leakpatrol.detect.config import DetectionConfig
from leakpatrol.detect.evaluator import TargetEvaluator
from leakpatrol.diagnose.rules import RuleSet
from leakpatrol.seriesdir import SeriesDir

SERIES = Path(__file__).parent / "corpus" / "transport-per-request"


def test_resume_after_restart_matches_an_uninterrupted_run() -> None:
    series = SeriesDir.open(SERIES)
    samples = list(series.samples())
    config, rules = DetectionConfig(), RuleSet.default()
    straight = TargetEvaluator(config, rules)
    expected = [straight.observe(s, series.pod) for s in samples]

    half = len(samples) // 2
    first = TargetEvaluator(config, rules)
    for s in samples[:half]:
        first.observe(s, series.pod)
    blob = checkpoint.encode({"pod-uid": checkpoint.dump(first)})
    assert len(blob) < 16_000  # compact enough for a ConfigMap with many targets
    resumed = checkpoint.restore(checkpoint.decode(blob)["pod-uid"], config, rules)
    got = [resumed.observe(s, series.pod) for s in samples[half:]]

    assert [e.leak for e in got] == [e.leak for e in expected[half:]]
    assert [[s.culprit.signature for s in e.signals] for e in got] == [
        [s.culprit.signature for s in e.signals] for e in expected[half:]
    ]
    assert any(e.leak for e in got)


def test_corrupt_or_foreign_checkpoints_are_refused() -> None:
    with pytest.raises(CheckpointCorrupt):
        checkpoint.decode(b"not zlib")
    with pytest.raises(CheckpointCorrupt, match="expands beyond"):  # 80 KB that inflates to 80 MB
        checkpoint.decode(zlib.compress(b"\0" * (80 << 20)))
    with pytest.raises(CheckpointCorrupt, match="truncated"):
        checkpoint.decode(zlib.compress(b'{"a": 1}')[:-3])
    with pytest.raises(CheckpointCorrupt):
        checkpoint.restore({"format": 99}, DetectionConfig(), RuleSet.default())
    with pytest.raises(CheckpointCorrupt):
        checkpoint.restore({"format": 1, "pod": None}, DetectionConfig(), RuleSet.default())
