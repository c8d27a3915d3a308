"""A container's `resources.limits.memory`, enforced the way a node enforces it.

Where the machine lets us, each container life runs in a memory cgroup of its own with the limit,
and the kernel's OOM killer kills it when it goes over, exactly as on a node:

- **cgroup v2**: a `memory.max` under a cgroup of ours, where the memory controller is enabled for
  the sandbox's own cgroup (`cgroup.controllers` lists `memory`); we make a sibling of our cgroup
  (v2 lets no process sit in a cgroup whose children use controllers), enable `+memory` for its
  children and give each container one. OOM kills are counted in `memory.events` (`oom_kill`).
- **cgroup v1**: a child of our own cgroup in the `memory` hierarchy with `memory.limit_in_bytes`;
  OOM kills are counted in `memory.oom_control` (`oom_kill`, Linux 4.13+).
- **watchdog** everywhere else (no root, no writable hierarchy, not Linux): the sandbox samples the
  container process's resident set every 50 ms and SIGKILLs its process group when it is over
  the limit, then reports the kill as an OOM kill. Coarser than the kernel (a burst between two
  samples goes unseen, page cache is not counted) but the same story for a steady leak.

`detect()` tries them in that order (`KUBESANDBOX_MEMORY=cgroup2|cgroup1|watchdog` forces one;
`off` ignores limits as the sandbox did before) and probes by creating a cgroup and writing a limit;
`Enforcer.mechanism` says which one runs. Every cgroup is removed when its container life ends,
when its pod is deleted, when the sandbox stops, and at interpreter exit; a sandbox that was killed
outright leaves its directory behind, and the next one removes those of dead sandboxes.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import re
import secrets
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# On the node: the mechanism in use. On a pod: "off" runs its containers without their memory limits
# (a test that measures a leak's way up to the limit's value, past where the kernel would kill it).
ANNOTATION = "kubesandbox.test/memory-limits"
CGROUP_V2 = "cgroup v2"
CGROUP_V1 = "cgroup v1"
WATCHDOG = "watchdog"
OFF = "off"
WATCH_INTERVAL = 0.05  # seconds between two looks at a watched process's resident set
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_PREFIX = "kubesandbox-"
_LIVE: set[Path] = set()  # every cgroup directory we made and have not removed yet, deepest last

_SUFFIX = {
    "": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}  # fmt: skip


def parse_bytes(quantity: str | int) -> int:
    """A Kubernetes quantity (`64Mi`, `128M`, `1e9`, `1.5Gi`) in bytes."""
    text = str(quantity).strip()
    m = re.fullmatch(r"([0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)", text)
    if m is None or m.group(2) not in _SUFFIX:
        raise ValueError(f"not a memory quantity: {quantity!r}")
    return int(float(m.group(1)) * _SUFFIX[m.group(2)])


def container_limit(spec: dict[str, object]) -> int | None:
    """The container's `resources.limits.memory` in bytes, or None."""
    resources = spec.get("resources") or {}
    limits = resources.get("limits") if isinstance(resources, dict) else None
    value = limits.get("memory") if isinstance(limits, dict) else None
    return None if value is None else parse_bytes(str(value))


@dataclass
class Cell:
    """One container life under one memory limit."""

    limit: int
    path: Path | None = None  # its cgroup; None under the watchdog
    procs_file: str = ""
    oom_file: str = ""
    oom_key: str = "oom_kill"
    killed: bool = False  # the watchdog killed it
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def preexec(self) -> None:
        """Runs in the child between fork and exec: the process joins its cgroup before it runs."""
        if self.procs_file:
            fd = os.open(self.procs_file, os.O_WRONLY)
            try:
                os.write(fd, str(os.getpid()).encode())
            finally:
                os.close(fd)

    def watch(self, pid: int) -> None:
        """Under the watchdog: start watching the process once it runs."""
        if self.path is None:
            self.task = asyncio.get_running_loop().create_task(self._watch(pid), name=f"memory watch {pid}")

    async def _watch(self, pid: int) -> None:
        while True:
            rss = resident(pid)
            if rss is None:
                return  # gone
            if rss > self.limit:
                self.killed = True
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
                return
            await asyncio.sleep(WATCH_INTERVAL)

    def oom_killed(self) -> bool:
        """Did the OOM killer (or the watchdog, standing in for it) end this life?"""
        if self.path is None:
            return self.killed
        try:
            for line in Path(self.oom_file).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == self.oom_key:
                    return int(value) > 0
        except (OSError, ValueError):
            pass
        return False

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None
        if self.path is not None:
            _remove(self.path)


def resident(pid: int) -> int | None:
    """The process's resident set in bytes; None once it is gone."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return None


class Enforcer:
    """Hands out a `Cell` per container life; `mechanism` names how limits are enforced."""

    mechanism = OFF

    def cell(self, name: str, limit: int) -> Cell | None:
        return None

    def close(self) -> None:
        """Remove what is left (the sandbox stops)."""


class Watchdog(Enforcer):
    mechanism = WATCHDOG

    def cell(self, name: str, limit: int) -> Cell | None:
        return Cell(limit)


class Cgroups(Enforcer):
    """cgroup v1 or v2: `root` is the sandbox's own directory, one child per container life."""

    def __init__(self, mechanism: str, root: Path) -> None:
        self.mechanism, self.root = mechanism, root
        v2 = mechanism == CGROUP_V2
        self.limit_file = "memory.max" if v2 else "memory.limit_in_bytes"
        self.oom_file = "memory.events" if v2 else "memory.oom_control"

    def cell(self, name: str, limit: int) -> Cell | None:
        path = self.root / f"{re.sub(r'[^A-Za-z0-9_.-]', '-', name)[:80]}-{secrets.token_hex(3)}"
        path.mkdir()
        _LIVE.add(path)
        try:
            (path / self.limit_file).write_text(str(limit))
        except OSError:
            _remove(path)
            raise
        return Cell(limit, path, str(path / "cgroup.procs"), str(path / self.oom_file))

    def close(self) -> None:
        for child in [p for p in _LIVE if self.root in p.parents]:
            _remove(child)
        _remove(self.root)


def detect(prefer: str | None = None) -> Enforcer:
    """The best mechanism this machine allows (or `prefer`, or $KUBESANDBOX_MEMORY)."""
    want = prefer or os.environ.get("KUBESANDBOX_MEMORY") or "auto"
    if want == OFF:
        return Enforcer()
    if want in ("auto", "cgroup2"):
        found = _try(_v2_root)
        if found is not None or want == "cgroup2":
            return found or _refuse("cgroup2")
    if want in ("auto", "cgroup1"):
        found = _try(_v1_root)
        if found is not None or want == "cgroup1":
            return found or _refuse("cgroup1")
    return Watchdog()


def _refuse(what: str) -> Enforcer:
    raise RuntimeError(f"KUBESANDBOX_MEMORY={what}: this machine does not let the sandbox use it")


def _try(make_root: Callable[[], tuple[str, Path] | None]) -> Enforcer | None:
    """Make the sandbox's cgroup and check a child takes a limit; None (and nothing left) if not."""
    if not Path("/proc/self/mountinfo").exists():
        return None
    try:
        found = make_root()
        if found is None:
            return None
        mechanism, root = found
        enforcer = Cgroups(mechanism, root)
        probe = enforcer.cell("probe", 64 << 20)
        assert probe is not None
        probe.close()
        return enforcer
    except (OSError, ValueError):
        return None


def _mounts(fstype: str) -> list[tuple[str, Path, set[str]]]:
    """(root within the hierarchy, mount point, super options) of each mount of `fstype`."""
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        parts, rest = left.split(), right.split()
        if len(parts) >= 5 and rest and rest[0] == fstype:
            options = set(rest[2].split(",")) if len(rest) > 2 else set()
            out.append((parts[3], Path(parts[4]), options))
    return out


def _own(controller: str | None) -> str | None:
    """Our cgroup's path in the hierarchy of `controller` (None: the v2 one)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        names = controllers.split(",") if controllers else []
        if (controller is None and not names) or (controller is not None and controller in names):
            return path
    return None


def _where(mount_root: str, mount: Path, own: str) -> Path | None:
    """Our cgroup's directory, if this mount shows it."""
    if not (own == mount_root or own.startswith(mount_root.rstrip("/") + "/")):
        return None
    return mount / own[len(mount_root) :].lstrip("/")


def _v1_root() -> tuple[str, Path] | None:
    own = _own("memory")
    mounts = [(r, m) for r, m, opts in _mounts("cgroup") if "memory" in opts]
    if own is None or not mounts:
        return None
    here = _where(*mounts[0], own)
    if here is None or not (here / "memory.limit_in_bytes").exists():
        return None
    return CGROUP_V1, _make_root(here)


def _v2_root() -> tuple[str, Path] | None:
    own = _own(None)
    mounts = [(r, m) for r, m, _ in _mounts("cgroup2")]
    if own is None or not mounts:
        return None
    here = _where(*mounts[0], own)
    if here is None or "memory" not in (here / "cgroup.controllers").read_text().split():
        return None
    # Our own cgroup holds processes (us), so no child of it may use a controller: a sibling may.
    parent = here.parent if here != mounts[0][1] else here
    root = _make_root(parent)
    try:
        (root / "cgroup.subtree_control").write_text("+memory")
    except OSError:
        _remove(root)
        raise
    return CGROUP_V2, root


def _make_root(parent: Path) -> Path:
    _sweep(parent)
    root = parent / f"{_PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
    root.mkdir()
    _LIVE.add(root)
    return root


def _sweep(parent: Path) -> None:
    """Directories of sandboxes that died without cleaning up (killed outright): remove them."""
    for stale in parent.glob(f"{_PREFIX}*-*"):
        pid = stale.name[len(_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            for child in sorted(stale.glob("*/"), reverse=True):
                _remove(child)
            _remove(stale)


def _remove(path: Path, tries: int = 40) -> None:
    """rmdir a cgroup: a process that was just killed may take a moment to leave it; whatever is
    still inside is killed (a cgroup outlives nothing of ours)."""
    for attempt in range(tries):
        try:
            path.rmdir()
            break
        except FileNotFoundError:
            break
        except OSError:
            if attempt == 0:
                _kill_inside(path)
            time.sleep(0.025)
    _LIVE.discard(path)


def _kill_inside(path: Path) -> None:
    with contextlib.suppress(OSError):
        for pid in (path / "cgroup.procs").read_text().split():
            with contextlib.suppress(ProcessLookupError, PermissionError, ValueError):
                os.kill(int(pid), signal.SIGKILL)


def live() -> set[Path]:
    """The cgroup directories made and not removed yet (for tests)."""
    return set(_LIVE)


def _remove_all() -> None:
    for path in sorted(_LIVE, key=lambda p: len(p.parts), reverse=True):
        _remove(path, tries=10)


atexit.register(_remove_all)
