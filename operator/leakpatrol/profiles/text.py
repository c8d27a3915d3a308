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
from itertools import compress, count, repeat
from operator import itemgetter

from leakpatrol.profiles.errors import MalformedProfileError, ProfileTooLargeError
from leakpatrol.profiles.groups import (
    MAX_FRAMES_TOTAL,
    SIGNATURE_PREFIX,
    GroupBuilder,
    Stack,
    is_count,
    new_stack,
    ordered,
)
from leakpatrol.profiles.model import (
    Frame,
    Profile,
    ProfileFormat,
    ProfileKind,
    StackGroup,
    WaitKind,
    lazy_frames,
)
from leakpatrol.profiles.waits import frame_wait_kind, is_runtime_function

STAGE = "debug=1"
HEADERS = {
    "goroutine profile: total ": ProfileKind.GOROUTINE,
    "goroutineleak profile: total ": ProfileKind.GOROUTINELEAK,
}
_LABELS = "# labels: "
# Names column for a line that is no frame: truthy, so it survives the join and one substring
# test finds it; no function name contains NUL (if a hostile one does, the slow path decides).
NOT_FRAME = "\x00"


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
            function = _function(line)
            if function is None:
                raise _bad(lines.index(line) + 1, f"expected a frame line, got {line[:80]!r}")
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
            raise _bad(at + 1, f"expected a frame line, got {self.lines[at][:80]!r}")
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
    starts, ends = _records(lines, start, max_samples)
    if sum(ends) - sum(starts) > MAX_FRAMES_TOTAL:
        raise ProfileTooLargeError(f"more than {MAX_FRAMES_TOTAL} frames over distinct stacks")
    columns = _Columns(lines)
    fast = _distinct_groups(lines, columns, starts, ends)
    groups, counted = fast if fast is not None else _merged_groups(lines, columns, starts, ends)
    warnings = (*notes, *_total_warnings(total, counted))
    if kind is ProfileKind.GOROUTINELEAK:
        _hidden_waits(lines, starts, groups)
    return Profile(kind, ProfileFormat.TEXT, groups, max(total or 0, counted), warnings=warnings)


# Runtime frames debug=1 hides above the first frame it shows, for a goroutine the goroutineleak
# profile proves blocked forever on a channel or select (sync waits show their hooks):
# gopark + selectgo (or block, for `select {}`); gopark + chansend|chanrecv + chansend1|chanrecv1|2.
_HIDDEN_WAITS = {
    2: (WaitKind.SELECT, WaitKind.SELECT_NO_CASES),
    3: (WaitKind.CHAN_SEND, WaitKind.CHAN_RECEIVE),
}


def _hidden_waits(lines: list[str], starts: list[int], groups: list[StackGroup]) -> None:
    """Where the wait kind is unknown, what the count of hidden runtime PCs leaves it to be: each
    record lists every PC (`N @ 0x… 0x…`) but prints frames from the first non-runtime one on, so
    the PCs before that frame's (its PC + 1: the list holds return addresses) are the runtime's."""
    hidden: dict[tuple[str, ...], set[int]] = {}
    for start in starts:
        pcs = lines[start].partition(" @ ")[2].split()
        first = next((ln for ln in lines[start + 1 : start + 3] if ln.startswith("#\t0x")), None)
        if first is None:
            continue
        functions: list[str] = []
        for line in lines[start + 1 :]:
            if not line:
                break
            function = _function(line) if line.startswith("#\t0x") else None
            if function is not None and not is_runtime_function(function):
                functions.append(function)
        pc = first.split("\t", 2)[1]
        try:
            shown = pcs.index(hex(int(pc, 16) + 1))
        except ValueError:
            continue
        hidden.setdefault(tuple(functions), set()).add(shown)
    for g in groups:
        if g.wait_kind is not WaitKind.UNKNOWN:
            continue
        counts = hidden.get(tuple(f.function for f in g.user_frames), set())
        if len(counts) == 1:
            g.wait_candidates = _HIDDEN_WAITS.get(counts.pop(), ())


def _records(lines: list[str], start: int, max_samples: int) -> tuple[list[int], list[int]]:
    """First and end line of every record: the runs of lines between blank lines. `list.index`
    finds each blank in C, so Python runs once per record, not once per line."""
    if lines.count("") > max_samples + 1:  # counted in C: blank-line floods never reach the loop
        raise ProfileTooLargeError(f"more than {max_samples} samples")
    starts: list[int] = []
    ends: list[int] = []
    find = lines.index
    while start < len(lines):
        end = find("", start)  # the text ends in a blank line: found before the end
        if end > start:
            starts.append(start)
            ends.append(end)
        start = end + 1
    return starts, ends


def _distinct_groups(
    lines: list[str], columns: _Columns, starts: list[int], ends: list[int]
) -> tuple[list[StackGroup], int] | None:
    """The common case: no labels, one record per signature. Every step runs over all records at
    once in C; None sends anything else (and every error) to `_merged_groups`."""
    heads = list(map(str.partition, map(lines.__getitem__, starts), repeat(" @ ")))
    numbers = list(map(itemgetter(0), heads))
    if not (_all_counts(numbers) and all(map(itemgetter(1), heads))):
        return None
    spans = list(map(slice, map(operator.add, starts, repeat(1)), ends))
    joined = list(map(";".join, map(filter, repeat(None), map(columns.names.__getitem__, spans))))
    # A label line or any other non-frame line inside a record shows as NOT_FRAME.
    if any(map(operator.contains, joined, repeat(NOT_FRAME))):
        return None
    waits = [WaitKind.UNKNOWN] * len(spans)
    if columns.wait is not None:  # only the hooks that stay can tell; else UNKNOWN
        found = map(next, map(filter, repeat(None), map(columns.wait.__getitem__, spans)), repeat(None))
        waits = [w or WaitKind.UNKNOWN for w in found]
    signatures = list(map(operator.add, map(SIGNATURE_PREFIX.__getitem__, waits), joined))
    if len(set(signatures)) != len(signatures):
        return None
    # A record of its count line alone (a goroutine caught at goexit: `1 @ 0x490f41`) has no frames.
    frames = lazy_frames(
        columns.frames_of, spans, map(operator.lt, map(operator.add, starts, repeat(1)), ends)
    )
    user = lazy_frames(columns.user_frames_of, spans, map(bool, joined))
    counts = list(map(int, numbers))
    return ordered(list(map(StackGroup, signatures, waits, frames, user, counts))), sum(counts)


def _all_counts(numbers: list[str]) -> bool:
    """`is_count` over all records in C: ASCII digits, 1 to 18 of them."""
    digits = "".join(numbers)
    return (
        digits.isascii() and digits.isdigit() and 0 < min(map(len, numbers)) <= max(map(len, numbers)) <= 18
    )


def _merged_groups(
    lines: list[str], columns: _Columns, starts: list[int], ends: list[int]
) -> tuple[list[StackGroup], int]:
    """Record by record: labels, stacks repeated per label set, and the exact error line."""
    builder = GroupBuilder()
    stacks: dict[str, Stack] = {}  # by PC list: a stack repeats once per distinct label set
    counted = 0
    for start, end in zip(starts, ends, strict=True):
        n, pcs = _count(lines[start], start + 1)
        first = start + 1
        labels = None
        if first < end and lines[first].startswith(_LABELS):
            labels = _labels(lines[first], first + 1)
            first += 1
        stack = stacks.get(pcs)
        if stack is None:
            stack = stacks[pcs] = columns.stack(first, end)
        builder.add(stack, n, labels=labels)
        counted += n
    return builder.groups(), counted


def _total_warnings(total: int | None, counted: int) -> list[str]:
    if total is None:
        return ["no 'goroutine profile: total N' header: the total is the sum of the records"]
    if counted < total:
        return [f"the records hold {counted} of the header's {total} goroutines: the rest were cut off"]
    if counted > total:
        return [f"the records hold {counted} goroutines, more than the header's total {total}"]
    return []
