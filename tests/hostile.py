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


def heap_profile(sites: int) -> bytes:
    """A valid gzipped heap profile.proto with `sites` distinct allocation sites (real heap
    profiles of big services are often well over 32 KiB)."""
    strings = [b"", b"alloc_objects", b"count", b"alloc_space", b"bytes", b"inuse_objects", b"inuse_space"]
    p = pb.Profile(string_table=[*strings, b"main.go", b"runtime.malg"])
    for type_, unit in ((1, 2), (3, 4), (5, 2), (6, 4)):
        p.sample_type.add(type=type_, unit=unit)
    p.function.add(id=1, name=8, filename=7)
    p.location.add(id=1, line=[pb.Line(function_id=1, line=1)])
    for i in range(sites):
        p.string_table.append(f"main.cache{i}.(*entry).grow".encode())
        p.function.add(id=2 + i, name=len(p.string_table) - 1, filename=7)
        p.location.add(id=2 + i, line=[pb.Line(function_id=2 + i, line=20 + i % 50)])
        objects = 1 + i % 17
        p.sample.add(location_id=[1, 2 + i], value=[objects, objects * 4096, objects, objects * 4096])
    return gzip.compress(p.SerializeToString())


def inflating_profile(samples: int) -> bytes:
    """A small gzip that inflates to a huge goroutine profile: one sample repeated `samples` times
    (1.1M of them: ~31 KiB on the wire, ~16 MiB inflated, far over the operator's stack cap)."""
    one = gzip.decompress(many_stacks_profile(1))
    msg = pb.Profile()
    msg.ParseFromString(one)
    msg.sample.extend([msg.sample[0]] * (samples - 1))
    return gzip.compress(msg.SerializeToString(), 9)
