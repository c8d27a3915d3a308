"""Shared capacity: fetch slots go round-robin between tenants, and big profiles parse in worker
processes under caps that name their knob, so one tenant's pod cannot starve or sink the rest."""

from __future__ import annotations

import asyncio
import gzip
import pickle
import resource
from pathlib import Path

import pytest
from hostile import distinct_stacks_profile, many_stacks_profile

from leakpatrol.controller.collect.fairness import FairShare
from leakpatrol.profiles import Profile, ProfileTooLargeError, load
from leakpatrol.profiles import parser as parser_module
from leakpatrol.profiles import profile_pb2 as pb
from leakpatrol.profiles.parser import ParseLimits, ProfileParser, inflated_within

GOLDEN = Path(__file__).parent / "golden" / "profiles"


async def test_a_quiet_tenant_is_served_between_a_busy_tenants_requests() -> None:
    share, order = FairShare(2), []

    async def fetch(tenant: str, i: int) -> None:
        async with share.slot(tenant):
            await asyncio.sleep(0.001)
            order.append((tenant, i))

    busy = [asyncio.create_task(fetch("busy", i)) for i in range(60)]
    await asyncio.sleep(0)  # the busy tenant has queued everything first
    quiet = [asyncio.create_task(fetch("quiet", i)) for i in range(3)]
    await asyncio.gather(*busy, *quiet)
    last_quiet = max(n for n, (tenant, _) in enumerate(order) if tenant == "quiet")
    assert last_quiet < 10, f"the quiet tenant waited behind {last_quiet} fetches: {order[:12]}"
    assert share.busy == 0 and share.waiting() == 0


async def test_a_cancelled_waiter_gives_its_turn_away() -> None:
    share = FairShare(1)
    async with share.slot("a"):
        waiter = asyncio.create_task(share._acquire("b"))
        other = asyncio.create_task(share._acquire("c"))
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.sleep(0)
    await asyncio.wait_for(other, 1)  # c got the slot b gave up
    assert share.busy == 1
    share._release("c")
    assert share.busy == 0 and share.held == {}


async def test_a_huge_profile_is_refused_by_a_worker_naming_the_limit_and_the_knob() -> None:
    data = many_stacks_profile(120_000)
    parser = ProfileParser(ParseLimits(max_stacks=20_000), workers=1)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        with pytest.raises(ProfileTooLargeError, match=r"20000 distinct stacks.*--max-profile-stacks"):
            await parser.parse(data)
        # A worker did the decoding: this process' high-water mark did not take the hit.
        assert parser._pool is not None
        assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB
        golden = (GOLDEN / "goroutine.txt").read_bytes()  # debug=1 text, parsed in the worker
        forced = ProfileParser(workers=1, inline_bytes=0)
        try:
            in_worker = await forced.parse(golden)
        finally:
            forced.close()
        inline = load(golden)
        assert in_worker.total == inline.total > 0
        assert [g.signature for g in in_worker.groups] == [g.signature for g in inline.groups]
    finally:
        parser.close()


async def test_caps_apply_inline_too() -> None:
    with pytest.raises(ProfileTooLargeError, match="--max-profile-mb"):
        await ProfileParser(ParseLimits(max_bytes=1 << 10)).parse(
            gzip.compress(b"goroutine profile: " * 1000)
        )


def _shape(profile: Profile) -> list[tuple[object, ...]]:
    return [
        (g.signature, g.wait_kind, tuple(g.frames), tuple(g.user_frames), g.count, g.heap, bool(g.frames))
        for g in profile.groups
    ]


_EVERY_GOLDEN = sorted(
    p for d in ("profiles", "pasted") for p in (GOLDEN.parent / d).iterdir() if p.suffix in (".gz", ".txt")
)


@pytest.mark.parametrize("path", _EVERY_GOLDEN, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_parse_result_round_trips_through_pickle(path: Path) -> None:
    """What a worker process returns crosses back by pickle: every format's lazy frames must."""
    profile = load(path.read_bytes())
    back = pickle.loads(pickle.dumps(profile))
    assert (back.kind, back.format, back.total, back.warnings) == (
        profile.kind,
        profile.format,
        profile.total,
        profile.warnings,
    )
    assert _shape(back) == _shape(profile) and profile.groups


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(distinct_stacks_profile(15_000), id="goroutine-15k-stacks"),
        pytest.param((GOLDEN / "heap.pb.gz").read_bytes(), id="heap"),
    ],
)
async def test_a_profile_over_the_inline_size_parses_in_a_worker_like_inline(data: bytes) -> None:
    parser = ProfileParser(workers=1, inline_bytes=min(len(data) - 1, 32 << 10))
    try:
        in_worker = await parser.parse(data)
        assert parser._pool is not None  # it did go to the worker
    finally:
        parser.close()
    assert _shape(in_worker) == _shape(load(data)) and in_worker.total > 0


def test_small_is_judged_on_the_inflated_size_not_the_wire_size() -> None:
    golden = (GOLDEN / "goroutine.pb.gz").read_bytes()
    assert inflated_within(golden, 8 << 10) == gzip.decompress(golden)  # inflated once, here
    bomb = gzip.compress(b"\x00" * (16 << 20))  # ~16 KiB on the wire
    assert len(bomb) < 32 << 10 and inflated_within(bomb, 8 << 10) is None
    assert inflated_within(b"x" * (9 << 10), 8 << 10) is None
    assert inflated_within(golden[:-20], 8 << 10) == golden[:-20]  # truncated: load says so


async def test_an_inflating_profile_never_parses_on_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 31 KiB gzip that inflates to 1.1M samples cost 175 ms of the loop before the sample cap
    refused it: now the loop inflates at most 8 KiB of it and hands it to a worker."""
    inline: list[int] = []
    real_load = parser_module.load

    def recording_load(data: bytes, **kwargs: int) -> Profile:
        inline.append(len(data))
        return real_load(data, **kwargs)

    monkeypatch.setattr(parser_module, "load", recording_load)
    bomb = many_stacks_profile(1)  # then inflate it: one sample repeated a million times
    msg = pb.Profile()
    msg.ParseFromString(gzip.decompress(bomb))
    msg.sample.extend([msg.sample[0]] * 1_100_000)
    data = gzip.compress(msg.SerializeToString(), 9)
    assert len(data) < 64 << 10
    parser = ProfileParser(workers=1)
    try:
        with pytest.raises(ProfileTooLargeError, match="samples"):
            await parser.parse(data)
        assert parser._pool is not None and inline == []
        small = await parser.parse((GOLDEN / "goroutineleak.pb.gz").read_bytes())
        assert small.total > 0 and len(inline) == 1 and inline[0] <= 8 << 10
    finally:
        parser.close()


async def test_a_tenants_queue_of_big_profiles_does_not_stand_between_another_and_the_workers() -> None:
    """The worker pool is first come, first served; the turns in front of it are not: a quiet
    tenant's one big profile waits for at most the parse in progress, not the busy one's backlog."""
    turns, done = FairShare(1), []
    parser = ProfileParser(workers=1, inline_bytes=0)
    big = distinct_stacks_profile(3_000)

    async def parse(tenant: str, i: int) -> None:
        await parser.parse(big, turns.slot(tenant))
        done.append((tenant, i))

    try:
        await parser.parse(big)  # the worker is up before the race starts
        busy = [asyncio.create_task(parse("busy", i)) for i in range(12)]
        await asyncio.sleep(0)
        quiet = asyncio.create_task(parse("quiet", 0))
        await asyncio.gather(*busy, quiet)
    finally:
        parser.close()
    assert done.index(("quiet", 0)) <= 2, done
