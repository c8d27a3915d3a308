"""Hostile but valid input, built from the profile.proto schema: what a misbehaving pod can serve."""

from __future__ import annotations

import gzip

from leakpatrol.profiles import profile_pb2 as pb


def many_stacks_profile(stacks: int) -> bytes:
    """A valid gzipped goroutine profile.proto with `stacks` distinct one-frame stacks."""
    p = pb.Profile(string_table=[b"", b"goroutine", b"count", b"main.f", b"main.go"])
    p.sample_type.add(type=1, unit=2)
    p.function.add(id=1, name=3, filename=4)
    for i in range(1, stacks + 1):
        p.location.add(id=i, line=[pb.Line(function_id=1, line=i)])
        p.sample.add(location_id=[i], value=[1])
    return gzip.compress(p.SerializeToString())
