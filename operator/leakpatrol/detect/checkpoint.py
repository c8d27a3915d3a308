"""Evaluator state as plain data, so an operator restart resumes a series instead of starting over.

Values are stored as integers (goroutines, bytes), delta-encoded: a flat or steadily growing
series becomes a run of small repeated numbers that zlib shrinks tenfold, which keeps a policy
with hundreds of targets inside one ConfigMap. The rule set and thresholds are not stored; they
come from the policy on restore. Format 3 adds the pod's ended container lives (`detect.lives`);
a format 2 checkpoint (no lives) is still read.
"""

from __future__ import annotations

import json
import math
import zlib
from array import array
from collections.abc import Iterable, Mapping
from itertools import accumulate, pairwise
from typing import Any

from leakpatrol.core import MAX_DECOMPRESSED_BYTES, CheckpointCorrupt, SignalKind
from leakpatrol.detect.channel import Channel
from leakpatrol.detect.config import DetectionConfig
from leakpatrol.detect.evaluator import PodIdentity, TargetEvaluator
from leakpatrol.detect.lives import KINDS, Lives
from leakpatrol.detect.tracker import VALUE_TYPE, Series
from leakpatrol.diagnose.rules import RuleSet

FORMAT = 3
READABLE = (2, 3)  # 2: before lives were kept
MAX_MAGNITUDE = 1 << 53  # a stored delta or value beyond this is no count of goroutines or bytes


def _deltas(values: Iterable[float]) -> list[int]:
    out, last = [], 0
    for v in values:
        n = round(v)
        out.append(n - last)
        last = n
    return out


def _ints(value: object, field: str) -> list[int]:
    """A stored delta list, checked: a checkpoint is read back from a ConfigMap anyone with write
    access to it may have edited, and a bad value must be refused here, not fail every pass later."""
    if not isinstance(value, list):
        raise CheckpointCorrupt(f"{field} is {type(value).__name__}, not a list")
    for d in value:
        if type(d) is not int or abs(d) > MAX_MAGNITUDE:  # bool, float (1e999 is inf) or huge
            raise CheckpointCorrupt(f"{field} holds {d!r}, not an integer delta")
    return value


def _undelta(deltas: object, field: str, length: int | None = None) -> array[float]:
    values: array[float] = array(VALUE_TYPE, accumulate(_ints(deltas, field)))
    if length is not None and len(values) != length:
        raise CheckpointCorrupt(f"{field} has {len(values)} values for {length} sample times")
    if any(abs(v) > MAX_MAGNITUDE for v in values):
        raise CheckpointCorrupt(f"{field} adds up to values beyond {MAX_MAGNITUDE}")
    return values


def _channel_state(ch: Channel) -> dict[str, Any]:
    t = ch.tracker
    return {
        "times_ms": _deltas(x * 1000 for x in t.times),
        "total": _deltas(t.total),
        "load": _deltas(t.load),
        "roots": {root: _deltas(values) for root, values in t.roots.items()},
        "streak": ch.streak,
        "since": ch.since,
        "held": ch.held,
        "groups": [
            [s.signature, s.wait_kind, list(s.frames), s.is_load, _deltas(s.values), s.flagged_streak]
            for s in t.groups.values()
        ],
    }


def _restore_channel(ch: Channel, state: Mapping[str, Any], name: str) -> None:
    """Every series checked against the sample times before anything is kept: equal lengths where
    the tracker keeps them aligned, tails no longer than the times where it keeps a tail."""
    t = ch.tracker
    times = [ms / 1000 for ms in accumulate(_ints(state["times_ms"], f"{name}.times_ms"))]
    if any(b < a for a, b in pairwise(times)):
        raise CheckpointCorrupt(f"{name}.times_ms goes back in time")
    n = len(times)
    total = _undelta(state["total"], f"{name}.total", n)
    load = _undelta(state["load"], f"{name}.load")
    if len(load) not in (0, n):
        raise CheckpointCorrupt(f"{name}.load has {len(load)} values for {n} sample times")
    roots = {str(root): _undelta(v, f"{name}.roots") for root, v in dict(state["roots"]).items()}
    streak, since = state["streak"], state["since"]
    if type(streak) is not int or streak < 0 or not (since is None or type(since) in (int, float)):
        raise CheckpointCorrupt(f"{name}.streak/since are {streak!r}/{since!r}")
    groups = {}
    for sig, wait, frames, is_load, values, group_streak in state["groups"]:
        series = _undelta(values, f"{name}.groups")
        if not isinstance(sig, str) or type(group_streak) is not int or len(series) > n:
            raise CheckpointCorrupt(f"{name}.groups holds an unusable series ({str(sig)[:80]!r})")
        groups[sig] = Series(sig, str(wait), tuple(map(str, frames)), bool(is_load), series, group_streak)
    if any(len(r) > n for r in roots.values()):
        raise CheckpointCorrupt(f"{name}.roots holds a series longer than the sample times")
    # Written before a heap finding had to persist to be confirmed: confirmed at its streak then.
    held = state.get("held", streak >= ch.config.confirmations)
    if type(held) is not bool:
        raise CheckpointCorrupt(f"{name}.held is {held!r}")
    t.times, t.total, t.load, t.roots, t.groups = times, total, load, roots, groups
    ch.streak, ch.since, ch.held = streak, since, held


def dump(ev: TargetEvaluator) -> dict[str, Any]:
    pod = ev.pod
    return {
        "format": FORMAT,
        "pod": None if pod is None else [pod.uid, pod.started_at, pod.restarts],
        "goroutines": _channel_state(ev.goroutines),
        "heap": _channel_state(ev.heap),
        "lives": ev.lives.dump(),
        "workload": None if ev.workload is None else list(ev.workload),
        "lives_since": {kind.value: t for kind, t in ev.lives_since.items()},
    }


def restore(state: Mapping[str, Any], config: DetectionConfig, rules: RuleSet) -> TargetEvaluator:
    ev = TargetEvaluator(config, rules)
    if not isinstance(state, Mapping):
        raise CheckpointCorrupt(f"a target's state is {type(state).__name__}, not an object")
    try:
        if state.get("format") not in READABLE:
            raise CheckpointCorrupt(f"checkpoint format {state.get('format')!r}, expected {FORMAT}")
        if state["pod"] is not None:
            uid, started, restarts = state["pod"]
            ev.pod = PodIdentity(str(uid), None if started is None else float(started), int(restarts))
        _restore_channel(ev.goroutines, state["goroutines"], "goroutines")
        _restore_channel(ev.heap, state["heap"], "heap")
        if state["format"] >= 3:
            ev.lives = Lives.restore(state["lives"], rules)
            ev.lives_since = _since(state["lives_since"])
            ev.workload = _workload(state["workload"])
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise CheckpointCorrupt(f"unusable checkpoint: {exc!r}") from exc
    # Thresholds may have changed while we were down: re-apply the window to what was restored.
    for ch in (ev.goroutines, ev.heap):
        ch.tracker.trim(config.window_seconds, config.max_samples)
    return ev


def _since(value: object) -> dict[SignalKind, float]:
    kinds = {k.value: k for k in KINDS}
    if not isinstance(value, dict) or any(k not in kinds for k in value):
        raise CheckpointCorrupt("lives_since is not a time per signal kind")
    if any(type(t) not in (int, float) or not math.isfinite(t) for t in value.values()):
        raise CheckpointCorrupt("lives_since holds something that is not a time")
    return {kinds[k]: float(t) for k, t in value.items()}


def _workload(value: object) -> tuple[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise CheckpointCorrupt("workload is not a kind and a name")
    kind, name = value
    if not isinstance(kind, str) or not isinstance(name, str) or max(len(kind), len(name)) > 253:
        raise CheckpointCorrupt("workload is not a kind and a name")
    return kind, name


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
