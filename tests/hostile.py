"""Hostile but valid input, built from the profile.proto schema: what a misbehaving pod can serve."""

from __future__ import annotations

import gzip

from leakpatrol.profiles import profile_pb2 as pb


def distinct_stacks_profile(stacks: int) -> bytes:
    """A valid gzipped goroutine profile.proto with `stacks` stacks of distinct functions (Go's
    own shape: one sample per distinct stack, no labels), each parked in a channel receive."""
    strings = [b"", b"goroutine", b"count", b"main.go", b"runtime.gopark", b"runtime.chanrecv1"]
    p = pb.Profile(string_table=strings)
    p.sample_type.add(type=1, unit=2)
    p.function.add(id=1, name=4, filename=3)
    p.function.add(id=2, name=5, filename=3)
    p.location.add(id=1, line=[pb.Line(function_id=1, line=1)])
    p.location.add(id=2, line=[pb.Line(function_id=2, line=1)])
    for i in range(stacks):
        p.string_table.append(f"main.worker{i}".encode())
        p.function.add(id=3 + i, name=len(p.string_table) - 1, filename=3)
        p.location.add(id=3 + i, line=[pb.Line(function_id=3 + i, line=10 + i % 90)])
        p.sample.add(location_id=[1, 2, 3 + i], value=[1 + i % 3])
    return gzip.compress(p.SerializeToString())


def many_stacks_profile(stacks: int) -> bytes:
    """A valid gzipped goroutine profile.proto with `stacks` distinct one-frame stacks."""
    p = pb.Profile(string_table=[b"", b"goroutine", b"count", b"main.f", b"main.go"])
    p.sample_type.add(type=1, unit=2)
    p.function.add(id=1, name=3, filename=4)
    for i in range(1, stacks + 1):
        p.location.add(id=i, line=[pb.Line(function_id=1, line=i)])
        p.sample.add(location_id=[i], value=[1])
    return gzip.compress(p.SerializeToString())
