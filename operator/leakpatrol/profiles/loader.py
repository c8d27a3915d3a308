"""`load()`: sniff the bytes, decompress under a hard cap, hand them to the right parser.

Order follows google/pprof's own reader: gzip first, then the text formats (cheap prefix
checks), then pprof's `-traces` report and text found by content (pasted dumps, see `traces`,
`paste`), then profile.proto.
Untrusted bytes from any pod end up here, so every failure is a `ProfileError` and every
resource is bounded: decompressed size, sample count, frame volume.
"""

from __future__ import annotations

import gc
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from leakpatrol.profiles import dump, paste, proto, text, traces
from leakpatrol.profiles.errors import (
    DecompressionError,
    MalformedProfileError,
    NotAProfileError,
    ProfileError,
    ProfileMemoryError,
    ProfileTooLargeError,
    TruncatedProfileError,
)
from leakpatrol.profiles.model import Profile, ProfileFormat

GZIP_MAGIC = b"\x1f\x8b"
# A debug=1 header at the start of a line: a second one starts a second snapshot.
_HEADER_LINE = re.compile(r"^(?:goroutine|goroutineleak) profile: total [0-9]", re.MULTILINE)
_TEXT_PREFIXES = tuple(h.encode() for h in text.HEADERS)
# Stage of the error that wraps an exception no parser anticipated: a bug, never expected.
UNEXPECTED_STAGE = "unexpected"


def load(data: bytes, *, max_decompressed_bytes: int = 64 << 20, max_samples: int = 500_000) -> Profile:
    """Parse any Go goroutine / goroutineleak / heap profile (debug=0, 1 or 2) into one `Profile`.

    Raises only `ProfileError` subclasses, whatever the input. Text holding several debug=1
    snapshots (pasted one after the other) gives the last, with a warning; `load_all` gives each.
    """
    return load_all(data, max_decompressed_bytes=max_decompressed_bytes, max_samples=max_samples)[-1]


def load_all(
    data: bytes, *, max_decompressed_bytes: int = 64 << 20, max_samples: int = 500_000
) -> list[Profile]:
    """Every snapshot in the data, oldest first: one, unless debug=1 text holds several
    `goroutine profile: total N` headers (each is read; the last one's warnings say so)."""
    try:
        raw = data if isinstance(data, bytes) else bytes(data)
        with _gc_paused():
            return _load(raw, max_decompressed_bytes, max_samples)
    except ProfileError:
        raise
    except MemoryError as exc:  # a capped parser worker's address space, most likely: callers decide
        raise ProfileMemoryError(UNEXPECTED_STAGE, type(exc).__name__, str(exc)[:200]) from exc
    except Exception as exc:  # the contract: callers handle ProfileError and nothing else
        raise MalformedProfileError(UNEXPECTED_STAGE, type(exc).__name__, str(exc)[:200]) from exc


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Parsing allocates ~10^5 acyclic objects that all survive; the cyclic collector would
    rescan them over and over for nothing (measured: a third of debug=1 parse time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _load(data: bytes, cap: int, max_samples: int) -> list[Profile]:
    if data.startswith(GZIP_MAGIC):
        data = gunzip(data, cap)
    elif len(data) > cap:
        raise ProfileTooLargeError(f"{len(data)} bytes, over the cap of {cap}")
    if data.startswith(_TEXT_PREFIXES) or _is_count_line(data):
        return _snapshots(data.decode("utf-8", "replace"), len(data), max_samples, None)
    if _is_dump(data):
        return [_text(data.decode("utf-8", "replace"), len(data), ProfileFormat.DUMP, max_samples)]
    if data.startswith(b"heap profile:"):
        raise NotAProfileError("heap debug=1 text is not supported: fetch the heap profile with debug=0")
    if not data.strip():
        raise NotAProfileError("empty input")
    if paste.is_plain_text(data) and traces.looks_like(data):
        try:
            converted, notes = traces.to_debug1(data.decode("utf-8", "replace"))
        except (NotAProfileError, MalformedProfileError):
            if not paste.looks_like_text(data):
                raise
            # not pprof's report after all (psql tables' `---+---` around a pasted dump)
        else:
            return [_parse(ProfileFormat.TEXT, converted, len(data), max_samples, notes)]
    # Format by content, not by the first byte: pasted text may start with blank lines, a log
    # prefix or indentation, and would otherwise be read as (garbage) protobuf.
    if paste.looks_like_text(data):
        return _pasted(data.decode("utf-8", "replace"), len(data), max_samples)
    return [proto.parse(proto.decode(data), max_samples=max_samples, raw=data)]


def _text(decoded: str, raw_size: int, fmt: ProfileFormat, max_samples: int) -> Profile:
    """Well-formed text takes the strict parser straight away; what it refuses (or finds cut in
    its first record) gets one more chance after `paste.clean` (whitespace, prefixes), and that
    error stands if both fail."""
    try:
        return _parse(fmt, decoded, raw_size, max_samples, [])
    except (MalformedProfileError, TruncatedProfileError) as strict:
        try:
            fmt, cleaned, notes = paste.clean(decoded)
        except ProfileError:
            raise strict from None
        if cleaned.rstrip("\n") == decoded.rstrip("\n"):
            raise
        return _parse(fmt, cleaned, raw_size, max_samples, notes)


def _pasted(decoded: str, raw_size: int, max_samples: int) -> list[Profile]:
    fmt, cleaned, notes = paste.clean(decoded)
    if fmt is ProfileFormat.TEXT:
        return _snapshots(cleaned, raw_size, max_samples, notes)
    return [_parse(fmt, cleaned, raw_size, max_samples, notes)]


def _snapshots(decoded: str, raw_size: int, max_samples: int, notes: list[str] | None) -> list[Profile]:
    """debug=1 text, split where a `goroutine profile: total N` header starts a further snapshot
    (two fetches pasted one after the other); each is read as its own profile."""
    starts = [m.start() for m in _HEADER_LINE.finditer(decoded)]
    if len(starts) < 2:
        return [_one_text(decoded, raw_size, max_samples, notes)]
    starts[0] = 0  # whatever precedes the first header (blank lines) goes with it
    parts = [decoded[a:b] for a, b in zip(starts, [*starts[1:], len(decoded)], strict=True)]
    profiles = [_one_text(part, raw_size, max_samples, notes) for part in parts]
    totals = ", ".join(str(p.total) for p in profiles)
    said = f"{len(profiles)} snapshots in this paste (totals {totals}), each read: this is the last"
    last = profiles[-1]
    last.warnings = (*last.warnings, said)
    return profiles


def _one_text(decoded: str, raw_size: int, max_samples: int, notes: list[str] | None) -> Profile:
    if notes is None:  # straight from the bytes: the strict parser first
        return _text(decoded, raw_size, ProfileFormat.TEXT, max_samples)
    return _parse(ProfileFormat.TEXT, decoded, raw_size, max_samples, list(notes))


def _parse(fmt: ProfileFormat, decoded: str, raw_size: int, max_samples: int, notes: list[str]) -> Profile:
    if fmt is ProfileFormat.TEXT:
        return text.parse(decoded, max_samples=max_samples, notes=notes)
    return dump.parse(decoded, raw_size=raw_size, max_samples=max_samples, notes=notes)


def _is_dump(data: bytes) -> bool:
    return data.startswith(b"goroutine ") and data[10:11].isdigit()


def _is_count_line(data: bytes) -> bool:
    """debug=1 pasted without its header starts at a record: `25 @ 0x…`."""
    count, sep, _ = data[:40].partition(b" @ 0x")
    return bool(sep) and count.isdigit()


def gunzip(data: bytes, cap: int) -> bytes:
    """Decompress one gzip member, refusing to produce more than `cap` bytes.

    `gzip.decompress` would inflate a bomb in full before we could look at the size.
    """
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(data, cap + 1)
    except zlib.error as exc:
        raise DecompressionError(f"corrupt gzip: {exc}") from exc
    if len(out) > cap:
        raise ProfileTooLargeError(f"decompresses to more than {cap} bytes")
    if not inflater.eof:
        raise TruncatedProfileError(f"gzip stream ends early after {len(out)} bytes")
    return out
