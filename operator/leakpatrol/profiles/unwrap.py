"""Join the rows of a goroutine dump's lines that a terminal or a mail client wrapped.

A dump copied from a narrow terminal, or pasted where long lines are hard-wrapped, arrives with its
long lines cut into rows: a debug=1 record's address list goes on in a row that starts mid-address
(`d 0x55dc44 0x64a31c`), a frame's file name in a row of its own, a debug=2 call's arguments or a
header's state on the next row. The strict parsers refuse such text. Here a row is joined to the
line above when it cannot be a line of its own where it stands, by the grammar of the format, never
by a width: a wrapped dump may also be padded with blanks, and lines shorter than the width wrap
too when a prefix was stripped. A row is only ever joined to a line it continues, so a well-formed
dump (which never gets here) would come out unchanged.

Where the row was cut, a blank may have been lost (or be padding): each join is tried with and
without one, and the reading that makes the line well-formed wins; the terminal inserts nothing,
so without is tried first unless exactly one blank ends the row above or starts the row.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Sequence

from leakpatrol.profiles.text import HEADERS
from leakpatrol.profiles.textlines import LABELS

# Joins of one line tried together: 2**6 readings at most, each one regex; a line wrapped into more
# rows than that is joined without blanks.
_MAX_SEPARATORS = 6
# Rows of one debug=2 line: each row re-reads the line so far, so this bounds the work per row
# (hostile input: a call followed by a million fragments). 64 rows of 80 columns is a 5 KB line.
_MAX_ROWS = 64

COUNT_START = re.compile(r"[0-9]+ @")  # a debug=1 record's count line (paste reads it too)
_COUNT_LINE = re.compile(r"[0-9]+ @(?: 0x[0-9a-f]+)+")
_PC = re.compile(r"0x[0-9a-f]+")
_FUNC_OFFSET = re.compile(r".*\+0x[0-9a-f]+")  # greedy `.*` then a fixed tail: linear
_FILE_LINE = re.compile(r".*:[0-9]+")
_HEADER_START = re.compile(r"goroutine [0-9]+ (?:\[|gp=)")
# What can follow a file line's number when it was cut: the rest of the number, `+0x…`, `fp=0x…`.
_FILE_TAIL = re.compile(r"[0-9a-f]*(?: ?\+(?:0x[0-9a-f]*)?)?(?: ?[a-z]{1,3}=(?:0x[0-9a-f]*)?)*")
_DRIVE = re.compile(r"[A-Za-z]:[/\\]")
_FILE_REST = re.compile(r"(?: \+0x[0-9a-f]+)?(?: [a-z]{1,3}=0x[0-9a-f]+)*")
_TEXT_HEADERS = tuple(HEADERS)


def text_rows(lines: Sequence[str]) -> tuple[list[str], int]:
    """debug=1: (lines with wrapped rows joined, how many rows were joined)."""
    out: list[str] = []
    joined, in_record = 0, False
    group: list[str] = []
    for raw in lines:
        s = raw.strip()
        if group and in_record and s and _text_fragment(s):
            group.append(raw)
            continue
        joined += _flush(group, _text_line_ok, out)
        in_record = bool(s) and (in_record or bool(COUNT_START.match(s)))
        group = [raw]
    joined += _flush(group, _text_line_ok, out)
    return out, joined


def _text_fragment(s: str) -> bool:
    """A non-blank row inside a debug=1 record that starts nothing: no frame, count or header."""
    if s.startswith(("#", *_TEXT_HEADERS)) or COUNT_START.match(s):
        return False
    return not _text_line_ok(s)  # a frame whose `#` was lost is a line of its own


def _text_line_ok(line: str) -> bool:
    s = " ".join(line.split())
    if s.startswith(LABELS):
        return _json_object(line.strip()[len(LABELS) :])
    if COUNT_START.match(s):
        return _COUNT_LINE.fullmatch(s) is not None
    body = s[1:].lstrip() if s.startswith("#") else s
    parts = body.split(" ", 2)
    return (
        len(parts) == 3
        and _PC.fullmatch(parts[0]) is not None
        and _FUNC_OFFSET.fullmatch(parts[1]) is not None
        and _FILE_LINE.fullmatch(parts[2]) is not None
    )


def _json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def dump_rows(
    lines: Sequence[str],
    is_header: Callable[[str], bool],
    is_stack_line: Callable[[str], bool],
    is_file_line: Callable[[str], bool],
) -> tuple[list[str], int]:
    """debug=2: (lines with wrapped rows joined, how many rows were joined). The predicates are the
    cleaner's own (a whole goroutine header, paste.is_stack_line / is_file_line), so both agree on
    what a line is."""

    def continues(above: str, raw: str) -> bool:
        """Row `raw` goes on the line `above`: the rest of a header, of a file line, of a call."""
        a, s = above.strip(), raw.strip()
        if not a or not s or _HEADER_START.match(s):
            return False
        if _HEADER_START.match(a):
            return not is_header(a)  # its state or `]:` went to the next row
        if is_file_line(a):  # cut inside its number or `+0x…` (a row of digits and hex alone)
            return _FILE_TAIL.fullmatch(s) is not None
        if _is_path(above):
            return True  # a path cut before its `:line`
        if _is_path(raw) or a.startswith(("[originating", "...")):
            return False  # a file line starts here
        if not is_stack_line(a):
            return False
        # A call (or `created by`) cut inside its arguments, or before them: the next row is no
        # line of its own (a call whose file line was lost is followed by the next call: kept).
        return a.count("(") > a.count(")") or not (is_file_line(s) or is_stack_line(s))

    def well_formed(line: str) -> bool:
        s = line.strip()
        if _HEADER_START.match(s):
            return is_header(s)
        if line.startswith("\t") or s.startswith("/"):
            rest = s.partition(" +0x")[1:]
            return is_file_line(s) and _FILE_REST.fullmatch("".join(rest)) is not None
        return is_stack_line(s) and s.count("(") == s.count(")")

    out: list[str] = []
    joined = 0
    group: list[str] = []
    reading = ""  # the group's rows read as one line: well-formed if any reading is
    for raw in lines:
        if group and len(group) < _MAX_ROWS and continues(reading, raw):
            group.append(raw)
            reading = _join(group, well_formed) or reading.rstrip() + raw.strip()
            continue
        joined += _flush(group, well_formed, out)
        group, reading = [raw], raw
    joined += _flush(group, well_formed, out)
    return out, joined


def _flush(group: list[str], ok: Callable[[str], bool], out: list[str]) -> int:
    """Append the group's rows to `out` as one line if one reading of them is well-formed (the
    rows joined), else as they came, for the parser to refuse by its own line; rows joined."""
    line = _join(group, ok) if len(group) > 1 else None
    if line is None:
        out.extend(group)
        return 0
    out.append(line)
    return len(group) - 1


def _is_path(raw: str) -> bool:
    """A file line's start: tab-indented as the runtime prints it, or a path where it was lost."""
    s = raw.lstrip(" ")
    return s.startswith(("\t", "/")) or _DRIVE.match(s) is not None


def _join(rows: list[str], ok: Callable[[str], bool]) -> str | None:
    """The rows as one line, with or without a blank at each cut: the first reading `ok` accepts,
    fewest guesses first; None if none is."""
    head, tails = rows[0].rstrip(), [r.strip() for r in rows[1:]]
    if len(tails) > _MAX_SEPARATORS:
        line = head + "".join(tails)
        return line if ok(line) else None
    prefer = [
        (" ", "") if _one_blank(row[-2:]) or _one_blank(nxt[:2][::-1]) else ("", " ")
        for row, nxt in itertools.pairwise(rows)
    ]
    for seps in itertools.product(*prefer):
        line = head + "".join(sep + tail for sep, tail in zip(seps, tails, strict=True))
        if ok(line):
            return line
    return None


def _one_blank(edge: str) -> bool:
    """The last two characters at a cut end in exactly one blank: a separator, not padding."""
    return edge.endswith(" ") and not edge.endswith("  ")
