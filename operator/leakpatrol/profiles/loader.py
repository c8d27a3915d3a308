"""`load()`: sniff the bytes, decompress under a hard cap, hand them to the right parser.

Order follows google/pprof's own reader: gzip first, then the text formats (cheap prefix
checks), then text found by content (pasted dumps, see `paste`), then profile.proto.
Untrusted bytes from any pod end up here, so every failure is a `ProfileError` and every
resource is bounded: decompressed size, sample count, frame volume.
"""

from __future__ import annotations

import gc
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from leakpatrol.profiles import dump, paste, proto, text
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
_TEXT_PREFIXES = tuple(h.encode() for h in text.HEADERS)
# Stage of the error that wraps an exception no parser anticipated: a bug, never expected.
UNEXPECTED_STAGE = "unexpected"


def load(data: bytes, *, max_decompressed_bytes: int = 64 << 20, max_samples: int = 500_000) -> Profile:
    """Parse any Go goroutine / goroutineleak / heap profile (debug=0, 1 or 2) into one `Profile`.

    Raises only `ProfileError` subclasses, whatever the input.
    """
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


def _load(data: bytes, cap: int, max_samples: int) -> Profile:
    if data.startswith(GZIP_MAGIC):
        data = gunzip(data, cap)
    elif len(data) > cap:
        raise ProfileTooLargeError(f"{len(data)} bytes, over the cap of {cap}")
    if data.startswith(_TEXT_PREFIXES) or _is_count_line(data):
        return _text(data, ProfileFormat.TEXT, max_samples)
    if _is_dump(data):
        return _text(data, ProfileFormat.DUMP, max_samples)
    if data.startswith(b"heap profile:"):
        raise NotAProfileError("heap debug=1 text is not supported: fetch the heap profile with debug=0")
    if not data.strip():
        raise NotAProfileError("empty input")
    # Format by content, not by the first byte: pasted text may start with blank lines, a log
    # prefix or indentation, and would otherwise be read as (garbage) protobuf.
    if paste.looks_like_text(data):
        return _pasted(data.decode("utf-8", "replace"), len(data), max_samples)
    return proto.parse(proto.decode(data), max_samples=max_samples, raw=data)


def _text(data: bytes, fmt: ProfileFormat, max_samples: int) -> Profile:
    """Well-formed text takes the strict parser straight away; what it refuses gets one more
    chance after `paste.clean` (whitespace, prefixes), and that error stands if both fail."""
    decoded = data.decode("utf-8", "replace")
    try:
        return _parse(fmt, decoded, len(data), max_samples, [])
    except MalformedProfileError as strict:
        try:
            fmt, cleaned, notes = paste.clean(decoded)
        except ProfileError:
            raise strict from None
        if cleaned.rstrip("\n") == decoded.rstrip("\n"):
            raise
        return _parse(fmt, cleaned, len(data), max_samples, notes)


def _pasted(decoded: str, raw_size: int, max_samples: int) -> Profile:
    fmt, cleaned, notes = paste.clean(decoded)
    return _parse(fmt, cleaned, raw_size, max_samples, notes)


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
