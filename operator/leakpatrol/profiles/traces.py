"""`go tool pprof -traces` output of a goroutine profile, read as the debug=1 text it stands for.

People paste it into issue threads as often as the debug=1 text: one block per distinct stack (and
label set) between separator lines, the goroutine count on the leaf frame's line, function names
only (frames inlined into the next marked ` (inline)`), text labels as `key:  value` lines above
the frames (google/pprof, internal/report printTraces):

    Type: goroutine
    -----------+-------------------------------------------------------
          path:  /api/orders
           426   runtime.gopark
                 net/http.(*persistConn).readLoop
    -----------+-------------------------------------------------------

It holds every group and count the debug=1 text holds, less the files, lines and PCs, so it is
rewritten into debug=1 (a made-up PC per distinct function, which keeps equal stacks equal) and
read by that parser: the same grouping, wait kinds proved by the runtime frames, and caps.
Two differences remain, both pprof's: its report leaves out samples without a frame, and a
goroutine no runtime frame shows parked reads as unknown here, running from the profile.
`-top` output holds no stacks at all, so it is refused with what to paste instead.
"""

from __future__ import annotations

import json
import re

from leakpatrol.profiles.errors import MalformedProfileError, NotAProfileError

STAGE = "pprof -traces"
SEPARATOR = b"-----------+---------------"  # its head: 11 dashes, a plus, then dashes
_SEPARATOR = re.compile(r"-{5,}\+-{5,}")
_TOP_HEADER = re.compile(r"flat +flat% +sum% +cum +cum%")
_HEAD_BYTES = 64 << 10
_TYPE = "Type: "
_KINDS = ("goroutine", "goroutineleak")
_LEAF = re.compile(r"([0-9]+) +(\S+(?: \(inline\))?)")  # the count, then the leaf function
_FRAME = re.compile(r"\S+(?: \(inline\))?")  # a Go function name has no blank
_LABEL = re.compile(r"([^ :]+):  (.*)")  # printTraces: "%10s:  %s"
_INLINE = " (inline)"


def looks_like(data: bytes) -> bool:
    """pprof's report output (-traces, or -top to refuse) within the head of the data."""
    head = data[:_HEAD_BYTES]
    return SEPARATOR in head or _TOP_HEADER.search(head.decode("utf-8", "replace")) is not None


def to_debug1(text: str) -> tuple[str, list[str]]:
    """(debug=1 text, notes for the profile's warnings)."""
    lines = [line.strip() for line in text.replace("\r", "").split("\n")]
    if any(_TOP_HEADER.fullmatch(line) for line in lines[:50]):
        raise NotAProfileError(
            "`go tool pprof -top` output holds no stacks: give the profile itself, its debug=1 or "
            "debug=2 text, or `go tool pprof -traces` output"
        )
    kind = _kind(lines)
    records: list[str] = []
    pcs: dict[str, int] = {}
    total, inside = 0, False
    block: list[tuple[int, str]] = []
    for number, line in enumerate(lines, 1):
        if _SEPARATOR.fullmatch(line):
            if block:
                count, record = _record(block, pcs)
                total += count
                records.append(record)
            block, inside = [], True
        elif line and (inside or _starts_block(line)):
            block.append((number, line))  # before the first separator: only a block's lines
    if block and _starts_block(block[0][1]):  # the last separator was not copied, or this is
        try:  # text after the report that happens to start like a block
            count, record = _record(block, pcs)
        except MalformedProfileError:
            pass
        else:
            total += count
            records.append(record)
    if not records:
        raise NotAProfileError("`go tool pprof -traces` output without a single stack")
    out = f"{kind} profile: total {total}\n" + "\n\n".join(records) + "\n"
    return out, ["read from `go tool pprof -traces` output: function names only, no files or lines"]


def _starts_block(line: str) -> bool:
    return _LEAF.fullmatch(line) is not None or _LABEL.fullmatch(line) is not None


def _kind(lines: list[str]) -> str:
    for line in lines[:50]:
        if line.startswith(_TYPE):
            kind = line[len(_TYPE) :].strip()
            if kind not in _KINDS:
                raise NotAProfileError(
                    f"`go tool pprof -traces` output of a {kind!r} profile: only goroutine profiles "
                    "are read in this form (a heap profile is read as profile.proto, debug=0)"
                )
            return kind
        if _SEPARATOR.fullmatch(line):
            break
    return "goroutine"  # the `Type:` line was not pasted; a count per stack is a goroutine profile's


def _record(block: list[tuple[int, str]], pcs: dict[str, int]) -> tuple[int, str]:
    """One block as a debug=1 record: (count, `N @ PCs`, labels, `#\\tPC\\tfunction` lines)."""
    labels: dict[str, str] = {}
    at = 0
    while at < len(block) and not _LEAF.fullmatch(block[at][1]):
        number, line = block[at]
        label = _LABEL.fullmatch(line)
        if label is None:
            detail = f"expected 'COUNT  function' or 'key:  value', got {line[:80]!r}"
            raise MalformedProfileError(STAGE, f"line {number}", detail)
        labels[label.group(1)] = label.group(2)
        at += 1
    if at == len(block):
        raise MalformedProfileError(STAGE, f"line {block[-1][0]}", "a block without frames")
    leaf = _LEAF.fullmatch(block[at][1])
    assert leaf is not None  # the loop above stopped on it
    for number, line in block[at + 1 :]:
        if not _FRAME.fullmatch(line):
            raise MalformedProfileError(STAGE, f"line {number}", f"expected a function, got {line[:80]!r}")
    functions = [leaf.group(2)] + [line for _, line in block[at + 1 :]]
    names = [f.removesuffix(_INLINE).strip() for f in functions]
    ids = [pcs.setdefault(name, len(pcs) + 1) for name in names]
    lines = [f"{leaf.group(1)} @ " + " ".join(f"0x{i:x}" for i in ids)]
    if labels:
        lines.append("# labels: " + json.dumps(labels, separators=(",", ":")))
    lines += [f"#\t0x{i:x}\t{name}" for i, name in zip(ids, names, strict=True)]
    return int(leaf.group(1)), "\n".join(lines)
