"""Which frames of a stack a person should read."""

from __future__ import annotations

from collections.abc import Sequence

from leakpatrol.profiles.model import Frame

# Leading frames from these packages are I/O plumbing; the display starts below them.
_PLUMBING = ("internal/", "net.", "bufio.", "io.", "syscall.", "os.", "crypto/tls.", "sync.", "time.")
DISPLAY_FRAMES = 5


def display_frames(frames: Sequence[Frame], limit: int = DISPLAY_FRAMES) -> tuple[str, ...]:
    """The frames worth reading, leaf first: leading I/O plumbing (poll, net, bufio...) skipped."""
    start = 0
    while start < len(frames) - 1 and frames[start].function.startswith(_PLUMBING):
        start += 1
    return tuple(f.display() for f in frames[start : start + limit])
