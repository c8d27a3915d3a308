"""Undo what copying did to a goroutine dump before the debug=1 / debug=2 parsers see it.

Dumps posted in issue threads and log pipelines arrive with CRLF line ends, tabs turned into
spaces or into rsyslog's `#011`, a lost leading `#`, indentation, preamble text, and a log prefix
(timestamp, syslog or journald fields) before every line. Dumps lifted from test output carry a
prefix on each goroutine's header only (`    x_test.go:12: Found leaked goroutine: goroutine 7
[…]:`) and other lines between the records (`--- FAIL`, `exit status 2`, a SIGQUIT's register
dump); goleak writes each record as `[Goroutine 7 in state chan send, with main.f on top of the
stack:` and its frames, without the runtime's header. debug=1 records may have lost the blank
lines between them, and long lines may come cut into rows. `clean` finds the format by content
(the first line that holds a record start, not the first byte), strips a prefix that every line
carries, joins the rows of wrapped lines (`unwrap`), and rewrites each line into the canonical
form, one output line per input line (or per joined line), so an error names the line people
see. It only runs when the strict parsers refused the text or the text does not start like a
profile, so well-formed profiles never pay for it.

Untrusted input: every regex is linear (no nested quantifiers over the same characters), the
anchor search looks at a bounded head of the text, and the size is capped.
"""

from __future__ import annotations

import itertools
import re

from leakpatrol.profiles import unwrap
from leakpatrol.profiles.errors import NotAProfileError, ProfileTooLargeError
from leakpatrol.profiles.model import ProfileFormat
from leakpatrol.profiles.text import HEADERS

# Per-line Python work: bounded so hostile input is refused fast. A pasted 10k-goroutine debug=2
# dump is ~10 MB; profiles fetched from pods never come this way (they start like a profile).
MAX_BYTES = 16 << 20
MAX_LINES = 1_000_000
_HEAD_LINES = 2000  # the first record must start within this many lines…
_HEAD_CHARS = 400  # …and this many characters into its line
# A record start anywhere in a line: debug=1 header or count line, debug=2 goroutine header.
_ANCHOR = re.compile(
    r"(?P<text>goroutine(?:leak)? profile: total [0-9]|[0-9]+ @ 0x[0-9a-f])"
    r"|(?P<dump>goroutine [0-9]+ (?:gp=0x[0-9a-f]+ m=[0-9a-z]+ (?:mp=[0-9a-z]+ )?)?\[)"
    r"|(?P<goleak>\[?Goroutine [0-9]+ in state )"
)
_DUMP_HEADER = re.compile(
    r"goroutine [0-9]+ (?:gp=0x[0-9a-f]+ m=[0-9a-z]+ (?:mp=[0-9a-z]+ )?)?\[[^\]]*\][^:]*(?:\{.*\})?:$"
)
_GOLEAK_TAIL = " on top of the stack:"
_PREFIX_TOKENS = re.compile(r"[0-9]+|[ \t]+|.", re.DOTALL)
_TEXT_HEADERS = tuple(HEADERS)
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))  # zero-width: no text
_FENCES = ("```", "~~~")  # Markdown code fences around (parts of) a pasted profile
_MIN_WIDTH = 40  # columns: a narrower "terminal" is more likely lines that just end short


# Bytes that plain text is made of: ASCII printables, tab, CR, LF and anything above 0x7f (UTF-8).
_TEXT_BYTES = bytes([9, 10, 13, *range(32, 127), *range(128, 256)])


def is_plain_text(data: bytes) -> bool:
    """No control bytes in the first KB (one C-level pass): text, not protobuf, whose field tags
    are full of them."""
    return not data[:1024].translate(None, _TEXT_BYTES)


def looks_like_text(data: bytes) -> bool:
    """A record start within the head of the data: pasted text, not protobuf."""
    if not is_plain_text(data):
        return False
    head = data[: _HEAD_LINES * 120].decode("utf-8", "replace")
    return any(_ANCHOR.search(line[:_HEAD_CHARS]) for line in head.split("\n", _HEAD_LINES)[:_HEAD_LINES])


def clean(text: str) -> tuple[ProfileFormat, str, list[str]]:
    """(format, canonical text, notes on what was changed for people to see)."""
    if len(text) > MAX_BYTES or text.count("\n") > MAX_LINES:
        raise ProfileTooLargeError(f"pasted text over {MAX_BYTES} bytes or {MAX_LINES} lines")
    notes: list[str] = []
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    visible = text.translate(_INVISIBLE)
    if len(visible) != len(text):  # chat and web copies leave zero-width characters in
        notes.append(f"{len(text) - len(visible)} zero-width character(s) removed")
        text = visible
    if "#011" in text:  # rsyslog escapes control characters as #ooo
        text = text.replace("#011", "\t")
        notes.append("'#011' escapes read as tabs")
    lines = text.split("\n")
    index, match = _anchor(lines)
    if any(line.strip() for line in lines[:index]):
        notes.append(f"{index} line(s) before the first record ignored")
    lines[:index] = [""] * index
    prefix = lines[index][: match.start()]
    if prefix.strip():
        lines = _strip_prefix(lines, index, prefix, notes)
    dump = bool(match.group("dump") or match.group("goleak"))
    if dump:
        lines, joined = unwrap.dump_rows(lines, _is_dump_header, is_stack_line, is_file_line)
    else:
        lines, joined = unwrap.text_rows(lines)
    if joined:
        notes.append(f"{joined} row(s) of lines wrapped at a terminal's width joined to the line above")
    if dump:
        return ProfileFormat.DUMP, _dump_text(lines, notes), notes
    return ProfileFormat.TEXT, _text_lines(lines, notes), notes


def _is_dump_header(s: str) -> bool:
    return _DUMP_HEADER.match(s) is not None


def _anchor(lines: list[str]) -> tuple[int, re.Match[str]]:
    for i, line in enumerate(lines[:_HEAD_LINES]):
        match = _ANCHOR.search(line[:_HEAD_CHARS])
        if match:
            return i, match
    raise NotAProfileError("no goroutine record found: not gzip, not pprof text, not profile.proto")


def _prefix_pattern(prefix: str) -> re.Pattern[str]:
    """The prefix's shape: digit runs and blank runs may vary (timestamps, padding), the rest not.
    Adjacent tokens never share characters, so matching cannot backtrack."""
    parts = []
    for token in _PREFIX_TOKENS.findall(prefix):
        if token[0].isdigit():
            parts.append("[0-9]+")
        elif token[0] in " \t":
            parts.append("[ \t]*" if not parts else "[ \t]+")
        else:
            parts.append(re.escape(token))
    return re.compile("".join(parts))


def _strip_prefix(lines: list[str], index: int, prefix: str, notes: list[str]) -> list[str]:
    """Strip the anchor line's prefix from every line that carries it, if every non-blank line
    does, or if each one without it comes right after a line as long as the others that do: a
    terminal's width, the line cut there and its rest on a row of its own (kept for `unwrap` to
    join). A multi-line log message carries it on its first line only: then only that is cut."""
    pattern = _prefix_pattern(prefix.rstrip())
    cut: list[str] = []
    widths: set[int] = set()  # lengths of the lines right above the lines without the prefix
    above = ""
    for line in lines[index:]:
        match = pattern.match(line)
        if match is None:
            if line.strip():
                widths.add(len(above))
            cut.append(line if line.strip() else "")
        else:
            rest = line[match.end() :]
            cut.append(rest[1:] if rest[:1] == " " else rest)  # the one blank that separates a prefix
        above = line
    shown = prefix.strip()[:60]
    if len(widths) > 1 or min(widths, default=_MIN_WIDTH) < _MIN_WIDTH:
        lines[index] = lines[index][len(prefix) :]
        notes.append(f"the first record's prefix {shown!r} stripped")
        return lines
    which = "every line that carries it" if widths else "every line"
    notes.append(f"a line prefix like {shown!r} stripped from {which}")
    return lines[:index] + cut


def _text_line(line: str) -> str:
    """One debug=1 line in canonical form: `#\\t0xPC\\tfunc+0xOFF\\tfile:line` for frames."""
    s = line.strip()
    if not s or s.startswith(_TEXT_HEADERS) or s.startswith("# labels:"):
        return s
    if unwrap.COUNT_START.match(s):
        return " ".join(s.split())
    body = s[1:].lstrip() if s.startswith("#") else s
    if body.startswith("0x"):
        return "#\t" + "\t".join(body.split(None, 2))
    return s


def _text_lines(lines: list[str], notes: list[str]) -> str:
    """debug=1 in canonical form, line for line, except that a record starting right under the
    previous one (the blank line between them lost) gets its blank line back. A Markdown fence
    ends a record; text between records that is no part of one (a fence, a comment's prose) is
    blanked, but never a frame-like line (`#…`, `0x…`) nor a line above one: a record whose count
    line was lost or damaged is refused."""
    canonical = [*map(_text_line, lines), ""]
    out: list[str] = []
    joined = other = 0
    in_record = False
    for line, below in itertools.pairwise(canonical):
        if line.startswith(_FENCES) or (line and not in_record and _prose(line, below)):
            out.append("")
            other += 1
            in_record = False
            continue
        if unwrap.COUNT_START.match(line) and out and out[-1] and not out[-1].startswith(_TEXT_HEADERS):
            out.append("")
            joined += 1
        out.append(line)
        in_record = bool(line) and (in_record or bool(unwrap.COUNT_START.match(line)))
    if joined:
        notes.append(f"{joined} record(s) not separated by a blank line, read apart")
    if other:
        notes.append(f"{other} line(s) between the records left out: no part of a profile")
    return "\n".join(out)


def _prose(line: str, below: str) -> bool:
    """Outside a record: a line that is no header, count or frame, with no frame under it (a
    count line damaged so that it no longer reads as one has its frames under it: refused)."""
    frame_like = ("#", "0x")
    if line.startswith((*_TEXT_HEADERS, *frame_like)) or unwrap.COUNT_START.match(line):
        return False
    return not below.startswith(frame_like)


def _dump_text(lines: list[str], notes: list[str]) -> str:
    """debug=2 in canonical form: file lines tab-indented, nothing else indented, one blank line
    before every goroutine header (pastes lose them or add more). A goleak record header becomes
    the runtime's; text before a header on its line (a test's log prefix) is cut; lines between
    or after records that are no part of a stack (test output, a register dump, goleak's closing
    `]`) are left out, and the notes say so. Not line for line: blank lines move, so an error's
    line number counts the cleaned text."""
    out: list[str] = []
    prefixed = other = 0
    between = False  # after a record's last file line: other text there is no part of a stack
    for line in lines:
        s = line.strip()
        if not s:
            continue  # blank lines are placed by the headers below, exactly one each
        header = _header_line(s)
        if header is not None:
            prefixed += header != s and not s.startswith(("[Goroutine ", "Goroutine "))
            if out:
                out.append("")
            out.append(header)
            between = False
        elif is_file_line(s):
            out.append("\t" + s)
            between = True
        elif is_stack_line(s) or not between:
            out.append(s)  # inside a record, a line that is no frame is the parser's to refuse
            between = False
        else:
            other += 1
    if prefixed:
        notes.append(f"text before {prefixed} goroutine header(s) cut (a log prefix)")
    if other:
        notes.append(f"{other} line(s) between or after the goroutine records left out: no part of a stack")
    return "\n".join(out) + "\n"


def _header_line(s: str) -> str | None:
    """The runtime's `goroutine N [...]:` header in `s`, wherever it starts, or the one goleak's
    `[Goroutine N in state S, with F on top of the stack:` stands for; None if `s` has neither."""
    found = _ANCHOR.search(s, 0, _HEAD_CHARS)
    if found is None or found.group("text"):
        return None
    if found.group("goleak"):
        # goleak's Stack.String: "Goroutine <id> in state <state>, with <leaf> on top of the stack:"
        head, _, state = s[found.start() :].partition(" in state ")
        state, comma, _ = state.rpartition(", with ")
        number = head.rpartition(" ")[2]
        if not (comma and s.endswith(_GOLEAK_TAIL) and number.isdigit()):
            return None
        return f"goroutine {number} [{state}]:"
    header = s[found.start() :]
    return header if _DUMP_HEADER.match(header) else None


_STACK_PREFIXES = ("created by ", "[originating from goroutine ", "...")


def is_stack_line(s: str) -> bool:
    """A line a goroutine's stack is made of, other than its header and file lines: a function
    call `pkg.F(args)` (or one cut before its arguments end), `created by …`, an ancestor's
    `[originating from goroutine N]:`, `...N frames elided...`. Go function names have a dot and
    no blank (the runtime's `panic(...)` frame excepted); the arguments may have blanks."""
    if s.startswith(_STACK_PREFIXES):
        return True
    name = s[: s.rfind("(")] if s.endswith(")") else s.partition("(")[0]
    return bool(name) and " " not in name and "\t" not in name and ("." in name or name == "panic")


def is_file_line(s: str) -> bool:
    """`/src/main.go:98 +0x1e` (the `+0x…` and any `fp= sp= pc=` after it optional)."""
    location = s.partition(" +0x")[0]
    file, colon, number = location.rpartition(":")
    return bool(colon and file) and number.isascii() and number.isdigit() and "(" not in file
