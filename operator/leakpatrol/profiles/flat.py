"""debug=0 fast path: every sample's location ids and values decoded in one C call.

Reading samples one by one costs three upb wrapper objects each (location_id, value, label);
at 4,000 stacks that is most of the parse. Instead the samples are taken as raw bytes
(`SampleBytes`), joined with a separator that encodes `location_id: 0` and `value: SENTINEL`,
and decoded as a single `Sample`: repeated fields merge in order, so one list holds all ids with
a 0 after each sample, another all values with SENTINEL after each sample's values. Signatures
and wait kinds then come from one string join over all ids (see `stacks`).

Location id 0 is invalid in pprof and SENTINEL is no count anyone writes; each must appear
exactly once per sample, no sample may have labels and no name may hold NUL, else these return
None and the sample-by-sample path in proto.py decides, including every error.
"""

from __future__ import annotations

import re
from itertools import repeat
from typing import cast

from google.protobuf.message import DecodeError

from leakpatrol.profiles import profile_pb2 as pb
from leakpatrol.profiles.model import WaitKind

SENTINEL = -(2**63) + 0x5EED
_SEPARATOR = pb.Sample(location_id=[0], value=[SENTINEL]).SerializeToString()
_NUL = "\x00"  # stands for the separator in the joined strings: no name or wait char is NUL
NOTHING = "\x01"  # a location that neither waits nor parks
PARK = "\x02"  # a location that parks without saying why (runtime.gopark)
WAIT_CHARS = {kind: chr(3 + i) for i, kind in enumerate(WaitKind)}
_CHAR_KINDS = {c: kind for kind, c in WAIT_CHARS.items()}
_WAITS = f"{min(WAIT_CHARS.values())}-{max(WAIT_CHARS.values())}"
# Per sample up to its NUL: the first wait char, or "". Linear: the first class excludes what
# the group takes, and the group is one optional char.
_FIRST_WAIT = re.compile(f"[^\\x00{_WAITS}]*([{_WAITS}]?)[^\\x00]*\\x00")
_DROP_CHARS = dict.fromkeys(range(1, 3 + len(WAIT_CHARS)))  # str.translate: delete them


class Samples:
    """All samples' ids (a 0 after each sample) and values, per sample type."""

    def __init__(self, ids: list[int], values: list[int], n: int, n_types: int) -> None:
        self.ids = ids
        self.n = n
        stride = n_types + 1
        self.values = [values[i::stride] for i in range(n_types)]  # per sample type, per sample
        self._starts: list[int] | None = None  # where each sample's ids begin: found on demand

    def ids_of(self, sample: int) -> list[int]:
        """One sample's ids. Where samples begin is worked out only once someone reads frames:
        most profiles are evaluated without that."""
        if self._starts is None:
            starts, find, end = [0], self.ids.index, -1
            for _ in range(self.n - 1):
                end = find(0, end + 1)
                starts.append(end + 1)
            self._starts = starts
        start = self._starts[sample]
        return self.ids[start : self.ids.index(0, start)]


def read(raw: bytes, n: int, n_types: int) -> Samples | None:
    try:
        samples = pb.SampleBytes.FromString(raw).sample[:]
        flat = pb.Sample.FromString(_SEPARATOR.join(samples) + _SEPARATOR)
    except DecodeError:
        return None
    if len(samples) != n or flat.label:
        return None
    values = flat.value[:]
    stride = n_types + 1
    if len(values) != n * stride or values.count(SENTINEL) != n:
        return None
    if values[n_types::stride].count(SENTINEL) != n:  # each sample gave exactly n_types values
        return None
    return Samples(flat.location_id[:], values, n, n_types)


def stacks(samples: Samples, tokens: dict[int, str]) -> tuple[list[str], list[WaitKind]] | None:
    """Per sample: its user function names (";"-joined) and its wait kind, from one join.

    A location's token is one char (its wait char, PARK or NOTHING), then its user names, each
    ending in ";" (proto.py keeps locations whose names hold control chars off this path). In
    the joined string the separator's NUL ends each sample: one C-level regex pass takes each
    sample's first wait char (leaf first), one `translate` drops the chars to leave the names.
    KeyError: an unknown location."""
    joined = "".join(map({**tokens, 0: _NUL}.__getitem__, samples.ids))
    names = joined.translate(_DROP_CHARS).split(_NUL)
    kinds = list(map(_CHAR_KINDS.get, _FIRST_WAIT.findall(joined)))
    if len(names) != samples.n + 1 or len(kinds) != samples.n:
        return None
    names.pop()
    if None in kinds:  # no location said why: parked (reason unknown) or running
        parts, i = joined.split(_NUL), -1
        for _ in range(kinds.count(None)):
            i = kinds.index(None, i + 1)
            kinds[i] = WaitKind.UNKNOWN if PARK in parts[i] else WaitKind.RUNNING
    return list(map(str.removesuffix, names, repeat(";"))), cast(list[WaitKind], kinds)  # no None left
