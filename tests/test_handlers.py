"""The kopf layer maps the error root once: Temporary -> back off (honouring Retry-After),
Permanent -> Ready=False with the error's reason and no retry storm, anything else -> a bug,
reported as InternalError without its text, logged with its traceback, counted, and survived."""

from __future__ import annotations

import logging

import pytest
from fakecluster import POLICY, Clock, FakeCluster, running_pod, spec

from leakpatrol import metrics
from leakpatrol.controller.capacity import SharedCapacity
from leakpatrol.controller.scanner import PolicyScanner
from leakpatrol.kube import errors
from leakpatrol.runtime import failures
from leakpatrol.runtime.handlers import scan_loop


async def run_passes(cluster: FakeCluster, passes: int) -> list[float]:
    """Run the daemon's loop for `passes` passes; the delays it chose between them."""
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)

    scanner = PolicyScanner(cluster, POLICY, SharedCapacity(), Clock())  # a pass takes no time
    await scan_loop(scanner, cluster.body(spec()), lambda: len(delays) >= passes, sleep)
    return delays


async def test_forbidden_is_ready_false_with_its_reason_and_no_retry_storm() -> None:
    cluster = FakeCluster([running_pod("web-1")])
    forbidden = errors.Forbidden(403, "Forbidden", 'pods is forbidden: cannot list resource "pods"')
    cluster.fail_next("list_pods", forbidden, forbidden, forbidden)
    delays = await run_passes(cluster, 3)
    assert delays == [failures.PERMANENT_RETRY] * 3  # never the 5 s of a temporary failure
    ready = cluster.condition("Ready")
    assert (ready["status"], ready["reason"]) == ("False", "Forbidden") and "cannot list" in ready["message"]
    assert cluster.reasons() == ["Forbidden"]  # one Event, not one per pass


async def test_retry_after_is_honoured() -> None:
    cluster = FakeCluster([running_pod("web-1")])
    cluster.fail_next(
        "list_pods", errors.api_error(503, "ServiceUnavailable", "etcd is busy", retry_after=7.0)
    )
    delays = await run_passes(cluster, 2)
    assert delays[0] >= 7.0 and delays[1] == 60.0  # then the next pass succeeds at the interval
    assert cluster.reasons() == ["ScanFailed"] and cluster.condition("Ready")["status"] == "True"


async def test_temporary_failures_back_off_exponentially() -> None:
    cluster = FakeCluster([running_pod("web-1")])
    cluster.fail_next("patch_status", *[errors.ServerError(500, "InternalError", "etcd")] * 3)
    assert await run_passes(cluster, 4) == [5.0, 10.0, 20.0, 60.0]
    assert cluster.reasons() == ["ScanFailed"]  # one Event per run of failures


async def test_a_bug_is_an_internal_error_without_its_text(caplog: pytest.LogCaptureFixture) -> None:
    cluster = FakeCluster([running_pod("web-1")])
    cluster.fail_next("list_pods", ValueError("secret detail 0xdeadbeef"))
    counter = metrics.INTERNAL_ERRORS.labels(POLICY.namespace, POLICY.name)
    before = counter._value.get()
    with caplog.at_level(logging.ERROR, logger="leakpatrol.runtime.handlers"):
        delays = await run_passes(cluster, 2)
    event = cluster.events[0]
    assert (event.type, event.reason) == ("Warning", "InternalError")
    assert "operator log" in event.message and "0xdeadbeef" not in event.message
    assert "Traceback" not in event.message and "ValueError" in event.message
    assert any(r.exc_info and "0xdeadbeef" in str(r.exc_info[1]) for r in caplog.records)
    assert counter._value.get() == before + 1
    assert delays == [failures.FIRST_BACKOFF, 60.0]  # the daemon went on: the next pass scanned
    assert cluster.condition("Ready")["reason"] == "Scanned"


def test_classify_is_total() -> None:
    assert failures.classify(errors.NotFound(404, "NotFound", "x"), 1).kind is failures.FailureKind.PERMANENT
    assert failures.classify(errors.Conflict(409, "Conflict", "x"), 9).delay == failures.MAX_BACKOFF
    assert failures.classify(RuntimeError("x"), 1).kind is failures.FailureKind.INTERNAL


async def test_every_pass_feeds_the_liveness_clock_failed_ones_too() -> None:
    """A failed pass still finished (the loop is not stuck); a late one is noted, never a failure."""
    from leakpatrol.runtime.health import Health  # noqa: PLC0415

    cluster = FakeCluster([running_pod("web-1")])
    cluster.fail_next("list_pods", errors.ServerError(500, "InternalError", "etcd"))
    health, now = Health(started=0.0, stall_after=1e9, slack=3, grace=0), [0.0]
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)
        now[0] += delay

    scanner = PolicyScanner(cluster, POLICY, SharedCapacity(), Clock())  # a pass takes no time
    await scan_loop(
        scanner,
        cluster.body(spec()),
        lambda: len(delays) >= 2,
        sleep,
        lambda delay: health.pass_done("shop/web", delay, now[0]),
    )
    assert delays == [5.0, 60.0]
    # The second pass ended at t=5 (after the failed one's 5 s back-off) and announced 60 s: due by
    # 5 + 3 x 60, and one second past that it is overdue.
    assert health.due == {"shop/web": 185.0}
    assert health.live(185.0).notes == () and health.live(186.0).notes != ()
    assert health.live(186.0).ok  # the tenant's overdue pass is said on its policy, not here
    counted = metrics.SCAN_FAILURES.labels(POLICY.namespace, POLICY.name, "Temporary", "ScanFailed")
    assert counted._value.get() >= 1


async def test_a_deleted_policy_takes_its_checkpoint_and_evidence_with_it() -> None:
    """The delete handler deletes the evidence of a policy whose remediation ran (its status says
    so), and a policy that never remediated is never asked about (it may not even be listable)."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from leakpatrol.controller.ports import EvidenceCapture  # noqa: PLC0415
    from leakpatrol.runtime import handlers  # noqa: PLC0415

    cluster = FakeCluster([running_pod("web-1")])
    cluster.checkpoint = b"series"
    other = POLICY.__class__(POLICY.api_version, POLICY.kind, "other", "other-uid", POLICY.namespace)
    for owner in (POLICY, other):
        at = datetime(2030, 1, 1, tzinfo=UTC)
        capture = EvidenceCapture(owner, POLICY, f"web-of-{owner.name}", at, {"g": b"x"})
        await cluster.save_evidence(capture, keep=5)
    handlers.RUNTIME.cluster = cluster
    try:
        body = cluster.body(spec())
        await handlers.policy_deleted(body=body)  # no remediation asked for, nor in the status
        assert cluster.checkpoint is None and len(cluster.evidence) == 2
        body["spec"]["remediation"] = {"action": "RolloutRestart"}  # a pass may be saving some now
        await handlers.policy_deleted(body=body)
        assert [c.policy.name for c in cluster.evidence.values()] == ["other"]  # another policy's stay
    finally:
        handlers.RUNTIME.cluster = None
