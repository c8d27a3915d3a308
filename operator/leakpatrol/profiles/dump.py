"""debug=2: one block per goroutine, as `runtime.Stack(all=true)` prints it.

    goroutine 7 [chan send, 5 minutes, locked to thread] {worker: recv}:
    main.blockSend(...)
    \t/src/main.go:121
    main.run(0x1?)
    \t/src/main.go:98 +0x1e
    created by main.spawn in goroutine 1
    \t/src/main.go:117 +0x25

The runtime cuts the dump at 64 MiB without a word, so an incomplete last block is dropped
and the profile is marked `truncated` instead of failing. Lines after the last goroutine that are
no part of a stack (a SIGQUIT's register dump, `exit status 2`) do not make it look cut.
"""

from __future__ import annotations

import re

from leakpatrol.profiles.errors import MalformedProfileError, ProfileTooLargeError, TruncatedProfileError
from leakpatrol.profiles.groups import GroupBuilder, Stack, is_count, make_stack
from leakpatrol.profiles.model import Frame, Profile, ProfileFormat, ProfileKind, WaitKind
from leakpatrol.profiles.paste import is_file_line, is_stack_line
from leakpatrol.profiles.waits import reason_wait_kind

STAGE = "debug=2"
RUNTIME_CUT = 64 << 20  # writeGoroutineStacks gives up growing its buffer at this size
_CREATED = "created by "
_ELIDED = "..."  # "...additional frames elided..." and "...N frames elided..."
_ANCESTOR = "[originating from goroutine "


# Arguments differ per goroutine (pointers); dropping them in one C-level pass makes the blocks of
# goroutines on the same stack identical strings, so each distinct block is parsed only once.
_ARGS = re.compile(r"\([^()\n]*\)(?=\n\t)")


def _bad(line_no: int, detail: str) -> MalformedProfileError:
    return MalformedProfileError(STAGE, f"line {line_no}", detail)


class _BadLineError(Exception):
    """A bad line at `offset` lines into its block; turned into a line number only when raised."""

    def __init__(self, offset: int, detail: str) -> None:
        super().__init__(detail)
        self.offset = offset


def _header(tail: str) -> tuple[WaitKind, tuple[int, ...], dict[str, str]]:
    """The header after the goroutine id: ` [reason, N minutes, locked to thread] {labels}:`."""
    close_at = tail.find("]")
    if not tail.startswith(" [") or not tail.endswith(":") or close_at < 0:
        raise _BadLineError(0, f"expected a goroutine header, got {tail[:80]!r}")
    status, *extras = tail[2:close_at].split(", ")
    minutes = tuple(int(e[:-8]) for e in extras if e.endswith(" minutes") and is_count(e[:-8]))
    return reason_wait_kind(status), minutes, _labels(tail[close_at + 1 : -1].strip())


def _labels(text: str) -> dict[str, str]:
    """`{k: v, k2: "v 2"}`: Go quotes a key or value only when it needs escaping."""
    if not (text.startswith("{") and text.endswith("}")):
        return {}
    labels = {}
    for pair in text[1:-1].split(", "):
        key, sep, value = pair.partition(": ")
        if sep:
            labels[key.strip('"')] = value.strip('"')
    return labels


def _location(line: str) -> tuple[str, int]:
    """`\t/src/main.go:98 +0x1e` → (file, line)."""
    loc = line.strip().partition(" +0x")[0]
    file, _, num = loc.rpartition(":")
    return (file, int(num)) if is_count(num) else (loc, 0)


def _body(body: str) -> tuple[tuple[Frame, ...], str | None, tuple[Frame, ...]]:
    """Frames (leaf first), the creator, and the first ancestor's frames of one goroutine, from
    its block without the header. A function line without its file line (a cut paste) is kept
    as a frame without a file."""
    frames: list[Frame] = []
    ancestors: list[Frame] | None = None  # set once "[originating from goroutine N]:" is seen
    target = frames
    created_by = None
    func: str | None = None
    for i, line in enumerate(body.rstrip("\n").split("\n"), start=1):
        if line.startswith("\t"):
            if func is not None:  # a file line without a function ("stack unavailable") is noise
                target.append(Frame(func, *_location(line)))
            func = None
            continue
        if func is not None:
            target.append(Frame(func))
            func = None
        if line.startswith(_CREATED):
            if ancestors is None:  # an ancestor's own creator is not this goroutine's
                created_by = line[len(_CREATED) :].partition(" in goroutine ")[0]
        elif line.startswith(_ANCESTOR):
            # GODEBUG=tracebackancestors=N: the creators' stacks when they started it. The first
            # (the direct creator) is kept as context; older ones are read past.
            if ancestors is None:
                target = ancestors = []
            else:
                target = []
        elif not line.startswith(_ELIDED):
            # Args `_ARGS` left in place: no file line follows (a cut paste).
            name = line[: line.rfind("(")] if line.endswith(")") else line
            if not name or " " in name:  # Go function names have no spaces; args are gone
                raise _BadLineError(i, f"expected a function call, got {line[:80]!r}")
            func = name
    if func is not None:
        target.append(Frame(func))
    return tuple(frames), created_by, tuple(ancestors or ())


def _complete_blocks(text: str, raw_size: int) -> tuple[list[str], bool, int]:
    """Split into blocks; drop a last block the runtime cut off (not ending in a whole file
    line). A paste that lost only the final newline is complete; lines after the last goroutine's
    stack that are no part of one are left out (their count is returned), not taken for a cut."""
    blocks = text.split("\n\n")
    if not blocks[-1].strip():
        blocks.pop()
    trailing = _trailing_text(blocks)
    last_line = blocks[-1].rstrip("\n").rpartition("\n")[2] if blocks else ""
    complete = last_line.startswith("\t") and is_file_line(last_line[1:])
    cut = raw_size >= RUNTIME_CUT or not complete
    if cut and blocks:
        blocks.pop()
    return blocks, cut, trailing


def _trailing_text(blocks: list[str]) -> int:
    """Leave out lines after the last goroutine's stack that are no part of one, when what is left
    ends in a whole file line; the number left out (0: nothing changed, the block may be cut)."""
    kept = list(blocks)
    dropped = 0
    while kept:
        lines = kept[-1].rstrip("\n").split("\n")
        while lines and not _in_stack(lines[-1]):
            lines.pop()
            dropped += 1
        if lines:
            kept[-1] = "\n".join(lines)
            break
        kept.pop()
    last_line = kept[-1].rpartition("\n")[2] if kept else ""
    if not dropped or not (last_line.startswith("\t") and is_file_line(last_line[1:])):
        return 0
    blocks[:] = kept
    return dropped


def _in_stack(line: str) -> bool:
    return line.startswith(("\t", "goroutine ")) or is_stack_line(line.strip())


def _count_distinct(blocks: list[str]) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """(header after the id, body) → goroutines, and → index of its first block."""
    counts: dict[tuple[str, str], int] = {}
    first: dict[tuple[str, str], int] = {}
    for i, block in enumerate(blocks):
        head, _, body = block.partition("\n")
        if not head.startswith("goroutine "):
            raise _bad(_line_of(blocks, i), f"expected a goroutine header, got {head[:80]!r}")
        key = (head[head.find(" [") :], body)
        n = counts.get(key)
        if n is None:
            counts[key] = 1
            first[key] = i
        else:
            counts[key] = n + 1
    return counts, first


def _line_of(blocks: list[str], index: int) -> int:
    """1-based line of a block's header; only computed for error messages."""
    return 1 + sum(b.count("\n") + 2 for b in blocks[:index])


def parse(text: str, *, raw_size: int, max_samples: int, notes: tuple[str, ...] | list[str] = ()) -> Profile:
    blocks, truncated, trailing = _complete_blocks(_ARGS.sub("", text), raw_size)
    if not blocks:  # never "0 goroutines" for text that holds a goroutine header
        raise TruncatedProfileError("debug=2 dump ends inside its first goroutine record")
    if len(blocks) > max_samples:
        raise ProfileTooLargeError(f"{len(blocks)} goroutines, over the cap of {max_samples}")
    counts, first = _count_distinct(blocks)
    builder = GroupBuilder()
    bodies: dict[str, tuple[tuple[Frame, ...], str | None, tuple[Frame, ...]]] = {}
    stacks: dict[tuple[WaitKind, str], Stack] = {}
    for (tail, body), n in counts.items():
        try:
            wait, minutes, labels = _header(tail)
            if body not in bodies:
                bodies[body] = _body(body)
                builder.charge(len(bodies[body][0]) + len(bodies[body][2]))
        except _BadLineError as exc:
            raise _bad(_line_of(blocks, first[tail, body]) + exc.offset, str(exc)) from None
        frames, created_by, ancestors = bodies[body]
        stack = stacks.get((wait, body))
        if stack is None:
            stack = stacks[wait, body] = make_stack(wait, frames)
        builder.add(stack, n, created_by=created_by, minutes=minutes * n, labels=labels, ancestors=ancestors)
    warnings = (
        *notes,
        *([f"{trailing} line(s) after the last goroutine left out: no part of a stack"] if trailing else []),
        *(["the dump was cut: its last, incomplete goroutine is left out"] if truncated else []),
    )
    return Profile(
        ProfileKind.GOROUTINE,
        ProfileFormat.DUMP,
        builder.groups(),
        len(blocks),
        truncated=truncated,
        warnings=warnings,
    )
