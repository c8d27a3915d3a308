"""`ProfileParser`: bytes from a pod -> a `Profile`, bounded in work, memory and event-loop time.

A pod's profile is untrusted input. Caps far below the parser's own refuse what no healthy
service serves (`max_stacks` distinct stacks, `max_bytes` decompressed) with `ProfileTooLarge`
naming the limit and the operator flag that raises it. Small profiles parse inline, faster than
any hand-off; the rest parse in a small pool of worker processes: a thread would hold the GIL and
stall every tenant's pass, and a worker's memory is its own — capped by an address-space limit,
and given back when the worker is recycled.

"Small" is judged on the *decompressed* bytes, never on what came over the wire: a 31 KiB gzip
can inflate to 16 MiB. Only up to `inline_bytes` are inflated on the event loop to tell; a stream
that goes on past them is handed to a worker as it came. The bound is the worst case per byte:
profile.proto of identical tiny samples parses at ~1.5 ms per KiB here (text at ~0.3), so 8 KiB
keeps any inline parse near 10 ms, whatever its shape.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import resource
import zlib
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass

from leakpatrol.profiles import Profile, ProfileError, ProfileMemoryError, ProfileTooLargeError, load
from leakpatrol.profiles.loader import GZIP_MAGIC

log = logging.getLogger(__name__)

INLINE_BYTES = 8 << 10  # decompressed: the worst shape parses in ~10 ms on the loop
MAX_STACKS = 20_000  # distinct stacks (debug=0 samples, debug=1 records); 4k is already a lot
MAX_DECOMPRESSED = 16 << 20
WORKER_MEMORY = 768 << 20  # address space per worker process (Python + upb reserve ~300 MB)
WORKER_TASKS = 200  # a worker is replaced after this many parses: fragmentation goes with it


@dataclass(frozen=True, slots=True)
class ParseLimits:
    max_stacks: int = MAX_STACKS
    max_bytes: int = MAX_DECOMPRESSED

    def load(self, data: bytes) -> Profile:
        try:
            return load(data, max_decompressed_bytes=self.max_bytes, max_samples=self.max_stacks)
        except ProfileTooLargeError as exc:
            raise ProfileTooLargeError(
                f"{exc} (operator limits: {self.max_stacks} distinct stacks, {self.max_bytes >> 20} MiB"
                " decompressed; raise them with --max-profile-stacks / --max-profile-mb)"
            ) from None


@dataclass(frozen=True, slots=True)
class _Failed:
    """A worker's ProfileError, as plain data (the exception classes do not all pickle)."""

    too_large: bool
    message: str


def _init_worker(memory: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    # Below the operator's own priority: when a big profile and the event loop want the same CPU,
    # the event loop (every tenant's passes, the probes) goes first.
    os.nice(10)


def _parse_in_worker(data: bytes, limits: ParseLimits) -> Profile | _Failed:
    try:
        return limits.load(data)
    except (ProfileTooLargeError, ProfileMemoryError) as exc:  # over the worker's memory cap: too large
        return _Failed(True, str(exc))
    except ProfileError as exc:
        return _Failed(False, str(exc))


def inflated_within(data: bytes, limit: int) -> bytes | None:
    """`data` ready to parse inline if it is (or inflates to) at most `limit` bytes, else None.
    Broken gzip is returned as it is: `load` refuses it at once with the exact error."""
    if data[:2] != GZIP_MAGIC:
        return data if len(data) <= limit else None
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        raw = inflate.decompress(data, limit + 1)
    except zlib.error:
        return data
    if len(raw) > limit or inflate.unconsumed_tail or inflate.unused_data:  # more, or more members
        return None
    return raw if inflate.eof else data


class ProfileParser:
    def __init__(
        self, limits: ParseLimits | None = None, workers: int = 0, inline_bytes: int = INLINE_BYTES
    ) -> None:
        """`workers=0`: everything inline (tests, the CLI); the operator runs with a pool."""
        self.limits = limits or ParseLimits()
        self.workers = workers
        self.inline_bytes = inline_bytes
        self._pool: ProcessPoolExecutor | None = None

    async def parse(self, data: bytes, turn: AbstractAsyncContextManager[None] | None = None) -> Profile:
        """`turn`: held while a worker parses (the caller's fair share of the workers), so one
        tenant's queue of big profiles cannot stand between another tenant and the pool."""
        if self.workers == 0:
            return self.limits.load(data)
        small = inflated_within(data, self.inline_bytes)
        if small is not None:
            return self.limits.load(small)
        async with turn or nullcontext():
            return await self._in_worker(data)

    async def _in_worker(self, data: bytes) -> Profile:
        try:
            result = await asyncio.get_running_loop().run_in_executor(
                self._executor(), _parse_in_worker, data, self.limits
            )
        except BrokenProcessPool:
            self.close()  # a worker died (out of memory despite the caps?): start a fresh pool
            raise ProfileTooLargeError(
                f"the parser worker died on a {len(data)}-byte profile (over its memory cap)"
            ) from None
        except Exception as exc:  # a bug in the hand-off (a result that does not pickle, ...)
            # costs this target's sample, never the whole pass of every target of the policy
            log.exception("parsing a %d-byte profile in a worker failed", len(data))
            raise ProfileError(
                f"the profile could not be parsed in a worker ({type(exc).__name__})"
            ) from None
        if isinstance(result, _Failed):
            raise ProfileTooLargeError(result.message) if result.too_large else ProfileError(result.message)
        return result

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: the operator has threads (kopf, the resolver), and a forked copy of
            # a multi-threaded process can deadlock on a lock some thread held.
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(WORKER_MEMORY,),
                max_tasks_per_child=WORKER_TASKS,
            )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
