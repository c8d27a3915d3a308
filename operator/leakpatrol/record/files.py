"""The files a recording writes: one per sample and kind, `recording.json`, each whole or absent."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leakpatrol import __version__

DEFAULT_MAX_BYTES = 64 << 20  # debug=1 of 4k distinct stacks is ~4.5 MB; 64 MiB is far beyond sane
FINAL_GOROUTINELEAK = "final.goroutineleak.txt"
RECORDING_JSON = "recording.json"


def sample_filename(stamp: int, kind: str, *, text: bool = False) -> str:
    """The file name of one sample: `<stamp>.<kind>.pb.gz`, or `<stamp>.goroutine.txt` for text."""
    if text and kind == "goroutine":
        return f"{stamp}.goroutine.txt"
    return f"{stamp}.{kind}.pb.gz"


@dataclass(frozen=True, slots=True)
class Missing:
    """One profile of one sample that did not arrive, and why."""

    time: int
    kind: str
    error: str

    def to_json(self) -> dict[str, Any]:
        return {"time": self.time, "kind": self.kind, "error": self.error}


@dataclass(frozen=True, slots=True)
class SampleResult:
    """What one sample got: the files saved and the profiles missing (progress reports this)."""

    index: int
    count: int
    time: int
    saved: Mapping[str, Path]
    missing: tuple[Missing, ...]


@dataclass(slots=True)
class Recording:
    """A recording as `recording.json` keeps it. `process_start` is the target's own word (its
    `process_start_time_seconds` metric) or None; `recording_start` is the first sample's stamp."""

    url: str
    interval_seconds: float
    recording_start: float | None = None
    process_start: float | None = None
    process_start_from: str | None = None
    planned: int = 0
    samples: int = 0  # samples with at least one profile saved
    missing: list[Missing] = field(default_factory=list)
    ended: str = "recording"  # "complete" | "interrupted" once it is over

    def to_json(self) -> dict[str, Any]:
        return {
            "recorded_by": f"leakpatrol {__version__}",
            "url": self.url,
            "interval_seconds": self.interval_seconds,
            "recording_start": self.recording_start,
            "process_start": self.process_start,
            "process_start_from": self.process_start_from,
            "planned": self.planned,
            "samples": self.samples,
            "missing": [m.to_json() for m in self.missing],
            "ended": self.ended,
        }

    def write(self, dest: Path) -> None:
        write_atomically(dest / RECORDING_JSON, (json.dumps(self.to_json(), indent=2) + "\n").encode())


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.part")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
