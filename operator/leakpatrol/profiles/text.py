"""debug=1: `goroutine profile: total N`, then one block per distinct stack (and label set).

    9 @ 0x4866ca 0x48a505 0x68dd1d 0x48d461
    # labels: {"worker":"recv"}
    #\t0x48a504\ttime.Sleep+0x164\t/usr/lib/go/src/runtime/time.go:368

The runtime's own frames are already dropped, so the wait kind comes from the hooks that stay
(`internal/poll.runtime_pollWait`, `sync.runtime_Semacquire*`, `time.Sleep`) or is UNKNOWN.
"""

from __future__ import annotations

import json
import operator
from itertools import compress, count
from typing import cast

from leakpatrol.profiles.errors import (
    MalformedProfileError,
    ProfileTooLargeError,
    TruncatedProfileError,
)
from leakpatrol.profiles.groups import SIGNATURE_PREFIX, GroupBuilder, Stack, is_count, new_stack
from leakpatrol.profiles.model import Frame, Profile, ProfileFormat, ProfileKind, WaitKind
from leakpatrol.profiles.waits import frame_wait_kind, is_runtime_function

STAGE = "debug=1"
HEADERS = {
    "goroutine profile: total ": ProfileKind.GOROUTINE,
    "goroutineleak profile: total ": ProfileKind.GOROUTINELEAK,
}
_LABELS = "# labels: "


def _bad(line_no: int, detail: str) -> MalformedProfileError:
    return MalformedProfileError(STAGE, f"line {line_no}", detail)


def _header(first: str) -> tuple[ProfileKind, int]:
    for prefix, kind in HEADERS.items():
        if first.startswith(prefix):
            total = first[len(prefix) :]
            if not is_count(total):
                raise _bad(1, f"bad total {total!r}")
            return kind, int(total)
    raise _bad(1, f"unknown header {first[:80]!r}")


class _Columns:
    """Per-line facts for the whole text, computed by C-level map() over all lines at once.

    Frame lines repeat across stacks (shared callers), so each distinct line is parsed once;
    str hashes are cached on the line objects, so the later lookups cost only a dict probe.
    A block's frames are then plain slices of these columns.
    """

    def __init__(self, lines: list[str]) -> None:
        frames: dict[str, Frame] = {}
        user: dict[str, Frame | None] = {}
        names: dict[str, str] = {}  # the function name for user frames, else ""
        wait: dict[str, WaitKind | None] = {}
        # Python code runs once per distinct line only (set() hashes every line in C).
        for line in set(lines):
            if not line.startswith("#\t"):
                continue  # header, blank or label line: never part of a slice
            try:
                frame = frames[line] = _frame(line)
            except ValueError as exc:
                raise _bad(lines.index(line) + 1, str(exc)) from None
            is_user = not is_runtime_function(frame.function)
            user[line] = frame if is_user else None
            names[line] = frame.function if is_user else ""
            wait[line] = frame_wait_kind(frame.function)
        self.frames = list(map(frames.get, lines))
        self.user = list(map(user.get, lines))
        self.names = list(map(names.get, lines))
        self.wait = list(map(wait.get, lines))

    def stack(self, start: int, end: int) -> Stack:
        found = self.frames[start:end]
        if None in found:  # a line inside a block that is no frame line
            raise _bad(start + found.index(None) + 1, "expected a frame line")
        frames = cast(tuple[Frame, ...], tuple(found))
        user = tuple(filter(None, self.user[start:end]))
        names = ";".join(filter(None, self.names[start:end]))
        # Runtime frames are gone, so only the hooks that stay can tell; else UNKNOWN.
        wait = next(filter(None, self.wait[start:end]), None) or WaitKind.UNKNOWN
        return new_stack(SIGNATURE_PREFIX[wait] + names, wait, frames, user)


def _frame(line: str) -> Frame:
    """`#\\t0xPC\\tfunc+0xOFF\\tfile:line`; a PC the runtime could not name has no more fields."""
    parts = line.split("\t")
    if parts[0] != "#" or len(parts) < 2 or not parts[1].startswith("0x"):
        raise ValueError(f"expected a frame line, got {line[:80]!r}")
    if len(parts) < 4:
        return Frame(parts[1])
    func, plus, _ = parts[2].rpartition("+")
    file, colon, num = parts[-1].rpartition(":")
    if not plus or not colon or not is_count(num):
        raise ValueError(f"bad frame {line[:80]!r}")
    return Frame(func, file.strip(), int(num))


def _labels(line: str, line_no: int) -> dict[str, str]:
    try:
        labels = json.loads(line[len(_LABELS) :])
    except ValueError as exc:
        raise _bad(line_no, f"bad labels: {exc}") from exc
    if not isinstance(labels, dict):
        raise _bad(line_no, "labels are not an object")
    return {str(k): str(v) for k, v in labels.items()}


def _count(line: str, line_no: int) -> tuple[int, str]:
    """`COUNT @ 0xPC 0xPC…` → (count, the PC list: equal lists are equal stacks)."""
    count, sep, pcs = line.partition(" @ ")
    if not sep or not is_count(count):
        raise _bad(line_no, f"expected 'COUNT @ PC…', got {line[:80]!r}")
    return int(count), pcs


def parse(text: str, *, max_samples: int) -> Profile:
    lines = text.split("\n")
    kind, total = _header(lines[0])
    # Go ends every block with an empty line; anything else is a cut-off download.
    if len(lines) > 2 and not text.endswith("\n\n"):
        raise TruncatedProfileError("debug=1 profile ends inside a block")
    blanks = list(compress(count(), map(operator.not_, lines)))
    if len(blanks) > max_samples + 1:
        raise ProfileTooLargeError(f"more than {max_samples} samples")
    columns = _Columns(lines)
    builder = GroupBuilder()
    stacks: dict[str, Stack] = {}  # by PC list: a stack repeats once per distinct label set
    counted, start = 0, 1
    for end in blanks:
        if end > start:
            n, pcs = _count(lines[start], start + 1)
            first = start + 1
            labels = None
            if first < end and lines[first].startswith(_LABELS):
                labels = _labels(lines[first], first + 1)
                first += 1
            stack = stacks.get(pcs)
            if stack is None:
                builder.charge(end - first)
                stack = stacks[pcs] = columns.stack(first, end)
            builder.add(stack, n, labels=labels)
            counted += n
        start = end + 1
    # The block counts add up to the header's total exactly; fewer means a cut at a block boundary.
    if counted < total:
        raise TruncatedProfileError(f"debug=1 profile ends early: {counted} of {total} goroutines")
    if counted > total:
        raise _bad(1, f"blocks count {counted} goroutines, header says {total}")
    return Profile(kind, ProfileFormat.TEXT, builder.groups(), total)
