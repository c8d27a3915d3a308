"""Record tests/corpus-lib: real profiles of the `libscenarios` Go program (tests/programs/libscenarios),
services built on grpc-go, database/sql with lib/pq + PostgreSQL and go-sql-driver/mysql + MariaDB,
and x/sync/errgroup (Debian's packages, GOPATH mode).

Each series starts the database servers it needs (tests/dbservers.py: real PostgreSQL / MariaDB,
non-root, loopback, throw-away data directory), runs the scenario time-dilated (`-minute 1s`),
takes 120 samples one real second apart stamped 60 s apart, and stops everything.

    .venv/bin/python scripts/record_lib_corpus.py                   # everything (~10 minutes)
    .venv/bin/python scripts/record_lib_corpus.py --only sql-tx-open
    .venv/bin/python scripts/record_lib_corpus.py --summary
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "operator"))
sys.path.insert(0, str(ROOT / "scripts"))

import record_corpus  # noqa: E402

import dbservers  # noqa: E402
from leakpatrol.record import fetch_final_goroutineleak, record_series  # noqa: E402

CORPUS = ROOT / "tests" / "corpus-lib"


@dataclass(frozen=True)
class Series:
    name: str
    scenario: str
    db: str = ""  # "postgres" or "mysql"
    heap: bool = True
    goroutineleak: bool = False


SERIES = [
    Series("sql-pool-warmup-pq", "sql-pool-warmup", "postgres", heap=False),
    Series("sql-pool-warmup-mysql", "sql-pool-warmup", "mysql", heap=False),
    Series("lru-cache-plateau", "lru-cache-plateau", "postgres"),
    Series("grpc-streaming-load", "grpc-streaming-load", heap=False),
    Series("errgroup-fanout", "errgroup-fanout", heap=False),
    Series("grpc-client-stream-open", "grpc-client-stream-open", heap=False, goroutineleak=True),
    Series("sql-tx-open", "sql-tx-open", "postgres", heap=False, goroutineleak=True),
    Series("sql-rows-not-closed", "sql-rows-not-closed", "mysql", heap=False, goroutineleak=True),
    Series("grpc-handler-stuck-share", "grpc-handler-stuck-share", heap=False, goroutineleak=True),
    Series("ctx-never-cancelled-heap", "ctx-never-cancelled-heap"),
    Series("ttl-cache-zipf", "ttl-cache-zipf", "postgres"),
    Series("heap-leak-diurnal", "heap-leak-diurnal"),
]


def _db_server(kind: str) -> contextlib.AbstractContextManager[str]:
    if kind == "postgres":
        return dbservers.postgres(max_connections=400)
    if kind == "mysql":
        return dbservers.mariadb(max_connections=400)
    return contextlib.nullcontext("")


async def record_one(binary: Path, series: Series, samples: int, logs: Path) -> None:
    dest = CORPUS / series.name
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    log_path = logs / f"{series.name}.log"
    with _db_server(series.db) as dsn:
        args = ["-scenario", series.scenario, "-listen", "127.0.0.1:0", "-minute", record_corpus.MINUTE]
        args += ["-seed", record_corpus.SEED]
        if series.db:
            args += ["-driver", series.db, "-pg" if series.db == "postgres" else "-mysql", dsn]
        spawned = time.monotonic()
        with log_path.open("wb") as log_file:
            proc = await asyncio.create_subprocess_exec(
                str(binary), *args, stdout=asyncio.subprocess.PIPE, stderr=log_file
            )
        try:
            base_url = await record_corpus.wait_ready(proc)
            started = time.monotonic()
            pod_start = record_corpus.STAMP_START - round((started - spawned) * record_corpus.STAMP_STEP)
            await record_series(
                base_url,
                dest,
                interval=1.0,
                count=samples,
                kinds=("goroutine", "heap") if series.heap else ("goroutine",),
                stamp_start=record_corpus.STAMP_START,
                stamp_step=record_corpus.STAMP_STEP,
            )
            if series.goroutineleak and await fetch_final_goroutineleak(base_url, dest) is None:
                print(f"{series.name}: no goroutineleak profile (404)")
            (dest / "pod.json").write_text(
                json.dumps({"pod_start": pod_start, "container_restarts": 0}) + "\n"
            )
            print(f"{series.name}: {samples} samples in {time.monotonic() - started:.0f}s", flush=True)
        except BaseException:
            print(f"{series.name}: FAILED; log tail:\n{log_path.read_text()[-2000:]}", file=sys.stderr)
            raise
        finally:
            await record_corpus.stop(proc)
    tail = log_path.read_text().splitlines()[-3:]
    if tail:
        print(f"{series.name}: log tail: {tail}")


async def record_all(series: list[Series], samples: int, jobs: int) -> None:
    await record_corpus.record_each(
        "libscenarios", series, jobs, lambda b, s, logs: record_one(b, s, samples, logs)
    )


def summarize(series: list[Series]) -> None:
    record_corpus.CORPUS = CORPUS
    record_corpus.summary([record_corpus.Series(s.name, s.scenario) for s in series])


def main() -> None:
    record_corpus.cli(SERIES, record_all, summarize)


if __name__ == "__main__":
    main()
