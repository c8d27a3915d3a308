"""Parse section: `leakpatrol.profiles.load` in-process against `go tool pprof -traces FILE`.

Profiles come from tests/programs/profilegen's `-gen N -stacks M` mode and are cached under
.build/bench/. Our time is the median of in-process repeats; pprof's is the median of whole
runs of the binary (its start-up included: that is what a Go-side tool would pay).
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import gobuild  # noqa: E402  (tests/gobuild.py: builds the Go test programs offline)
from leakpatrol.profiles import load  # noqa: E402

BENCH = gobuild.BUILD / "bench"
CASES = [(10_000, 20), (100_000, 4096)]  # (goroutines, distinct stacks)
FILES = [("debug=0", "goroutine.pb.gz"), ("debug=1", "goroutine.txt")]


def profiles(goroutines: int, stacks: int) -> Path:
    out = BENCH / f"{goroutines}-{stacks}"
    if not all((out / name).exists() for _, name in FILES):
        binary = gobuild.build("profilegen")
        args = [str(binary), "-gen", str(goroutines), "-stacks", str(stacks), "-out", str(out)]
        subprocess.run(args, check=True, timeout=300)
    return out


def pprof_binary() -> Path:
    """The pprof tool binary itself, so timing skips the `go` launcher."""
    go, env = str(gobuild.go_binary()), gobuild.go_env()
    # `go tool pprof -h` builds and caches the tool (it exits non-zero: -h is usage).
    subprocess.run([go, "tool", "pprof", "-h"], env=env, capture_output=True, timeout=600, check=False)
    found = subprocess.run([go, "tool", "-n", "pprof"], env=env, capture_output=True, text=True, check=True)
    return Path(found.stdout.strip())


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_pair(data: bytes, pprof: Path, file: Path, repeats: int) -> tuple[list[float], list[float]]:
    """Medians of (wall, CPU) for load(data) and for a whole `pprof -traces file` run,
    interleaved so both see the same machine load. CPU time is reported too: on a shared,
    busy box wall time mostly measures the neighbours."""
    ours: list[tuple[float, float]] = []
    theirs: list[tuple[float, float]] = []
    for _ in range(repeats):
        for _ in range(3):
            start, cpu = time.perf_counter(), time.process_time()
            profile = load(data)  # held: freeing it is the caller's cost, later, not parsing's
            ours.append((time.perf_counter() - start, time.process_time() - cpu))
            del profile
        start, cpu = time.perf_counter(), _children_cpu()
        args = [str(pprof), "-traces", str(file)]
        done = subprocess.run(args, capture_output=True, timeout=120, check=False)
        theirs.append((time.perf_counter() - start, _children_cpu() - cpu))
        if done.returncode != 0:
            return _medians(ours), []
    return _medians(ours), _medians(theirs)


def _medians(pairs: list[tuple[float, float]]) -> list[float]:
    return [statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)]


def run() -> None:
    pprof = pprof_binary()
    print("\n## parse: leakpatrol.profiles.load vs `pprof -traces` (medians, ms)\n")
    print(
        f"{'profile':<20}{'format':<9}{'size':>10}{'groups':>8}"
        f"{'load wall':>11}{'pprof wall':>12}{'ratio':>7}{'load cpu':>10}{'pprof cpu':>11}{'ratio':>7}"
    )
    for goroutines, stacks in CASES:
        out = profiles(goroutines, stacks)
        for fmt, name in FILES:
            data = (out / name).read_bytes()
            ours, theirs = time_pair(data, pprof, out / name, 9)
            row = f"{goroutines // 1000}k / {stacks} stacks"
            groups = len(load(data).groups)
            cells = "".join(
                f"{ours[i] * 1e3:>{w1}.1f}{_ms(theirs[i] if theirs else None):>{w2}}"
                f"{_ratio(ours[i], theirs[i] if theirs else None):>7}"
                for i, (w1, w2) in enumerate([(11, 12), (10, 11)])
            )
            print(f"{row:<20}{fmt:<9}{len(data) / 1024:>8.0f}KB{groups:>8}{cells}")
    print("\nratio = load() / pprof -traces on the same file (pprof reads debug=1 text too);")
    print("pprof's numbers are whole runs of the binary, start-up included")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1e3:.1f}"


def _ratio(ours: float, theirs: float | None) -> str:
    return "n/a" if not theirs else f"{ours / theirs:.2f}x"
