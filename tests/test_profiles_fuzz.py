"""Property tests: whatever the bytes, `load` returns a Profile or raises a ProfileError.

Never another exception (the catch-all `unexpected` stage counts as a failure here), never a
hang. Inputs: arbitrary bytes, gzip of arbitrary bytes, and truncations and byte flips of every
golden file, both as stored and (for the gzipped ones) after decompression, so the protobuf
decoder sees damage that gzip's checksum would otherwise catch first.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leakpatrol.profiles import MalformedProfileError, Profile, ProfileError, load
from leakpatrol.profiles import profile_pb2 as pb
from leakpatrol.profiles.loader import UNEXPECTED_STAGE

GOLDEN = Path(__file__).parent / "golden" / "profiles"
FILES = sorted(p.name for p in GOLDEN.iterdir() if p.name != "README.md")
RAW = {name: (GOLDEN / name).read_bytes() for name in FILES}
# The payloads behind the gzip layer: where protobuf and text parsers meet damage directly.
PLAIN = {name: gzip.decompress(data) if name.endswith(".gz") else data for name, data in RAW.items()}
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(data: bytes) -> None:
    try:
        profile = load(data, max_samples=10_000)
    except MalformedProfileError as exc:
        assert exc.stage != UNEXPECTED_STAGE, exc
    except ProfileError:
        pass
    else:
        assert isinstance(profile, Profile)
        for g in profile.groups:
            assert g.signature.startswith(f"{g.wait_kind.value}|")


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes(data: bytes) -> None:
    check(data)


@FUZZ
@given(st.binary(max_size=2048))
def test_gzip_of_arbitrary_bytes(data: bytes) -> None:
    check(gzip.compress(data))


@FUZZ
@given(
    st.sampled_from(["goroutine profile: total 3\n", "goroutine 1 [", "goroutineleak profile: total "]),
    st.text(max_size=500),
)
def test_text_prefixes_with_arbitrary_rest(prefix: str, rest: str) -> None:
    check((prefix + rest).encode())


@pytest.mark.parametrize("source", ["raw", "plain"])
@pytest.mark.parametrize("name", FILES)
def test_every_truncation_point_sample(name: str, source: str) -> None:
    data = (RAW if source == "raw" else PLAIN)[name]
    step = max(1, len(data) // 300)
    for cut in range(0, len(data), step):
        check(data[:cut])


@FUZZ
@given(st.sampled_from(FILES), st.sampled_from(["raw", "plain"]), st.data())
def test_byte_flips(name: str, source: str, data: st.DataObject) -> None:
    blob = bytearray((RAW if source == "raw" else PLAIN)[name])
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(blob) - 1), st.integers(1, 255)), max_size=8))
    for pos, xor in flips:
        blob[pos] ^= xor
    check(bytes(blob))


@FUZZ
@given(st.sampled_from(FILES), st.data())
def test_splices(name: str, data: st.DataObject) -> None:
    """Cut a slice out of a payload and insert random bytes: shifts every later offset."""
    blob = PLAIN[name]
    start = data.draw(st.integers(0, len(blob)))
    end = data.draw(st.integers(start, min(len(blob), start + 64)))
    check(blob[:start] + data.draw(st.binary(max_size=32)) + blob[end:])


ids = st.integers(0, 12)


@st.composite
def profiles(draw: st.DrawFn) -> bytes:
    """Structurally valid protobuf with arbitrary cross-references: ids and string indices
    that may point nowhere, empty or huge stacks, odd value counts."""
    strings = [b"", b"goroutine", b"count", b"runtime.gopark", b"main.f", b"inuse_space", b"\xff\xfe"]
    msg = pb.Profile(string_table=draw(st.lists(st.sampled_from(strings), max_size=8)) or strings)
    for _ in range(draw(st.integers(0, 4))):
        msg.sample_type.add(type=draw(ids), unit=draw(ids))
    for fid in draw(st.lists(ids, max_size=6)):
        msg.function.add(id=fid, name=draw(ids), filename=draw(ids))
    for lid in draw(st.lists(ids, max_size=6)):
        lines = [pb.Line(function_id=f, line=draw(ids)) for f in draw(st.lists(ids, max_size=3))]
        msg.location.add(id=lid, line=lines, address=draw(ids))
    for _ in range(draw(st.integers(0, 6))):
        labels = [pb.Label(key=draw(ids), str=draw(ids)) for _ in range(draw(st.integers(0, 2)))]
        values = draw(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=5))
        msg.sample.add(location_id=draw(st.lists(ids, max_size=8)), value=values, label=labels)
    data = msg.SerializeToString()
    return gzip.compress(data) if draw(st.booleans()) else data


@FUZZ
@given(profiles())
def test_structured_protobuf(data: bytes) -> None:
    check(data)
