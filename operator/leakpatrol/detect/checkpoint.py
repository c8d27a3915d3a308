"""Evaluator state as plain data, so an operator restart resumes a series instead of starting over.

Values are stored as integers (goroutines, bytes), delta-encoded: a flat or steadily growing
series becomes a run of small repeated numbers that zlib shrinks tenfold, which keeps a policy
with hundreds of targets inside one ConfigMap. The rule set and thresholds are not stored; they
come from the policy on restore.
"""

from __future__ import annotations

import json
import zlib
from array import array
from collections.abc import Iterable, Mapping
from itertools import accumulate
from typing import Any

from leakpatrol.core import MAX_DECOMPRESSED_BYTES, CheckpointCorrupt
from leakpatrol.detect.channel import Channel
from leakpatrol.detect.config import DetectionConfig
from leakpatrol.detect.evaluator import PodIdentity, TargetEvaluator
from leakpatrol.detect.tracker import VALUE_TYPE, Series
from leakpatrol.diagnose.rules import RuleSet

FORMAT = 2


def _deltas(values: Iterable[float]) -> list[int]:
    out, last = [], 0
    for v in values:
        n = round(v)
        out.append(n - last)
        last = n
    return out


def _undelta(deltas: Iterable[int]) -> array[float]:
    return array(VALUE_TYPE, accumulate(int(d) for d in deltas))


def _channel_state(ch: Channel) -> dict[str, Any]:
    t = ch.tracker
    return {
        "times_ms": _deltas(x * 1000 for x in t.times),
        "total": _deltas(t.total),
        "load": _deltas(t.load),
        "roots": {root: _deltas(values) for root, values in t.roots.items()},
        "streak": ch.streak,
        "since": ch.since,
        "groups": [
            [s.signature, s.wait_kind, list(s.frames), s.is_load, _deltas(s.values), s.flagged_streak]
            for s in t.groups.values()
        ],
    }


def _restore_channel(ch: Channel, state: Mapping[str, Any]) -> None:
    t = ch.tracker
    t.times = [ms / 1000 for ms in accumulate(int(d) for d in state["times_ms"])]
    t.total = _undelta(state["total"])
    t.load = _undelta(state["load"])
    t.roots = {str(root): _undelta(values) for root, values in state["roots"].items()}
    ch.streak, ch.since = int(state["streak"]), state["since"]
    for sig, wait, frames, is_load, values, streak in state["groups"]:
        t.groups[sig] = Series(sig, wait, tuple(frames), bool(is_load), _undelta(values), int(streak))


def dump(ev: TargetEvaluator) -> dict[str, Any]:
    pod = ev.pod
    return {
        "format": FORMAT,
        "pod": None if pod is None else [pod.uid, pod.started_at, pod.restarts],
        "goroutines": _channel_state(ev.goroutines),
        "heap": _channel_state(ev.heap),
    }


def restore(state: Mapping[str, Any], config: DetectionConfig, rules: RuleSet) -> TargetEvaluator:
    ev = TargetEvaluator(config, rules)
    try:
        if state.get("format") != FORMAT:
            raise CheckpointCorrupt(f"checkpoint format {state.get('format')!r}, expected {FORMAT}")
        if state["pod"] is not None:
            uid, started, restarts = state["pod"]
            ev.pod = PodIdentity(str(uid), None if started is None else float(started), int(restarts))
        _restore_channel(ev.goroutines, state["goroutines"])
        _restore_channel(ev.heap, state["heap"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointCorrupt(f"unusable checkpoint: {exc!r}") from exc
    # Thresholds may have changed while we were down: re-apply the window to what was restored.
    for ch in (ev.goroutines, ev.heap):
        ch.tracker.trim(config.window_seconds, config.max_samples)
    return ev


def encode(states: Mapping[str, Mapping[str, Any]]) -> bytes:
    """The one compression of a checkpoint: the store keeps these bytes as they are."""
    return zlib.compress(json.dumps(states, separators=(",", ":")).encode(), 6)


def decode(blob: bytes, max_bytes: int = MAX_DECOMPRESSED_BYTES) -> dict[str, Any]:
    try:
        d = zlib.decompressobj()
        raw = d.decompress(blob, max_bytes)
        if d.unconsumed_tail:
            raise CheckpointCorrupt(f"checkpoint expands beyond {max_bytes} bytes")
        if not d.eof:
            raise CheckpointCorrupt("checkpoint is truncated: the zlib stream does not end")
        value = json.loads(raw)
    except (zlib.error, ValueError) as exc:
        raise CheckpointCorrupt(f"corrupt checkpoint: {exc}") from exc
    if not isinstance(value, dict):
        raise CheckpointCorrupt("checkpoint is not a JSON object")
    return value
