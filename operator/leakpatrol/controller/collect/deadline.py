"""`until_deadline`: run a pass's fetches together, and cut what has not finished by its deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def until_deadline(
    coros: list[Coroutine[Any, Any, T]], deadline: float
) -> tuple[list[T | None], list[bool]]:
    """Each coroutine's result (None if cut) and whether it was cut. At the deadline, or when the
    caller itself is cancelled (a daemon stopping), every unfinished one is cancelled and awaited:
    none outlives the pass, and each gives back what it holds (fetch slots, byte budget)."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    late: set[asyncio.Future[T]] = set()
    try:
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=deadline)
    finally:
        unfinished = [task for task in tasks if not task.done()]
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
    cut = [task in late for task in tasks]
    return [None if c else task.result() for task, c in zip(tasks, cut, strict=True)], cut
