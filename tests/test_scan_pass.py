"""Whole scan passes against the in-memory `FakeCluster`: selection, every fetch failure class,
conditions, Events, checkpoints and spec edits, in milliseconds. Real parsers, real evaluator, real
Go profiles; only the cluster is in memory (the sandbox tests run the same code for real)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fakecluster import POLICY, Clock, FakeCluster, golden_server, running_pod, spec

from leakpatrol import metrics
from leakpatrol.controller.capacity import SharedCapacity
from leakpatrol.controller.pacing import Pacing
from leakpatrol.controller.ports import FetchOptions, ScanTarget
from leakpatrol.controller.scanner import PolicyScanner
from leakpatrol.detect import checkpoint
from leakpatrol.detect.config import DetectionConfig
from leakpatrol.diagnose.rules import RuleSet
from leakpatrol.inflight import Share
from leakpatrol.kube import errors
from leakpatrol.profiles.parser import ParseLimits, ProfileParser

CORPUS = Path(__file__).parent / "corpus" / "transport-per-request"
FIRST_STAMP = 1800000000  # the corpus' first sample; its pod started 20 s before
CORPUS_POD_START = "2027-01-15T07:59:40Z"


def scanner(cluster: FakeCluster, clock: Clock | None = None) -> PolicyScanner:
    return PolicyScanner(cluster, POLICY, SharedCapacity(), clock or Clock())


async def test_a_pass_scans_ready_pods_and_reports_them() -> None:
    unready = running_pod("web-2")
    unready["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    cluster = FakeCluster([running_pod("web-1"), unready])
    delay = await scanner(cluster).scan(cluster.body(spec()))
    assert delay == 60.0  # interval, jitter 0%
    assert cluster.fetches == [
        ("web-1", "/debug/pprof/goroutine?debug=0"),
        ("web-1", "/debug/pprof/goroutineleak?debug=0"),
    ]
    assert cluster.status["targets"] == {"selected": 1, "scanned": 1, "failing": 0}
    assert cluster.condition("Ready")["reason"] == "Scanned"
    assert cluster.condition("Degraded")["status"] == "False"  # the goroutineleak 404 is Auto: quiet
    assert cluster.events == [] and cluster.checkpoint_saves == 1


def failing_server(target: ScanTarget, path: str) -> bytes:
    url = f"http://{target.name}:6060{path}"
    failures: dict[str, Exception] = {
        "notexposed": errors.PprofNotExposed(url, "HTTP 404"),
        "auth": errors.Unauthorized(url, "HTTP 403"),
        "huge": errors.TooLarge(url, "over the cap"),
        "slow": errors.FetchTimeout(url, "not complete within 5s"),
        "broken": errors.UpstreamError(url, "HTTP 500"),
        "gone": errors.PodGone(url, "the pod is gone"),
    }
    if target.name in failures:
        raise failures[target.name]
    if target.name == "garbage":
        return b"<html>login</html>"
    return b""  # never reached by these tests


async def test_each_failure_class_is_its_own_reason_and_backs_off() -> None:
    names = ["notexposed", "auth", "huge", "slow", "broken", "gone", "garbage"]
    cluster, clock = FakeCluster([running_pod(n) for n in names], failing_server), Clock()
    scan = scanner(cluster, clock)
    await scan.scan(cluster.body(spec()))
    expected = {
        "notexposed": "PprofNotExposed",
        "auth": "PprofUnauthorized",
        "huge": "ProfileTooLarge",
        "slow": "ScrapeTimeout",
        "broken": "ScrapeFailed",
        "garbage": "MalformedProfile",
    }
    by_pod = {e.about.name: e.reason for e in cluster.events if e.about.kind == "Pod"}
    assert by_pod == expected  # a pod deleted mid-pass is not a failing target
    assert cluster.status["targets"] == {"selected": 7, "scanned": 0, "failing": 6}
    degraded = cluster.condition("Degraded")
    assert degraded["status"] == "True" and degraded["reason"] == "TargetsFailing"
    # The failing targets are backed off (next pass, same time: nothing fetched but the gone pod)...
    cluster.fetches.clear()
    await scan.scan(cluster.body(spec()))
    assert {name for name, _ in cluster.fetches} == {"gone"}
    # ...and a target that keeps failing posts no second Event.
    assert len(cluster.reasons("Pod")) == 6


async def test_a_policy_whose_targets_all_fail_is_not_ready_at_every_pass_and_back_when_one_answers() -> None:
    cluster, clock = FakeCluster([running_pod("notexposed"), running_pod("auth")], failing_server), Clock()
    scan = scanner(cluster, clock)
    for _ in range(3):  # the first pass, and the passes that only repeat the backed-off failures
        await scan.scan(cluster.body(spec()))
        ready, leak = cluster.condition("Ready"), cluster.condition("LeakDetected")
        assert (ready["status"], ready["reason"]) == ("False", "NoTargetsScanned")
        assert "(1 PprofNotExposed, 1 PprofUnauthorized)" in ready["message"]
        assert (leak["status"], leak["reason"]) == ("Unknown", "NoTargetsScanned")
        clock.now += 60
    cluster.server = golden_server  # the pods are fixed; their backoff runs out
    clock.now += 16 * 60
    await scan.scan(cluster.body(spec()))
    assert (cluster.condition("Ready")["status"], cluster.condition("Ready")["reason"]) == ("True", "Scanned")


async def test_a_selector_matching_nothing_says_so() -> None:
    cluster = FakeCluster([])
    await scanner(cluster).scan(cluster.body(spec()))
    ready = cluster.condition("Ready")
    assert (ready["status"], ready["reason"]) == ("False", "NoTargets")
    assert ready["message"] == (
        "no Running and Ready pod in namespace shop with labels app=web matches spec.selector:"
        " nothing is scanned"
    )
    assert cluster.condition("Degraded")["reason"] == "NoTargets"


def corpus_server(clock: Clock) -> FakeCluster:
    def serve(target: ScanTarget, path: str) -> bytes:
        if "goroutineleak" in path:
            raise errors.PprofNotExposed(path, "HTTP 404")
        return (CORPUS / f"{int(clock.now)}.goroutine.pb.gz").read_bytes()

    return FakeCluster([running_pod("client-1", started=CORPUS_POD_START, owner="client-5f6b")], serve)


async def test_a_recorded_leak_is_confirmed_with_events_and_survives_a_restart() -> None:
    clock = Clock(FIRST_STAMP)
    cluster = corpus_server(clock)
    scan = scanner(cluster, clock)
    for _ in range(30):
        await scan.scan(cluster.body(spec()))
        if cluster.status.get("leaking"):
            break
        clock.now += 60
    assert cluster.condition("LeakDetected")["status"] == "True"
    finding = cluster.status["findings"][0]
    assert finding["ruleId"] == "http-transport-per-request" and finding["workload"]["name"] == "client"
    detected = {(e.about.kind, e.reason) for e in cluster.events}
    assert {
        ("LeakPolicy", "LeakDetected"),
        ("Deployment", "LeakDetected"),
        ("Pod", "LeakDetected"),
    } <= detected
    # A new operator process resumes the series from the checkpoint: still confirmed next pass.
    samples = len(scan.evaluators["client-1-uid"].goroutines.tracker)
    clock.now += 60
    resumed = scanner(cluster, clock)
    await resumed.scan(cluster.body(spec()))
    assert len(resumed.evaluators["client-1-uid"].goroutines.tracker) == samples + 1 and samples >= 4
    assert cluster.condition("LeakDetected")["status"] == "True"
    assert [e.reason for e in cluster.events].count("LeakResolved") == 0


async def five_passes_of_the_recorded_leak() -> tuple[FakeCluster, Clock, PolicyScanner]:
    clock = Clock(FIRST_STAMP)
    cluster = corpus_server(clock)
    scan = scanner(cluster, clock)
    for _ in range(5):
        await scan.scan(cluster.body(spec()))
        clock.now += 60
    return cluster, clock, scan


async def test_a_spec_edit_keeps_the_series_and_applies_the_new_thresholds() -> None:
    cluster, _, scan = await five_passes_of_the_recorded_leak()
    evaluator = scan.evaluators["client-1-uid"]
    await scan.scan(cluster.body(spec(minSamples=40, window="3h"), generation=2))
    assert scan.evaluators["client-1-uid"] is evaluator  # reconfigured in place, not rebuilt
    assert len(evaluator.goroutines.tracker) == 6 and evaluator.config.min_samples == 40


async def test_an_invalid_spec_is_ready_false_naming_the_field_once_per_generation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="leakpatrol.controller.report.reporter")
    cluster = FakeCluster([running_pod("web-1")])
    scan = scanner(cluster)
    bad = spec(warmup="3h")  # longer than the 2h window
    assert await scan.scan(cluster.body(bad)) == 60.0
    await scan.scan(cluster.body(bad))
    ready = cluster.condition("Ready")
    assert ready["status"] == "False" and ready["reason"] == "InvalidSpec"
    assert "spec.detection.warmup" in ready["message"]
    assert cluster.reasons() == ["InvalidSpec"] and cluster.fetches == []
    await scan.scan(cluster.body(bad, generation=2))
    assert cluster.reasons() == ["InvalidSpec", "InvalidSpec"]
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(logged) == 2 and all(m.startswith("policy shop/demo: InvalidSpec (generation") for m in logged)
    assert "spec.detection.warmup" in logged[0]


async def test_checkpoints_are_written_on_a_cadence_not_every_pass() -> None:
    cluster, clock = FakeCluster([running_pod("web-1")]), Clock()
    scan = scanner(cluster, clock)
    for _ in range(6):  # six passes within one minute: the first and the fifth after it write
        await scan.scan(cluster.body(spec()))
        clock.now += 5
    assert cluster.checkpoint_saves == 2
    clock.now += 60  # a minute since the last write: due again
    await scan.scan(cluster.body(spec()))
    assert cluster.checkpoint_saves == 3


async def test_a_recreated_deployment_is_a_new_object_and_gone_pods_leave_metrics() -> None:
    cluster = FakeCluster([running_pod("web-1"), running_pod("web-2")])
    scan = scanner(cluster)
    await scan.scan(cluster.body(spec()))
    assert [w.uid for w in scan.workloads.refs()] == ["deploy-of-rs-1"] and cluster.owner_lookups == 1
    assert _gauge_pods() == {"web-1", "web-2"}
    # The Deployment is deleted and re-created under the same name: new ReplicaSet, new pods.
    cluster.pods = [running_pod("web-3", owner_uid="rs-2")]
    await scan.scan(cluster.body(spec()))
    assert [w.uid for w in scan.workloads.refs()] == ["deploy-of-rs-2"] and cluster.owner_lookups == 2
    assert _gauge_pods() == {"web-3"}  # the gone pods' series left /metrics


def _gauge_pods() -> set[str]:
    series = [labels for labels in metrics.TARGET_GOROUTINES._metrics if labels[:2] == ("shop", "demo")]
    assert {labels[2] for labels in series} <= {"Deployment/web"}  # the workload, as the leak gauges name it
    return {labels[3] for labels in series}


async def test_a_pod_deleted_while_its_fetch_fails_is_not_a_failing_target() -> None:
    cluster = FakeCluster([running_pod("web-1"), running_pod("web-2")])

    def serve(target: ScanTarget, path: str) -> bytes:
        if target.name == "web-2":  # deleted mid-pass: its port-forward is reset
            cluster.pods = [p for p in cluster.pods if p["metadata"]["name"] != "web-2"]
            raise errors.Unreachable(path, "ConnectionResetError: connection reset by peer")
        return golden_server(target, path)

    cluster.server = serve
    scan = scanner(cluster)
    await scan.scan(cluster.body(spec()))
    assert cluster.status["targets"]["failing"] == 0 and cluster.reasons("Pod") == []
    assert cluster.condition("Degraded")["status"] == "False" and all(
        r.backoff is None for r in scan.targets.by_uid.values()
    )


async def test_each_step_of_a_pass_is_timed_by_name() -> None:
    def observed(step: str) -> float:
        value = metrics.REGISTRY.get_sample_value("leakpatrol_scan_step_seconds_count", {"step": step})
        return value or 0.0

    steps = ("spec", "restore", "select", "fetch", "judge", "fold", "remediate", "report", "save")
    before = {s: observed(s) for s in steps}
    cluster = FakeCluster([running_pod("web-1")])
    await scanner(cluster).scan(cluster.body(spec()))
    assert {s: observed(s) - before[s] for s in steps} == dict.fromkeys(steps, 1.0)


async def test_a_corrupt_checkpoint_is_dropped_with_one_warning_and_the_next_pass_is_fine() -> None:
    cluster, clock, _ = await five_passes_of_the_recorded_leak()
    assert cluster.checkpoint is not None
    states = checkpoint.decode(cluster.checkpoint)
    states["client-1-uid"]["goroutines"]["total"].append(7)  # one element more than its times
    cluster.checkpoint = checkpoint.encode(states)

    resumed = scanner(cluster, clock)  # a new operator process reads it
    for _ in range(3):
        await resumed.scan(cluster.body(spec()))
        clock.now += 60
    assert cluster.reasons("LeakPolicy").count("CheckpointCorrupt") == 1
    warning = next(e for e in cluster.events if e.reason == "CheckpointCorrupt")
    assert warning.type == "Warning" and "goroutines.total" in warning.message
    assert len(resumed.evaluators["client-1-uid"].goroutines.tracker) == 3  # afresh, then on
    assert cluster.condition("Ready")["status"] == "True"
    checkpoint.restore(
        checkpoint.decode(cluster.checkpoint)["client-1-uid"], DetectionConfig(), RuleSet.default()
    )


async def test_passes_that_keep_overrunning_their_interval_say_so_and_never_wait_a_whole_one() -> None:
    clock = Clock()
    cluster = FakeCluster([running_pod("web-1")])

    def slow(target: ScanTarget, path: str) -> bytes:
        clock.now += 70 if "goroutine?" in path else 0  # the goroutine profile: 70 s, interval 60 s
        return golden_server(target, path)

    scan = scanner(cluster, clock)
    cluster.server = slow
    waits = []
    for _ in range(4):
        waits.append(await scan.scan(cluster.body(spec())))
    lag = metrics.REGISTRY.get_sample_value(
        "leakpatrol_scan_lag_seconds", {"namespace": POLICY.namespace or "", "policy": POLICY.name}
    )
    assert lag == 10.0 and waits == [6.0] * 4  # a tenth of the interval: no hot loop
    degraded = cluster.condition("Degraded")
    assert degraded["status"] == "True" and degraded["reason"] == "PassesOverrun"
    assert "passes take 70.0 s, over the 60 s interval, for 3 passes in a row" in degraded["message"]

    cluster.server = golden_server  # it keeps up again: the wait is the interval less the pass
    assert await scan.scan(cluster.body(spec())) == 60.0
    await scan.scan(cluster.body(spec()))
    assert cluster.condition("Degraded")["reason"] == "AllTargetsScanned"


def test_the_wait_is_the_interval_less_the_pass() -> None:
    pacing = Pacing()
    pacing.passed(2.0, 5.0)
    assert pacing.wait(5.0, 0.5) == 3.5 and pacing.lag == 0 and pacing.overrun() is None
    for _ in range(3):
        pacing.passed(7.5, 5.0)
    assert pacing.wait(5.0, 0.0) == 0.5 and pacing.lag == 2.5
    assert pacing.overrun() is not None and pacing.overrun().passes == 3  # type: ignore[union-attr]


async def test_a_scan_fetches_no_more_than_the_parser_may_inflate() -> None:
    """A body over the parser's inflated-size cap can never parse (gzip only grows when inflated):
    the download stops at that cap, not at the 32 MiB fetch cap."""
    asked: list[int] = []

    class Recording(FakeCluster):
        async def fetch(
            self, target: ScanTarget, path: str, options: FetchOptions, share: Share | None = None
        ) -> bytes:
            asked.append(options.max_bytes)
            return await super().fetch(target, path, options, share)

    cluster = Recording([running_pod("web-1")])
    capacity = SharedCapacity(parser=ProfileParser(ParseLimits(max_bytes=3 << 20)))
    await PolicyScanner(cluster, POLICY, capacity, Clock()).scan(cluster.body(spec()))
    assert asked and set(asked) == {3 << 20}
