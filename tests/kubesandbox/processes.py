"""Child processes that can never outlive the sandbox.

Each container runs in its own process group (so a stop kills whatever it forked), with
PR_SET_PDEATHSIG so the kernel kills it if the sandbox's thread dies without cleaning up, and an
atexit hook as the last line of defence for normal interpreter exits.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import os
import signal
from collections.abc import Callable
from pathlib import Path

_LIVE_GROUPS: set[int] = set()
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


async def spawn(
    argv: list[str], env: dict[str, str], log_path: Path, preexec: Callable[[], None] | None = None
) -> asyncio.subprocess.Process:
    """`preexec` runs in the child before exec (e.g. joining the container's memory cgroup)."""
    log = log_path.open("ab")

    def before_exec() -> None:
        _die_with_parent()
        if preexec is not None:
            preexec()

    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # own process group: killpg reaches its children too
            preexec_fn=before_exec,
        )
    finally:
        log.close()
    _LIVE_GROUPS.add(proc.pid)
    return proc


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def stop(proc: asyncio.subprocess.Process, grace: float = 2.0) -> int | None:
    """SIGTERM the group, then SIGKILL after `grace` seconds; always reaps the child."""
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        _signal_group(proc.pid, signal.SIGKILL)
        await proc.wait()
    _signal_group(proc.pid, signal.SIGKILL)  # stragglers the main process left behind
    _LIVE_GROUPS.discard(proc.pid)
    return proc.returncode


def forget(proc: asyncio.subprocess.Process) -> None:
    """The process exited by itself: still kill its group (orphans), then stop tracking it."""
    _signal_group(proc.pid, signal.SIGKILL)
    _LIVE_GROUPS.discard(proc.pid)


def kill_all() -> None:
    for pgid in list(_LIVE_GROUPS):
        _signal_group(pgid, signal.SIGKILL)
        _LIVE_GROUPS.discard(pgid)


def live_groups() -> set[int]:
    return set(_LIVE_GROUPS)


atexit.register(kill_all)
