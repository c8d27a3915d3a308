"""debug=1: `goroutine profile: total N`, then one block per distinct stack (and label set).

    9 @ 0x4866ca 0x48a505 0x68dd1d 0x48d461
    # labels: {"worker":"recv"}
    #\t0x48a504\ttime.Sleep+0x164\t/usr/lib/go/src/runtime/time.go:368

The runtime's own frames are already dropped, so the wait kind comes from the hooks that stay
(`internal/poll.runtime_pollWait`, `sync.runtime_Semacquire*`, `time.Sleep`) or is UNKNOWN:
never guessed from the user frames.

What people paste is accepted here too (after `paste.clean` for whitespace and prefixes): no
header (the total is then the records' sum), no blank line after the last record, records that
do not add up to the header's total (the poster kept the top ones), a frame cut after its
function name. Each of these that changes what a reader should believe becomes a warning.
"""

from __future__ import annotations

import json
import operator
from itertools import compress, count, islice

from leakpatrol.profiles.errors import MalformedProfileError, ProfileTooLargeError
from leakpatrol.profiles.groups import SIGNATURE_PREFIX, GroupBuilder, Stack, is_count, new_stack
from leakpatrol.profiles.model import Frame, Frames, Profile, ProfileFormat, ProfileKind, WaitKind
from leakpatrol.profiles.waits import frame_wait_kind, is_runtime_function

STAGE = "debug=1"
HEADERS = {
    "goroutine profile: total ": ProfileKind.GOROUTINE,
    "goroutineleak profile: total ": ProfileKind.GOROUTINELEAK,
}
_LABELS = "# labels: "


def _bad(line_no: int, detail: str) -> MalformedProfileError:
    return MalformedProfileError(STAGE, f"line {line_no}", detail)


def _header(first: str, line_no: int) -> tuple[ProfileKind, int | None]:
    """The kind and total; (GOROUTINE, None) when the text starts at its first record."""
    for prefix, kind in HEADERS.items():
        if first.startswith(prefix):
            total = first[len(prefix) :]
            if not is_count(total):
                raise _bad(line_no, f"bad total {total!r}")
            return kind, int(total)
    if is_count(first.partition(" @ ")[0]):
        return ProfileKind.GOROUTINE, None
    raise _bad(line_no, f"unknown header {first[:80]!r}")


class _Columns:
    """Per-line facts for the whole text, computed by C-level map() over all lines at once.

    Frame lines repeat across stacks (shared callers), so each distinct line is read once, and
    only for what a signature needs: the function name and the wait kind it proves. `Frame`
    objects are made from a block's lines only when someone reads that group's frames.
    """

    def __init__(self, lines: list[str]) -> None:
        names: dict[str, str] = {}  # frame line -> user function name, "" for runtime frames
        wait: dict[str, WaitKind] = {}
        # Python code runs once per distinct line only (set() hashes every line in C).
        for line in set(lines):
            if not line.startswith("#\t"):
                continue  # header, count, blank or label line: names.get() gives None
            function = _function(line)
            if function is None:
                raise _bad(lines.index(line) + 1, f"expected a frame line, got {line[:80]!r}")
            names[line] = "" if is_runtime_function(function) else function
            kind = frame_wait_kind(function)
            if kind is not None:
                wait[line] = kind
        self.names = list(map(names.get, lines))
        self.wait = list(map(wait.get, lines)) if wait else None
        self._frames: dict[str, Frame] = {}

    def stack(self, lines: list[str], start: int, end: int) -> Stack:
        names = self.names[start:end]
        if None in names:  # a line inside a block that is no frame line
            at = start + names.index(None)
            raise _bad(at + 1, f"expected a frame line, got {lines[at][:80]!r}")
        joined = ";".join(filter(None, names))
        # Runtime frames are gone, so only the hooks that stay can tell; else UNKNOWN.
        found = next(filter(None, self.wait[start:end]), None) if self.wait else None
        wait = found or WaitKind.UNKNOWN
        block = lines[start:end]
        frames = Frames(self.frames_of, block, end > start)
        user = Frames(self.user_frames_of, block, bool(joined))
        return new_stack(SIGNATURE_PREFIX[wait] + joined, wait, frames, user)

    def frames_of(self, block: list[str]) -> tuple[Frame, ...]:
        return tuple(map(self._frame, block))

    def user_frames_of(self, block: list[str]) -> tuple[Frame, ...]:
        return tuple(f for f in map(self._frame, block) if not is_runtime_function(f.function))

    def _frame(self, line: str) -> Frame:
        frame = self._frames.get(line)
        if frame is None:
            frame = self._frames[line] = _frame(line)
        return frame


def _function(line: str) -> str | None:
    """The function of a `#\\t0xPC\\tfunc+0xOFF\\tfile:line` line; the PC if the runtime could not
    name it; None if this is no frame line."""
    parts = line.split("\t", 3)
    if len(parts) < 2 or not parts[1].startswith("0x"):
        return None
    if len(parts) == 2 or not parts[2]:
        return parts[1]
    return parts[2].rpartition("+")[0] or parts[2]


def _frame(line: str) -> Frame:
    """A cut paste may end a frame after its function: it is kept, without a file."""
    parts = line.split("\t", 3)
    function = _function(line) or line
    if len(parts) < 4:
        return Frame(function)
    file, colon, number = parts[3].rpartition(":")
    if not colon or not is_count(number.strip()):
        return Frame(function)
    return Frame(function, file.strip(), int(number))


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


def parse(text: str, *, max_samples: int, notes: tuple[str, ...] | list[str] = ()) -> Profile:
    lines = text.split("\n")
    head = next(compress(count(), lines), 0)  # pastes may start with blank lines
    kind, total = _header(lines[head], head + 1)
    if lines[-1]:  # no blank line after the last record: a paste, or a cut download
        lines.append("")
    start = head if total is None else head + 1
    blanks = list(compress(count(start), map(operator.not_, islice(lines, start, None))))
    if len(blanks) > max_samples + 1:
        raise ProfileTooLargeError(f"more than {max_samples} samples")
    columns = _Columns(lines)
    builder = GroupBuilder()
    stacks: dict[str, Stack] = {}  # by PC list: a stack repeats once per distinct label set
    counted = 0
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
                stack = stacks[pcs] = columns.stack(lines, first, end)
            builder.add(stack, n, labels=labels)
            counted += n
        start = end + 1
    warnings = (*notes, *_total_warnings(total, counted))
    return Profile(kind, ProfileFormat.TEXT, builder.groups(), max(total or 0, counted), warnings=warnings)


def _total_warnings(total: int | None, counted: int) -> list[str]:
    if total is None:
        return ["no 'goroutine profile: total N' header: the total is the sum of the records"]
    if counted < total:
        return [f"the records hold {counted} of the header's {total} goroutines: the rest were cut off"]
    if counted > total:
        return [f"the records hold {counted} goroutines, more than the header's total {total}"]
    return []
