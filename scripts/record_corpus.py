"""Record tests/corpus: real profiles of the `scenarios` Go program (tests/programs/scenarios).

Each scenario runs time-dilated (`-minute 1s`) on a free loopback port; 120 samples are taken
one real second apart and stamped 60 s apart from a fixed epoch, so a series reads as two hours
of one-a-minute samples. Two or three scenarios run at a time (the machine has two cores).

    .venv/bin/python scripts/record_corpus.py                  # everything (~10 minutes)
    .venv/bin/python scripts/record_corpus.py --only step-leak heap-leak
    .venv/bin/python scripts/record_corpus.py --summary        # just print the recorded shapes
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "operator"))

import gobuild  # noqa: E402
from leakpatrol.record import fetch_final_goroutineleak, record_series  # noqa: E402

CORPUS = ROOT / "tests" / "corpus"
STAMP_START = 1_800_000_000
STAMP_STEP = 60  # one real second stands for one program minute
MINUTE = "1s"
SEED = "1"


@dataclass(frozen=True)
class Series:
    name: str  # directory under tests/corpus
    scenario: str
    text: bool = False  # goroutine?debug=1 only, instead of debug=0 + heap
    goroutineleak: bool = False  # also fetch final.goroutineleak.txt at the end
    heap: bool = True  # goroutine-only shapes skip heap profiles: they are the bulk of the bytes


SERIES = [
    Series("transport-per-request", "transport-per-request"),
    Series("body-not-closed", "body-not-closed"),
    Series("chan-send-after-timeout", "chan-send-after-timeout", goroutineleak=True),
    Series("slow-leak-noisy", "slow-leak-noisy"),
    Series("step-leak", "step-leak", goroutineleak=True),
    Series("heap-leak", "heap-leak"),
    Series("steady-pool", "steady-pool"),
    Series("warmup-fill", "warmup-fill"),
    Series("load-ramp", "load-ramp"),
    Series("batch-sawtooth", "batch-sawtooth"),
    Series("periodic-load", "periodic-load"),
    Series("heap-sawtooth", "heap-sawtooth"),
    Series("transport-per-request-text", "transport-per-request", text=True),
    # Load that is not net/http, hung calls, a leak inside the request root (issue 8).
    Series("dispatcher-ramp", "dispatcher-ramp", heap=False),
    Series("queue-consumer-ramp", "queue-consumer-ramp", heap=False),
    Series("stuck-handler-ramp", "stuck-handler-ramp", heap=False, goroutineleak=True),
    Series("client-no-timeout", "client-no-timeout", heap=False, goroutineleak=True),
]


async def record_one(binary: Path, series: Series, samples: int, logs: Path) -> None:
    dest = CORPUS / series.name
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    log_path = logs / f"{series.name}.log"
    spawned = time.monotonic()
    with log_path.open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            str(binary),
            *("-scenario", series.scenario, "-listen", "127.0.0.1:0", "-minute", MINUTE, "-seed", SEED),
            stdout=asyncio.subprocess.PIPE,
            stderr=log_file,
        )
    try:
        base_url = await wait_ready(proc)
        started = time.monotonic()
        # The program started a little before the first sample: stamp that, dilated.
        pod_start = STAMP_START - round((started - spawned) * STAMP_STEP)
        kinds = ("goroutine",) if series.text or not series.heap else ("goroutine", "heap")
        await record_series(
            base_url,
            dest,
            interval=1.0,
            count=samples,
            kinds=kinds,
            text=series.text,
            stamp_start=STAMP_START,
            stamp_step=STAMP_STEP,
        )
        if series.goroutineleak and await fetch_final_goroutineleak(base_url, dest) is None:
            print(f"{series.name}: no goroutineleak profile (404)")
        (dest / "pod.json").write_text(json.dumps({"pod_start": pod_start, "container_restarts": 0}) + "\n")
        print(f"{series.name}: {samples} samples in {time.monotonic() - started:.0f}s", flush=True)
    except BaseException:
        print(f"{series.name}: FAILED; program log tail:\n{log_path.read_text()[-2000:]}", file=sys.stderr)
        raise
    finally:
        await stop(proc)


async def wait_ready(proc: asyncio.subprocess.Process) -> str:
    """Read "listening on HOST:PORT" from the program, then wait for /healthz."""
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode().strip()
    if not line.startswith("listening on "):
        raise RuntimeError(f"unexpected first line from scenarios: {line!r}")
    base_url = "http://" + line.removeprefix("listening on ")
    async with httpx.AsyncClient(timeout=2, trust_env=False) as client:
        for _ in range(50):
            try:
                if (await client.get(f"{base_url}/healthz")).status_code == 200:
                    return base_url
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{base_url}/healthz never answered")


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            proc.kill()
            await proc.wait()


class Named(Protocol):
    @property
    def name(self) -> str: ...


S = TypeVar("S", bound=Named)


async def record_each(
    program: str,
    series: list[S],
    jobs: int,
    record: Callable[[Path, S, Path], Coroutine[Any, Any, None]],
) -> None:
    """Build `program`, then `record(binary, one series, log dir)` for every series, `jobs` at once
    (this recorder's and record_lib_corpus.py's)."""
    binary = gobuild.build(program)
    gate = asyncio.Semaphore(jobs)
    with tempfile.TemporaryDirectory(prefix=f"record-{program}-") as logs:

        async def gated(s: S) -> None:
            async with gate:
                await record(binary, s, Path(logs))

        async with asyncio.TaskGroup() as tg:
            for s in series:
                tg.create_task(gated(s))


async def record_all(series: list[Series], samples: int, jobs: int) -> None:
    await record_each("scenarios", series, jobs, lambda b, s, logs: record_one(b, s, samples, logs))


# --- a summary of what was recorded, decoded here so this script needs nothing else ------------


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """Top-level (field number, value) pairs of a protobuf message: varints and byte strings."""
    out: list[tuple[int, int | bytes]] = []
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        wire = key & 7
        if wire == 0:
            value, i = _varint(buf, i)
            out.append((key >> 3, value))
        elif wire == 2:
            n, i = _varint(buf, i)
            out.append((key >> 3, buf[i : i + n]))
            i += n
        elif wire in (1, 5):
            i += 8 if wire == 1 else 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return out


def profile_totals(path: Path) -> dict[str, int]:
    """Sum of every sample type of a gzipped profile.proto: {"goroutine": N} or heap's four."""
    fields = _fields(gzip.decompress(path.read_bytes()))
    strings = [v.decode() for f, v in fields if f == 6 and isinstance(v, bytes)]
    types = [
        strings[dict((k, v) for k, v in _fields(v) if isinstance(v, int))[1]]
        for f, v in fields
        if f == 1 and isinstance(v, bytes)
    ]
    totals = dict.fromkeys(types, 0)
    for f, v in fields:
        if f != 2 or not isinstance(v, bytes):
            continue
        values: list[int] = []
        for sf, sv in _fields(v):
            if sf == 2 and isinstance(sv, bytes):  # packed
                j = 0
                while j < len(sv):
                    x, j = _varint(sv, j)
                    values.append(x)
            elif sf == 2 and isinstance(sv, int):
                values.append(sv)
        for t, x in zip(types, values, strict=True):
            totals[t] += x
    return totals


def text_total(path: Path) -> int:
    first = path.read_text().split("\n", 1)[0]  # "goroutine profile: total N"
    return int(first.rsplit(" ", 1)[1])


def summary(series: list[Series]) -> None:
    picks = (0, 10, 30, 60, 90, 119)
    print(f"{'series':28} {'goroutines at min ' + '/'.join(map(str, picks)):44} heap inuse MiB (same)")
    for s in series:
        dest = CORPUS / s.name
        g_files = sorted(dest.glob("*.goroutine.txt" if s.text else "*.goroutine.pb.gz"))
        h_files = sorted(dest.glob("*.heap.pb.gz"))
        if not g_files:
            print(f"{s.name:28} (not recorded)")
            continue
        g = [text_total(p) if s.text else profile_totals(p)["goroutine"] for p in g_files]
        h = [profile_totals(p)["inuse_space"] / (1 << 20) for p in h_files]
        g_pick = "/".join(str(g[i]) for i in picks if i < len(g))
        h_pick = "/".join(f"{h[i]:.0f}" for i in picks if i < len(h))
        print(f"{s.name:28} {g_pick:44} {h_pick}   (n={len(g)}, min {min(g)}, max {max(g)})")


def cli(
    series: list[S],
    record_all: Callable[[list[S], int, int], Coroutine[Any, Any, None]],
    summarize: Callable[[list[S]], None],
) -> None:
    """The recorders' command line (this one and record_lib_corpus.py): which series, how many
    samples, how many at once, or only the summary of what is recorded."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(
        description=sys.modules["__main__"].__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="+", metavar="NAME", help="series to (re)record")
    parser.add_argument("--samples", type=int, default=120)
    parser.add_argument("--jobs", type=int, default=3, help="series recorded at once")
    parser.add_argument("--summary", action="store_true", help="only print the shapes of recorded series")
    args = parser.parse_args()
    chosen = series
    if args.only:
        unknown = set(args.only) - {s.name for s in series}
        if unknown:
            parser.error(f"unknown series: {sorted(unknown)}")
        chosen = [s for s in series if s.name in args.only]
    if not args.summary:
        asyncio.run(record_all(chosen, args.samples, args.jobs))
    summarize(chosen)


def main() -> None:
    cli(SERIES, record_all, summary)


if __name__ == "__main__":
    main()
