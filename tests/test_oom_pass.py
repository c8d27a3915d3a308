"""Whole scan passes over a container that leaks until it is OOMKilled, restarts and leaks again
(the recorded transport-per-request leak, replayed from its start in every life), against the
in-memory `FakeCluster`: the kubelet's `lastState` is read, the pod in CrashLoopBackOff keeps its
verdict, lives that each fall short of the window confirm the leak with its culprit and rule, the
finding says it (oomKills, lastOomKill, lives, the Event), and remediation takes no action on a
workload the OOM killer already restarts. `-k oom` selects them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fakecluster import POLICY, Clock, FakeCluster, running_pod, spec

from leakpatrol.controller.collect.targets import resting_targets, select_targets
from leakpatrol.controller.ports import ScanTarget
from leakpatrol.controller.scanner import PolicyScanner, SharedCapacity
from leakpatrol.core import Obj
from leakpatrol.detect import checkpoint
from leakpatrol.kube import errors
from leakpatrol.reasons import Termination

CORPUS = Path(__file__).parent / "corpus" / "transport-per-request"
FIRST_STAMP = 1800000000
LIFE = 40  # minutes (passes) a container lives before the OOM killer ends it
# A window no 40-minute life fills (72 samples needed, 48 for the plainest leak of a quiet
# target): before lives were kept, never a word.
RAW = spec(window="2h", warmup="0s", minSamples=72)


def stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Looping:
    """One pod of Deployment `client` whose container leaks, is OOMKilled every LIFE minutes and
    comes back after a back-off, as a kubelet reports it."""

    def __init__(self, clock: Clock) -> None:
        self.clock, self.started, self.restarts = clock, clock.now, 0
        self.kills: list[float] = []
        self.pod = running_pod("client-1", started=stamp(clock.now - 20), owner="client-5f6b")
        self.cluster = FakeCluster([self.pod], self.serve)
        self.cluster.workload_objs[("Deployment", "client")] = {
            "metadata": {"name": "client", "generation": 1},
            "spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": "client"}}}},
            "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1},
        }

    def serve(self, target: ScanTarget, path: str) -> bytes:
        if "goroutineleak" in path:
            raise errors.PprofNotExposed(path, "HTTP 404")
        index = min(int(self.clock.now - self.started) // 60, 119)
        return (CORPUS / f"{FIRST_STAMP + 60 * index}.goroutine.pb.gz").read_bytes()

    def oom_killed(self) -> None:
        """The container is killed: CrashLoopBackOff, not Ready, the kill in lastState."""
        cs = self.pod["status"]["containerStatuses"][0]
        self.restarts += 1
        self.kills.append(self.clock.now)
        cs.update(
            restartCount=self.restarts,
            ready=False,
            state={"waiting": {"reason": "CrashLoopBackOff"}},
            lastState={
                "terminated": {
                    "reason": "OOMKilled",
                    "exitCode": 137,
                    "startedAt": cs["state"].get("running", {}).get("startedAt", stamp(self.started)),
                    "finishedAt": stamp(self.clock.now),
                }
            },
        )
        self.pod["status"]["conditions"] = [{"type": "Ready", "status": "False"}]

    def back(self) -> None:
        self.started = self.clock.now
        cs = self.pod["status"]["containerStatuses"][0]
        cs.update(ready=True, state={"running": {"startedAt": stamp(self.clock.now - 5)}})
        self.pod["status"]["conditions"] = [{"type": "Ready", "status": "True"}]


async def lives(svc: Looping, scan: PolicyScanner, raw: Obj, n: int, probe: Any = None) -> list[Obj]:
    """`n` lives of LIFE passes, a pass in back-off between two; the status after each pass."""
    seen = []
    for life in range(n):
        if life:
            svc.oom_killed()
            svc.clock.now += 10
            await scan.scan(svc.cluster.body(raw))
            seen.append(svc.cluster.status)
            svc.clock.now += 50
            svc.back()
        for _ in range(LIFE):
            await scan.scan(svc.cluster.body(raw))
            seen.append(svc.cluster.status)
            svc.clock.now += 60
            if probe is not None and probe(svc.cluster.status):
                return seen
    return seen


def finding(status: Obj) -> Obj | None:
    return next(iter(status.get("findings") or []), None)


def test_oom_targets_read_the_kubelets_last_state() -> None:
    pod = running_pod("p")
    pod["status"]["containerStatuses"][0].update(
        restartCount=2,
        lastState={
            "terminated": {
                "reason": "OOMKilled",
                "exitCode": 137,
                "startedAt": "2030-01-01T00:00:00Z",
                "finishedAt": "2030-01-01T00:40:00Z",
            }
        },
    )
    (t,), _ = select_targets([pod], "pprof")
    last = t.identity.last
    assert last is not None and (last.end, last.exit_code) == (Termination.OOM_KILLED, 137)
    assert last.finished_at is not None and last.started_at is not None
    assert last.finished_at - last.started_at == 2400
    # A runtime's own word (not the kubelet's three): the exit code tells Error from Completed.
    pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["reason"] = "ContainerCannotRun"
    (t,), _ = select_targets([pod], "pprof")
    assert t.identity.last is not None and t.identity.last.end is Termination.ERROR
    assert resting_targets([pod], "pprof") == []  # Ready: scanned, not resting


def test_oom_a_pod_in_crash_loop_back_off_is_resting_not_gone() -> None:
    pod = running_pod("p")
    pod["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    starting = running_pod("q")
    starting["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    pod["status"]["containerStatuses"][0].update(
        restartCount=1,
        state={"waiting": {"reason": "CrashLoopBackOff"}},
        lastState={
            "terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": "2030-01-01T00:40:00Z"}
        },
    )
    assert select_targets([pod, starting], "pprof") == ([], [])
    (t,) = resting_targets([pod, starting], "pprof")  # a pod merely starting is neither
    assert t.name == "p" and t.identity.restarts == 1 and t.identity.started_at is None
    assert t.identity.last is not None and t.identity.last.end is Termination.OOM_KILLED


async def test_oom_a_leak_killed_every_40_minutes_is_confirmed_across_lives_and_said() -> None:
    clock = Clock()
    svc = Looping(clock)
    scan = PolicyScanner(svc.cluster, POLICY, SharedCapacity(), clock)
    seen = await lives(svc, scan, RAW, 3, probe=lambda st: (f := finding(st)) and f["state"] == "Confirmed")
    # The first life alone: nothing (no life reaches the window's 60 samples).
    assert all(finding(st) is None for st in seen[:LIFE])
    # In back-off after the kill: the killed life is judged at once, Suspected, the kill counted.
    resting = finding(seen[LIFE])
    assert resting is not None and resting["state"] == "Suspected"
    assert resting["oomKills"] == 1 and resting["lives"]["across"] == 1
    # Confirmed within the second life, with the culprit and rule the corpus leak has.
    f = finding(svc.cluster.status)
    assert f is not None and f["state"] == "Confirmed", svc.cluster.status
    assert len(seen) <= 2 * LIFE + 1
    assert f["ruleId"] == "http-transport-per-request"
    assert any("persistConn" in frame for frame in f["culprit"])
    assert f["oomKills"] == 1 and f["lastOomKill"] == stamp(svc.kills[0])
    lives_said = f["lives"]
    assert lives_said["across"] == 2 and lives_said["ended"] == 1 and lives_said["typical"] == "40m"
    assert lives_said["message"].startswith(
        "OOMKilled once in 2h (a life lasts ~40m); in each of its last 2 lives"
    )
    assert "persistConn" in lives_said["message"]
    detected = [e for e in svc.cluster.events if e.reason == "LeakDetected" and e.about.kind == "Deployment"]
    assert detected and "OOMKilled once in 2h" in detected[-1].message
    # The lives are in the checkpoint: a restarted operator still knows them.
    assert svc.cluster.checkpoint is not None
    states = checkpoint.decode(svc.cluster.checkpoint)
    assert [life[2] for life in states["client-1-uid"]["lives"]] == ["OOMKilled"]


async def test_oom_remediation_takes_no_action_on_a_workload_the_oom_killer_restarts() -> None:
    clock = Clock()
    svc = Looping(clock)
    raw = RAW | {"remediation": {"action": "RolloutRestart", "minConfirmations": 2}}
    scan = PolicyScanner(svc.cluster, POLICY, SharedCapacity(), clock)
    await lives(svc, scan, raw, 3)
    f = finding(svc.cluster.status)
    assert f is not None and f["state"] == "Confirmed" and f["oomKills"] >= 1
    remediation = svc.cluster.status["remediation"]
    assert svc.cluster.restarts == [] and "lastAction" not in remediation
    skip = remediation["lastSkip"]
    assert skip["reason"] == "OOMLoop" and skip["workload"] == {"kind": "Deployment", "name": "client"}
    assert "already restarting on its own: OOMKilled" in skip["message"]
    assert "The fix is in the code" in skip["message"]
    told = [e for e in svc.cluster.events if e.reason == "OOMLoop"]
    assert told and all(e.type == "Warning" for e in told)
    assert len({e.about for e in told}) == len(told)  # said once per subject, not every pass


async def test_oom_lives_go_with_the_workload_to_the_pod_that_replaces_it() -> None:
    """Pods replaced every 40 minutes (deleted: rollouts, evictions), each leaking from its start:
    no pod lives long enough, nor restarts; the workload's lives, handed from each pod to the
    next, confirm the leak at the third (never OOMKilled: three lives are needed)."""
    clock = Clock()
    svc = Looping(clock)
    scan = PolicyScanner(svc.cluster, POLICY, SharedCapacity(), clock)
    seen: list[tuple[str, Obj | None]] = []
    for n in range(1, 4):
        if n > 1:  # the old pod is deleted, a new one of the same Deployment starts
            svc.pod = running_pod(f"client-{n}", started=stamp(clock.now - 5), owner="client-5f6b")
            svc.cluster.pods = [svc.pod]
            svc.started = clock.now
        for _ in range(LIFE):
            await scan.scan(svc.cluster.body(RAW))
            seen.append((svc.pod["metadata"]["name"], finding(svc.cluster.status)))
            clock.now += 60
    assert all(f is None for name, f in seen if name == "client-1")
    second = [f for name, f in seen if name == "client-2" and f is not None]
    assert second and {f["state"] for f in second} == {"Suspected"}
    assert second[-1]["lives"]["across"] == 2 and second[-1]["oomKills"] == 0
    third = [f for name, f in seen if name == "client-3" and f is not None]
    assert third[-1]["state"] == "Confirmed" and third[-1]["lives"]["across"] == 3
    assert third[-1]["ruleId"] == "http-transport-per-request"
    said = "2 container lives ended in 2h (a life lasts ~40m) (restarts, replaced pods), none OOMKilled"
    assert third[-1]["lives"]["message"].startswith(said), third[-1]["lives"]
    # The departed pods' records went to their successors: none is left behind.
    assert set(scan.targets.by_uid) == {"client-3-uid"}


def test_oom_the_finding_checks_the_forecast_against_the_last_life() -> None:
    """'predicted 2.1h, the last life lasted 1.9h': the forecast (this life's start to the limit at
    the measured rate) beside what the last OOM-killed life actually lasted."""
    from leakpatrol.api import Finding, MemoryForecast, Workload  # noqa: PLC0415
    from leakpatrol.controller.verdict.findings import PodResult  # noqa: PLC0415
    from leakpatrol.controller.verdict.lives import with_lives  # noqa: PLC0415
    from leakpatrol.core import LeakState, SignalKind  # noqa: PLC0415
    from leakpatrol.detect.lives import Life  # noqa: PLC0415
    from leakpatrol.detect.signals import Evaluation  # noqa: PLC0415

    now = 1_900_000_000.0
    reach = datetime.fromtimestamp(now + 1.6 * 3600, UTC)
    forecast = MemoryForecast(pod="p", limit="512Mi", eta="1.6h", reach_time=reach, message="...")
    f = Finding(
        workload=Workload(kind="Deployment", name="web"),
        pods=["p"],
        signal=SignalKind.GOROUTINES,
        state=LeakState.CONFIRMED,
        since=datetime.fromtimestamp(now, UTC),
        baseline=100,
        current=900,
        growth_per_hour=400,
        p_value="0.001",
        culprit=["net/http.(*persistConn).Read transport.go:2300", "net/http.(*persistConn).readLoop x.go:1"],
        forecast=forecast,
    )
    kills = (
        Life(now - 9 * 3600, now - 7 * 3600, Termination.OOM_KILLED),
        Life(now - 7 * 3600 + 30, now - 5.1 * 3600, Termination.OOM_KILLED),
        Life(now - 5.1 * 3600 + 30, now - 0.5 * 3600, Termination.ERROR),
    )
    r = PodResult(
        "p", ("Deployment", "web"), Evaluation(now, 10, True), lives=kills, life_started=now - 0.5 * 3600
    )
    (said,) = with_lives([f], [r], 6 * 3600, now)
    assert said.oom_kills == 1 and said.last_oom_kill == datetime.fromtimestamp(now - 5.1 * 3600, UTC)
    assert said.lives is not None and said.lives.ended == 2 and said.lives.across == 0
    assert said.lives.message == (
        "OOMKilled once in 6h (a life lasts ~2h); the forecast gives a life ~2.1h to the limit,"
        " the last killed one lasted 114m"
    )
