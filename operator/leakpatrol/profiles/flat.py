"""debug=0 fast path: every sample's location ids and values decoded in one C call.

Reading samples one by one costs three upb wrapper objects each (location_id, value, label);
at 4,000 stacks that is most of the parse. Instead the samples are taken as raw bytes
(`SampleBytes`), joined with a separator that encodes `location_id: 0` and `value: SENTINEL`,
and decoded as a single `Sample`: repeated fields merge in order, so one list holds all ids with
a 0 after each sample, another all values with SENTINEL after each sample's values. Signatures
and wait kinds then come from one string join over all ids, split at the separators.

Location id 0 is invalid in pprof and SENTINEL is no count anyone writes; each must appear
exactly once per sample, no sample may have labels and no name may hold NUL, else these return
None and the sample-by-sample path in proto.py decides, including every error.
"""

from __future__ import annotations

from itertools import accumulate, repeat
from operator import itemgetter

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
_FIRST = itemgetter(slice(0, 1))


class Samples:
    """All samples' ids (a 0 after each sample) and values, per sample type."""

    def __init__(self, ids: list[int], values: list[int], n: int, n_types: int) -> None:
        self.ids = ids
        self.n = n
        stride = n_types + 1
        self.values = [values[i::stride] for i in range(n_types)]  # per sample type, per sample
        self.starts: list[int] = []  # where each sample's ids begin in `ids`: set by wait_kinds
        self.nonempty: list[bool] = []

    def ids_at(self, start: int) -> list[int]:
        """One sample's ids; its end is found only when someone reads its frames."""
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


def wait_kinds(samples: Samples, chars: dict[int, str]) -> list[WaitKind] | None:
    """Per sample, the first location that proves a wait kind (leaf first); else UNKNOWN if it
    parked, RUNNING if not. `chars`: one char per location (a wait char, PARK or NOTHING), so
    the parts' lengths also give each sample's span of ids. KeyError: an unknown location."""
    parts = "".join(map({**chars, 0: _NUL}.__getitem__, samples.ids)).split(_NUL)
    if len(parts) != samples.n + 1:  # a location id 0 inside a sample
        return None
    parts.pop()
    lengths = list(map(len, parts))
    samples.starts = list(accumulate(map(int.__add__, lengths, repeat(1)), initial=0))
    samples.starts.pop()  # where a sample after the last would begin
    samples.nonempty = list(map(bool, lengths))
    kinds = list(map(_CHAR_KINDS.get, map(_FIRST, map(str.lstrip, parts, repeat(NOTHING + PARK)))))
    i = -1
    for _ in range(kinds.count(None)):  # no location said why: parked (reason unknown) or running
        i = kinds.index(None, i + 1)
        kinds[i] = WaitKind.UNKNOWN if PARK in parts[i] else WaitKind.RUNNING
    return kinds  # type: ignore[return-value]  # the Nones were just replaced


def user_names(samples: Samples, names: dict[int, str]) -> list[str] | None:
    """Per sample, its user function names ";"-joined: one join over all ids (each location's
    names end in ";"), split at the separators; None if a name holds NUL (it would shift them)."""
    parts = "".join(map({**names, 0: _NUL}.__getitem__, samples.ids)).split(_NUL)
    if len(parts) != samples.n + 1:
        return None
    parts.pop()
    return list(map(str.removesuffix, parts, repeat(";")))
