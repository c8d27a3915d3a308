"""A series directory: profiles of one target recorded over time, replayable in time order.

Names: `<unix>.goroutine.pb.gz` (debug=0), `<unix>.goroutine.txt` (debug=1; debug=0 wins when both
exist for a time), `<unix>.heap.pb.gz`, `<unix>.goroutineleak.pb.gz|.txt`, `final.goroutineleak.txt`
(taken at the last sample's time), `pod.json` {"pod_start": <unix>, "container_restarts": <n>}
and `recording.json` (written by `leakpatrol record`: "process_start", "recording_start", what is
missing).

Where the warm-up counts from, best first: `pod.json`'s pod start; the process start the recorder
read from the target; when the recording began; else the first sample. `start_from` says which.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leakpatrol.core import Permanent
from leakpatrol.detect.evaluator import PodIdentity, Sample
from leakpatrol.profiles import Profile, ProfileError, load
from leakpatrol.reasons import Reason

_NAME = re.compile(r"^(?P<t>\d+)\.(?P<kind>goroutine|heap|goroutineleak)\.(?P<ext>pb\.gz|txt)$")
_PREFERENCE = {"pb.gz": 0, "txt": 1}  # debug=0 carries the runtime frames that name the wait kind
FINAL_LEAK = "final.goroutineleak.txt"


def is_series_file(name: str) -> bool:
    return bool(_NAME.match(name)) or name in (FINAL_LEAK, "pod.json")


class SeriesError(Permanent, ValueError):
    """The directory is not a usable series; the message says which file and why."""

    reason = Reason.INVALID_SERIES


@dataclass(slots=True)
class SeriesDir:
    path: Path
    files: dict[int, dict[str, Path]] = field(default_factory=dict)  # time -> kind -> best file
    final_leak: Path | None = None
    pod: PodIdentity | None = None
    start_from: str = ""  # where the warm-up counts from, in words
    missing: int = 0  # profiles the recorder could not fetch (recording.json)
    skipped: list[str] = field(default_factory=list)  # "file: reason" for files that did not load
    loaded: int = 0  # samples replayed with at least one profile

    @classmethod
    def open(cls, path: Path) -> SeriesDir:
        if not path.is_dir():
            raise SeriesError(f"{path}: not a directory" if path.exists() else f"{path}: no such directory")
        series = cls(path)
        chosen: dict[tuple[int, str], str] = {}
        for entry in sorted(path.iterdir()):
            m = _NAME.match(entry.name)
            if m is None:
                continue
            key = (int(m["t"]), m["kind"])
            if key in chosen and _PREFERENCE[chosen[key]] <= _PREFERENCE[m["ext"]]:
                continue
            chosen[key] = m["ext"]
            series.files.setdefault(key[0], {})[key[1]] = entry
        final = path / FINAL_LEAK
        series.final_leak = final if final.exists() else None
        if not series.files:
            raise SeriesError(
                f"{path}: no profiles named <unix-seconds>.<goroutine|heap>.<pb.gz|txt> "
                "(leakpatrol record writes them)"
            )
        series._start()
        return series

    def _start(self) -> None:
        pod = _read_pod(self.path / "pod.json")
        recording = _read_recording(self.path / "recording.json")
        if recording is not None:
            missing = recording.get("missing")
            self.missing = len(missing) if isinstance(missing, list) else 0
        if pod is not None and pod.started_at is not None:
            self.pod, self.start_from = pod, "the pod's start (pod.json)"
            return
        first = float(min(self.files))
        restarts = pod.restarts if pod is not None else 0
        started, self.start_from = first, "the first sample (no pod.json or recording.json)"
        if recording is not None and _number(recording.get("process_start")):
            started = float(recording["process_start"])
            self.start_from = (
                f"the process start (recording.json, from {recording.get('process_start_from')})"
            )
        elif recording is not None and _number(recording.get("recording_start")):
            started = float(recording["recording_start"])
            self.start_from = "the first sample (recording.json: the process start was not known)"
        elif pod is not None:
            self.start_from = "the first sample (pod.json has no pod_start)"
        self.pod = PodIdentity(started_at=started, restarts=restarts)

    def samples(self) -> Iterator[Sample]:
        """Samples in time order, loaded one at a time so a long series never sits in memory. A
        time whose every file failed to load is no sample: it is in `skipped`, not counted."""
        times = sorted(self.files)
        for t in times:
            loaded = {kind: self._load(p) for kind, p in self.files[t].items()}
            if t == times[-1] and self.final_leak is not None:
                loaded.setdefault("goroutineleak", self._load(self.final_leak))
            if not any(loaded.values()):
                continue
            self.loaded += 1
            yield Sample(float(t), loaded.get("goroutine"), loaded.get("heap"), loaded.get("goroutineleak"))

    def _load(self, path: Path) -> Profile | None:
        try:
            return load(path.read_bytes())
        except ProfileError as exc:
            self.skipped.append(f"{path.name}: {exc}")
            return None


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _read_pod(path: Path) -> PodIdentity | None:
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text())
        return PodIdentity(
            started_at=float(raw["pod_start"]) if raw.get("pod_start") is not None else None,
            restarts=int(raw.get("container_restarts", 0)),
        )
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise SeriesError(
            f'{path}: expected {{"pod_start": <unix>, "container_restarts": <n>}}: {exc}'
        ) from exc


def _read_recording(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text())
    except ValueError as exc:
        raise SeriesError(f"{path}: not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise SeriesError(f"{path}: expected an object as leakpatrol record writes it")
    return raw
