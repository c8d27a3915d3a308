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

import operator
from itertools import compress, count, repeat
from operator import itemgetter

from leakpatrol.profiles.errors import ProfileTooLargeError
from leakpatrol.profiles.groups import (
    MAX_FRAMES_TOTAL,
    SIGNATURE_PREFIX,
    GroupBuilder,
    Stack,
    is_count,
    ordered,
)
from leakpatrol.profiles.model import (
    Profile,
    ProfileFormat,
    ProfileKind,
    StackGroup,
    WaitKind,
    lazy_frames,
)
from leakpatrol.profiles.textlines import (
    LABELS,
    NOT_FRAME,
    Columns,
    bad,
    count_of,
    function_of,
    labels_of,
)
from leakpatrol.profiles.waits import is_runtime_function

HEADERS = {
    "goroutine profile: total ": ProfileKind.GOROUTINE,
    "goroutineleak profile: total ": ProfileKind.GOROUTINELEAK,
}


def _header(first: str, line_no: int) -> tuple[ProfileKind, int | None]:
    """The kind and total; (GOROUTINE, None) when the text starts at its first record."""
    for prefix, kind in HEADERS.items():
        if first.startswith(prefix):
            total = first[len(prefix) :]
            if not is_count(total):
                raise bad(line_no, f"bad total {total!r}")
            return kind, int(total)
    if is_count(first.partition(" @ ")[0]):
        return ProfileKind.GOROUTINE, None
    raise bad(line_no, f"unknown header {first[:80]!r}")


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
    columns = Columns(lines)
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
            function = function_of(line) if line.startswith("#\t0x") else None
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
    lines: list[str], columns: Columns, starts: list[int], ends: list[int]
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
    lines: list[str], columns: Columns, starts: list[int], ends: list[int]
) -> tuple[list[StackGroup], int]:
    """Record by record: labels, stacks repeated per label set, and the exact error line."""
    builder = GroupBuilder()
    stacks: dict[str, Stack] = {}  # by PC list: a stack repeats once per distinct label set
    counted = 0
    for start, end in zip(starts, ends, strict=True):
        n, pcs = count_of(lines[start], start + 1)
        first = start + 1
        labels = None
        if first < end and lines[first].startswith(LABELS):
            labels = labels_of(lines[first], first + 1)
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
