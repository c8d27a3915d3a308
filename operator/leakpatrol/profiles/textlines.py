"""debug=1 line by line: what each line of a record says (a count line, labels, a frame), and
`Columns`, the per-line facts of a whole text that the grouping in text.py reads."""

from __future__ import annotations

import json
from itertools import repeat

from leakpatrol.profiles.errors import MalformedProfileError
from leakpatrol.profiles.groups import SIGNATURE_PREFIX, Stack, is_count, new_stack
from leakpatrol.profiles.model import Frame, WaitKind, lazy_frames
from leakpatrol.profiles.waits import frame_wait_kind, is_runtime_function

STAGE = "debug=1"
LABELS = "# labels: "
# Names column for a line that is no frame: truthy, so it survives the join and one substring
# test finds it; no function name contains NUL (if a hostile one does, the slow path decides).
NOT_FRAME = "\x00"


def bad(line_no: int, detail: str) -> MalformedProfileError:
    return MalformedProfileError(STAGE, f"line {line_no}", detail)


class Columns:
    """Per-line facts for the whole text, computed by C-level map() over all lines at once.

    Frame lines repeat across stacks (shared callers), so each distinct line is read once, and
    only for what a signature needs: the function name and the wait kind it proves. `Frame`
    objects are made from a record's lines (a slice of `lines`) only when someone reads them.
    """

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        names: dict[str, str] = {}  # frame line -> user function name, "" for runtime frames
        wait: dict[str, WaitKind] = {}
        # Python code runs once per distinct line only (set() hashes every line in C).
        for line in set(lines):
            if not line.startswith("#\t"):
                continue  # header, count, blank or label line: NOT_FRAME
            function = function_of(line)
            if function is None:
                raise bad(lines.index(line) + 1, f"expected a frame line, got {line[:80]!r}")
            names[line] = "" if is_runtime_function(function) else function
            kind = frame_wait_kind(function)
            if kind is not None:
                wait[line] = kind
        self.names = list(map(names.get, lines, repeat(NOT_FRAME)))
        self.wait = list(map(wait.get, lines)) if wait else None
        self._frames: dict[str, Frame] = {}

    def stack(self, start: int, end: int) -> Stack:
        names = self.names[start:end]
        if NOT_FRAME in names:  # a line inside a block that is no frame line
            at = start + names.index(NOT_FRAME)
            raise bad(at + 1, f"expected a frame line, got {self.lines[at][:80]!r}")
        joined = ";".join(filter(None, names))
        # Runtime frames are gone, so only the hooks that stay can tell; else UNKNOWN.
        found = next(filter(None, self.wait[start:end]), None) if self.wait else None
        wait = found or WaitKind.UNKNOWN
        span = [slice(start, end)]
        (frames,) = lazy_frames(self.frames_of, span, [end > start])
        (user,) = lazy_frames(self.user_frames_of, span, [bool(joined)])
        return new_stack(SIGNATURE_PREFIX[wait] + joined, wait, frames, user)

    def frames_of(self, span: slice) -> tuple[Frame, ...]:
        return tuple(map(self._frame, self.lines[span]))

    def user_frames_of(self, span: slice) -> tuple[Frame, ...]:
        return tuple(f for f in self.frames_of(span) if not is_runtime_function(f.function))

    def _frame(self, line: str) -> Frame:
        frame = self._frames.get(line)
        if frame is None:
            frame = self._frames[line] = frame_of(line)
        return frame


def function_of(line: str) -> str | None:
    """The function of a `#\\t0xPC\\tfunc+0xOFF\\tfile:line` line; the PC if the runtime could not
    name it; None if this is no frame line."""
    parts = line.split("\t", 3)
    if len(parts) < 2 or not parts[1].startswith("0x"):
        return None
    if len(parts) == 2 or not parts[2]:
        return parts[1]
    return parts[2].rpartition("+")[0] or parts[2]


def frame_of(line: str) -> Frame:
    """A cut paste may end a frame after its function: it is kept, without a file."""
    parts = line.split("\t", 3)
    function = function_of(line) or line
    if len(parts) < 4:
        return Frame(function)
    file, colon, number = parts[3].rpartition(":")
    if not colon or not is_count(number.strip()):
        return Frame(function)
    return Frame(function, file.strip(), int(number))


def labels_of(line: str, line_no: int) -> dict[str, str]:
    try:
        labels = json.loads(line[len(LABELS) :])
    except ValueError as exc:
        raise bad(line_no, f"bad labels: {exc}") from exc
    if not isinstance(labels, dict):
        raise bad(line_no, "labels are not an object")
    return {str(k): str(v) for k, v in labels.items()}


def count_of(line: str, line_no: int) -> tuple[int, str]:
    """`COUNT @ 0xPC 0xPC…` → (count, the PC list: equal lists are equal stacks)."""
    count, sep, pcs = line.partition(" @ ")
    if not sep or not is_count(count):
        raise bad(line_no, f"expected 'COUNT @ PC…', got {line[:80]!r}")
    return int(count), pcs
