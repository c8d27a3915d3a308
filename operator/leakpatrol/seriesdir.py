"""A series directory: profiles of one target recorded over time, replayable in time order.

Names: `<unix>.goroutine.pb.gz` (debug=0), `<unix>.goroutine.txt` (debug=1; debug=0 wins when both
exist for a time), `<unix>.heap.pb.gz`, `<unix>.goroutineleak.pb.gz|.txt`, `final.goroutineleak.txt`
(taken at the last sample's time) and `pod.json` {"pod_start": <unix>, "container_restarts": <n>}.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from leakpatrol.core import Permanent
from leakpatrol.detect.evaluator import PodIdentity, Sample
from leakpatrol.profiles import Profile, ProfileError, load
from leakpatrol.reasons import Reason

_NAME = re.compile(r"^(?P<t>\d+)\.(?P<kind>goroutine|heap|goroutineleak)\.(?P<ext>pb\.gz|txt)$")
_PREFERENCE = {"pb.gz": 0, "txt": 1}  # debug=0 carries the runtime frames that name the wait kind


class SeriesError(Permanent, ValueError):
    """The directory is not a usable series; the message says which file and why."""

    reason = Reason.INVALID_SERIES


@dataclass(slots=True)
class SeriesDir:
    path: Path
    files: dict[int, dict[str, Path]] = field(default_factory=dict)  # time -> kind -> best file
    final_leak: Path | None = None
    pod: PodIdentity | None = None
    skipped: list[str] = field(default_factory=list)  # "file: reason" for files that did not load

    @classmethod
    def open(cls, path: Path) -> SeriesDir:
        if not path.is_dir():
            raise SeriesError(f"{path}: not a directory")
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
        final = path / "final.goroutineleak.txt"
        series.final_leak = final if final.exists() else None
        series.pod = _read_pod(path / "pod.json")
        if not series.files:
            raise SeriesError(f"{path}: no profiles named <unix-seconds>.<goroutine|heap>.<pb.gz|txt>")
        return series

    def samples(self) -> Iterator[Sample]:
        """Samples in time order, loaded one at a time so a long series never sits in memory."""
        times = sorted(self.files)
        for t in times:
            loaded = {kind: self._load(p) for kind, p in self.files[t].items()}
            if t == times[-1] and self.final_leak is not None:
                loaded.setdefault("goroutineleak", self._load(self.final_leak))
            yield Sample(float(t), loaded.get("goroutine"), loaded.get("heap"), loaded.get("goroutineleak"))

    def _load(self, path: Path) -> Profile | None:
        try:
            return load(path.read_bytes())
        except ProfileError as exc:
            self.skipped.append(f"{path.name}: {exc}")
            return None


def _read_pod(path: Path) -> PodIdentity | None:
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text())
        return PodIdentity(
            started_at=float(raw["pod_start"]) if raw.get("pod_start") is not None else None,
            restarts=int(raw.get("container_restarts", 0)),
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise SeriesError(
            f'{path}: expected {{"pod_start": <unix>, "container_restarts": <n>}}: {exc}'
        ) from exc
