"""One record per target: what the scanner keeps of a pod between passes, and its backoff."""

from __future__ import annotations

from leakpatrol.controller.collect.records import MAX_BACKOFF_INTERVALS, Backoff, TargetRecords
from leakpatrol.controller.ports import ScanTarget
from leakpatrol.core import Permanent, TargetNotExposed, Temporary
from leakpatrol.detect.evaluator import PodIdentity


class Busy(Temporary):
    reason = "ScrapeTimeout"


def waits(error: Temporary | Permanent, n: int, interval: float = 10.0) -> list[float]:
    b, now, out = Backoff(), 0.0, []
    for _ in range(n):
        b.failed("web-1", error, interval, now)
        out.append(b.until - now)
        now = b.until
    return out


def test_a_temporary_failure_is_retried_after_one_two_four_intervals_up_to_the_cap() -> None:
    assert waits(Busy("timed out"), 7) == [10, 20, 40, 80, 160, 160, 160]
    assert MAX_BACKOFF_INTERVALS == 16


def test_a_permanent_failure_starts_one_step_further_out() -> None:
    assert waits(TargetNotExposed("404 on /debug/pprof/goroutine"), 5) == [20, 40, 80, 160, 160]


def test_retry_after_is_never_cut_short() -> None:
    error = Busy("429 Too Many Requests")
    error.retry_after = 95.0
    assert waits(error, 5) == [95, 95, 95, 95, 160]  # until the doubling overtakes it


def test_the_last_failure_is_said_while_backed_off_and_forgotten_with_the_pod() -> None:
    def target(uid: str) -> ScanTarget:
        return ScanTarget("ns", uid, uid, "10.0.0.1", 6060, PodIdentity(uid, 0.0, 0), None)

    records = TargetRecords()
    last = records.of("a").backoff = Backoff()
    said = last.failed("a", Busy("timed out"), 10.0, now=100.0)
    assert said.reason == "ScrapeTimeout" and said.pod == "a" and "timed out" in said.message
    assert list(records.backed_off(105.0)) == [said] and not records.of("a").due(105.0)
    assert list(records.backed_off(110.0)) == [] and records.of("a").due(110.0)
    records.of("b")
    records.keep_only([target("b")])
    assert set(records.by_uid) == {"b"}
