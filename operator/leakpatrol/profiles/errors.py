"""Errors raised by `leakpatrol.profiles.load`: nothing else ever escapes it.

ProfileError                  base: load() refused these bytes
├── NotAProfileError          neither gzip, nor a known pprof text format, nor profile.proto
├── DecompressionError        a corrupt gzip stream
├── ProfileTooLargeError      over the decompressed-size cap or the sample cap
├── MalformedProfileError     a known format with invalid content; names .stage and .field
│   └── ProfileMemoryError    the parser ran out of memory (load maps a MemoryError to it)
└── TruncatedProfileError     the data stops before the format says it ends
"""

from __future__ import annotations

from leakpatrol.core import Permanent
from leakpatrol.reasons import Reason


class ProfileError(Permanent):
    """Base of every error `load` raises. Permanent: the same bytes never parse on a retry."""

    reason = Reason.MALFORMED_PROFILE


class NotAProfileError(ProfileError):
    """The bytes are no pprof format we know (wrong endpoint, an HTML error page, garbage)."""


class DecompressionError(ProfileError):
    """The gzip stream is corrupt (bad header, bad deflate data, bad checksum)."""


class ProfileTooLargeError(ProfileError):
    """Decompressed size, sample count or stack volume is over the caller's limits."""

    reason = Reason.PROFILE_TOO_LARGE


class TruncatedProfileError(ProfileError):
    """The data ends early: a cut-off download or gzip stream."""


class MalformedProfileError(ProfileError):
    """A recognised format with content that does not parse.

    `stage` names the parser ("protobuf", "debug=1", "debug=2"), `field` the message field or
    text line that failed, so a report can point at the exact place.
    """

    def __init__(self, stage: str, field: str, detail: str) -> None:
        super().__init__(f"malformed {stage} at {field}: {detail}")
        self.stage = stage
        self.field = field
        self.detail = detail


class ProfileMemoryError(MalformedProfileError):
    """Parsing these bytes ran out of memory: `load` maps a MemoryError here, the one place it
    enters the tree. Inline that says malformed (the operator has no memory cap of its own); in
    a parser worker, whose address space is capped, `ProfileParser` calls it too large."""
