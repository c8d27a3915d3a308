"""A checkpointed evaluator resumes exactly where it stopped."""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def _stored_state() -> dict[str, Any]:
    series = SeriesDir.open(SERIES)
    ev = TargetEvaluator(DetectionConfig(), RuleSet.default())
    for s in list(series.samples())[:12]:
        ev.observe(s, series.pod)
    state: dict[str, Any] = json.loads(json.dumps(checkpoint.dump(ev)))
    assert state["goroutines"]["groups"]  # the edits below have something to break
    return state


def _append_total(s: dict[str, Any]) -> None:
    s["goroutines"]["total"].append(1)


def _total_as_string(s: dict[str, Any]) -> None:
    s["goroutines"]["total"] = "".join("1" for _ in s["goroutines"]["total"])


def _infinite_delta(s: dict[str, Any]) -> None:
    s["heap"]["total"][0] = float("inf")  # what json reads `1e999` as


def _huge_delta(s: dict[str, Any]) -> None:
    s["goroutines"]["times_ms"][-1] = 10**400


def _group_longer_than_times(s: dict[str, Any]) -> None:
    s["goroutines"]["groups"][0][4] += [0, 0]


def _time_going_back(s: dict[str, Any]) -> None:
    s["goroutines"]["times_ms"][-1] = -(10**9)


def _state_not_an_object(s: dict[str, Any]) -> None:
    s.clear()
    s["format"] = [checkpoint.FORMAT]


@pytest.mark.parametrize(
    "corrupt",
    [
        _append_total,
        _total_as_string,
        _infinite_delta,
        _huge_delta,
        _group_longer_than_times,
        _time_going_back,
        _state_not_an_object,
    ],
)
def test_an_edited_checkpoint_is_refused_on_restore_not_on_a_later_pass(
    corrupt: Callable[[dict[str, Any]], None],
) -> None:
    state = _stored_state()
    checkpoint.restore(state, DetectionConfig(), RuleSet.default())  # the untouched one is fine
    corrupt(state)
    with pytest.raises(CheckpointCorrupt):
        checkpoint.restore(state, DetectionConfig(), RuleSet.default())
    with pytest.raises(CheckpointCorrupt):  # a list where an object belongs
        checkpoint.restore([state], DetectionConfig(), RuleSet.default())  # type: ignore[arg-type]
