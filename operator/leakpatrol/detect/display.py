"""Which frames of a stack a person should read."""

from __future__ import annotations

from leakpatrol.profiles.model import Frame

# Leading frames from these packages are I/O plumbing; the display starts below them.
_PLUMBING = ("internal/", "net.", "bufio.", "io.", "syscall.", "os.", "crypto/tls.", "sync.", "time.")
DISPLAY_FRAMES = 5


def is_user_function(function: str) -> bool:
    """Not the Go standard library: `main.*`, or a package path whose first element has a dot
    (`github.com/...`). Standard packages never have a dot there (`net/http`, `database/sql`)."""
    path = function.split("/", 1)[0] if "/" in function else function.split(".", 1)[0]
    return path == "main" or ("." in path and "/" in function)


def display_frames(frames: tuple[Frame, ...], limit: int = DISPLAY_FRAMES) -> tuple[str, ...]:
    """The frames worth reading, leaf first: leading I/O plumbing (poll, net, bufio...) skipped.

    When the first user frame lies deeper than `limit` (a caller waiting inside net/http's client,
    nine frames down), the middle is dropped so the display still reaches the user's code: the
    leaf says where it waits, the user frame who made the call."""
    start = 0
    while start < len(frames) - 1 and frames[start].function.startswith(_PLUMBING):
        start += 1
    shown = frames[start:]
    user = next((i for i, f in enumerate(shown) if is_user_function(f.function)), None)
    if user is None or user < limit or limit < 4:
        return tuple(f.display() for f in shown[:limit])
    head = limit - 3  # the leaf and its caller, then the frame above the user's, the user's and its caller
    picked = shown[:head] + shown[user - 1 : user + 2]
    return tuple(f.display() for f in picked[:limit])
