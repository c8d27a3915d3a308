"""The engine against the library corpus (tests/corpus-lib/README.md): services built on grpc-go,
database/sql with lib/pq + PostgreSQL and go-sql-driver/mysql + MariaDB, and x/sync/errgroup.
As for the stdlib corpus (test_corpus.py): every leak found with the right culprit and rule and
kept once confirmed; healthy shapes never flagged; time to confirm bounded over both corpora."""

from __future__ import annotations

from pathlib import Path
from statistics import median

import pytest
from test_corpus import LEAKS as STDLIB_LEAKS
from test_corpus import (
    MEDIAN_MINUTES,
    MINUTE,
    Leak,
    assert_found,
    evaluations_of,
    minutes_to_confirm,
    replay_series,
    series_start,
)
from test_corpus import _minutes_to_confirm as stdlib_minutes_to_confirm

from leakpatrol.detect.replay import ReplayVerdict
from leakpatrol.detect.signals import Evaluation
from leakpatrol.seriesdir import SeriesDir

pytestmark = pytest.mark.corpus
CORPUS = Path(__file__).parent / "corpus-lib"

LEAKS = {
    # The stream's own watcher goroutine, not select-forever: the library rule wins on its group.
    "grpc-client-stream-open": Leak("goroutines", "grpc-stream-left-open", "grpc.newClientStream", 30),
    # (*Tx).awaitDone piling up, not chan-receive-blocked.
    "sql-tx-open": Leak("goroutines", "sql-tx-left-open", "database/sql.(*Tx).awaitDone", 30),
    # Leaked Rows exhaust the pool; then callers pile up waiting for a connection.
    "sql-rows-not-closed": Leak("goroutines", "sql-rows-not-closed", "database/sql.(*DB).conn"),
    # A share of the stream handlers never return: the same stack as the healthy in-flight ones.
    "grpc-handler-stuck-share": Leak("goroutines", "chan-receive-blocked", "main.(*pricesServer).quote"),
    # Contexts never cancelled, retained by their long-lived parent: heap over several sites.
    "ctx-never-cancelled-heap": Leak("heap", "heap-growth", "main.ctxNeverCancelledHeap"),
}
HEALTHY = [
    "sql-pool-warmup-pq",  # pool growing to MaxOpenConns with traffic, in-flight queries in the driver
    "sql-pool-warmup-mysql",
    "grpc-streaming-load",  # streams in flight following a load curve
    "errgroup-fanout",  # fan-out bursts
]
# Bounded heap: grows while the LRU fills (to minute 56), then flat while it evicts. Suspected at
# most while it rises (the curve of a leak, until it stops), never confirmed, resolved once flat.
PLATEAUS = ["lru-cache-plateau"]


def _replay(name: str) -> tuple[ReplayVerdict, SeriesDir]:
    return replay_series(CORPUS, name, "record_lib_corpus.py")


def _minutes_to_confirm(name: str) -> float:
    return minutes_to_confirm(*_replay(name))


def _evaluations(name: str) -> list[Evaluation]:
    return evaluations_of(CORPUS / name)


@pytest.mark.parametrize("name", sorted(LEAKS))
def test_leak_is_found_with_culprit_and_rule(name: str) -> None:
    assert_found(LEAKS[name], *_replay(name))


@pytest.mark.parametrize("name", sorted(LEAKS))
def test_a_confirmed_leak_stays_confirmed(name: str) -> None:
    evaluations = _evaluations(name)
    first = next(i for i, ev in enumerate(evaluations) if ev.leak)
    lost = [i for i, ev in enumerate(evaluations[first:], first) if not ev.leak]
    assert lost == [], f"confirmed at sample {first}, then not at {lost}"


@pytest.mark.parametrize("name", HEALTHY)
def test_healthy_shape_is_never_flagged(name: str) -> None:
    verdict, _ = _replay(name)
    assert verdict.verdict == "no-leak"
    assert verdict.flagged_at == [], f"flagged at {len(verdict.flagged_at)} evaluations"


@pytest.mark.parametrize("name", PLATEAUS)
def test_a_heap_plateau_is_never_a_confirmed_leak(name: str) -> None:
    """Suspected while it rises, never confirmed at any evaluation, and it ends resolved."""
    series = SeriesDir.open(CORPUS / name)
    start = series_start(series)
    evaluations = _evaluations(name)
    confirmed = [round((ev.time - start) / MINUTE) for ev in evaluations if ev.leak]
    assert confirmed == [], f"confirmed at minutes {confirmed}"
    assert not evaluations[-1].signals


# Issue 24: a median of 20 minutes over both corpora, none over 60 (measured: 19.7; slowest 43,
# the heap leak that must persist a span after it is suspected: detect/persist.py).
MEDIAN_BOTH_MINUTES = 20


def test_median_time_to_confirm_over_both_corpora() -> None:
    minutes = {name: _minutes_to_confirm(name) for name in LEAKS}
    stdlib = {f"stdlib/{name}": stdlib_minutes_to_confirm(name) for name in STDLIB_LEAKS}
    assert median(stdlib.values()) <= MEDIAN_MINUTES, stdlib
    minutes |= stdlib
    assert median(minutes.values()) <= MEDIAN_BOTH_MINUTES, minutes
    assert max(minutes.values()) <= 60, minutes
