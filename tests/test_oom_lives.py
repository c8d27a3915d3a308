"""Memory across container lives (detect.lives): a leak whose every life is shorter than the window
is confirmed by the lives together, with its culprit and rule; healthy services that restart are
not; the lives are bounded and survive a checkpoint, which refuses a bad one. `-k oom` selects them.

Synthetic goroutine profiles, one a minute: a service with a steady pool and noisy in-flight work,
and (when leaking) a consumer stuck on `range ch` that piles up 4 a minute. The policy is one whose
window a life never fills (2 h window, 60 samples needed): before lives were kept, such a service
was never flagged at all.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from leakpatrol.core import CheckpointCorrupt, LeakState, SignalKind
from leakpatrol.detect import checkpoint
from leakpatrol.detect.config import DetectionConfig
from leakpatrol.detect.evaluator import PodIdentity, Sample, TargetEvaluator
from leakpatrol.detect.lives import MAX_LIVES, LastLife, Life
from leakpatrol.detect.signals import Evaluation
from leakpatrol.diagnose.rules import RuleSet
from leakpatrol.profiles.model import Frame, Profile, ProfileFormat, ProfileKind, StackGroup, WaitKind
from leakpatrol.reasons import Termination

CONFIG = DetectionConfig(window_seconds=2 * 3600, warmup_seconds=300, min_samples=60)
T0 = 1_900_000_000.0
MINUTE = 60.0
LEAK_SIG = "chan receive|main.consumeFeed;main.openFeed.func1"


def group(signature: str, wait: WaitKind, count: int) -> StackGroup:
    frames = tuple(Frame(f, "main.go", 10 + i) for i, f in enumerate(signature.partition("|")[2].split(";")))
    return StackGroup(signature, wait, frames, frames, count)


def profile(minute: float, rng: random.Random, *, leak: float = 0.0, fill: float = 0.0) -> Profile:
    """The service `minute` program minutes into a life; `leak` goroutines stuck per minute;
    `fill`: a pool that fills to 400 over its first `fill` minutes, then holds."""
    groups = [
        group("chan receive|main.worker;main.startPool.func1", WaitKind.CHAN_RECEIVE, 64),
        group("IO wait|net/http.(*conn).serve", WaitKind.IO_WAIT, 40 + rng.randint(-15, 15)),
        group("select|main.(*ticker).run", WaitKind.SELECT, 3),
    ]
    if fill:
        filled = round(min(1, minute / fill) * 400)
        groups.append(group("sync.Cond.Wait|main.(*lazyPool).get", WaitKind.COND, filled))
    if leak:
        groups.append(group(LEAK_SIG, WaitKind.CHAN_RECEIVE, round(leak * minute)))
    return Profile(ProfileKind.GOROUTINE, ProfileFormat.PROTO, groups, sum(g.count for g in groups))


def lives(
    n: int, minutes: int, end: Termination, *, seed: int = 1, **shape: float
) -> Iterator[tuple[int, int, Evaluation, TargetEvaluator]]:
    """(life, minute, evaluation, evaluator) for `n` lives of `minutes` each, each ending `end`;
    the kubelet's account of a life arrives with the next one, as `lastState.terminated`."""
    rng = random.Random(seed)
    ev = TargetEvaluator(CONFIG)
    t, last = T0, None
    for k in range(n):
        started = t
        pod = PodIdentity("pod-uid", started, k, last)
        for m in range(minutes):
            now = started + (m + 0.5) * MINUTE
            yield k, m, ev.observe(Sample(now, profile(m + 0.5, rng, **shape)), pod), ev
        ended = started + minutes * MINUTE
        last = LastLife(end, 137 if end is Termination.OOM_KILLED else 1, started, ended)
        t = ended + 10


def across(e: Evaluation) -> list[tuple[str, int]]:
    return [(s.state.value, s.lives) for s in e.signals if s.lives]


def test_oom_a_leak_killed_every_40_minutes_is_confirmed_in_its_second_life() -> None:
    seen = [(k, m, e) for k, m, e, _ in lives(3, 40, Termination.OOM_KILLED, leak=4)]
    # Before lives were kept nothing ever said a word: no life reaches the window's 60 samples.
    assert not any(s for k, _, e in seen if k == 0 for s in e.signals)
    first = next((k, m, e) for k, m, e in seen if across(e))
    k, m, e = first
    assert k == 1 and m == 0 and across(e) == [("Suspected", 1)]  # the killed life, told at restart
    confirmed = next((k, m, e) for k, m, e in seen if ("Confirmed", 2) in across(e))
    assert confirmed[0] == 1  # within its second life: as soon as that life is long enough to judge
    signal = confirmed[2].signals[0]
    assert signal.kind is SignalKind.GOROUTINES and signal.state is LeakState.CONFIRMED
    assert signal.culprit.signature == LEAK_SIG and signal.culprit.frames[0].startswith("main.consumeFeed")
    assert signal.rule is not None and signal.rule.id == "chan-receive-blocked"
    assert 200 <= signal.growth_per_hour <= 300  # 4 a minute
    assert confirmed[2].evaluated
    # From then on it stays confirmed, life after life, restart after restart.
    after = [e for k, m, e in seen if (k, m) >= confirmed[:2]]
    assert all(any(s.state is LeakState.CONFIRMED for s in e.signals) for e in after)


def test_oom_a_leak_that_restarts_without_oom_needs_three_lives() -> None:
    seen = [(k, e) for k, _, e, _ in lives(4, 40, Termination.ERROR, leak=4)]
    states = {k: {s for s, _ in across(e)} for k, e in seen}
    assert "Confirmed" not in states[1] and "Suspected" in states[1]
    confirmed = next(k for k, e in seen if ("Confirmed", 3) in across(e))
    assert confirmed == 2


@pytest.mark.parametrize("end", [Termination.OOM_KILLED, Termination.ERROR, Termination.COMPLETED])
@pytest.mark.parametrize("minutes", [40, 60])
def test_oom_healthy_services_that_restart_are_never_flagged(end: Termination, minutes: int) -> None:
    """A lazy pool that fills over 15 minutes after every start, noisy in-flight work: every life
    begins with growth, none keeps growing. Not even a suspicion, whatever ends the lives."""
    flagged = [(k, m, across(e)) for k, m, e, _ in lives(5, minutes, end, fill=15) if e.signals]
    assert flagged == []


@pytest.mark.parametrize("minutes", [40, 60])
def test_oom_a_warm_up_longer_than_the_warm_up_setting_is_no_leak_across_lives(minutes: int) -> None:
    """A pool that takes 25 minutes to fill (five times the policy's warm-up): each life's window
    sees it rise, the window may even suspect it once, but no life keeps growing to its end, and
    the lives never say a word, even when every one of them is OOMKilled."""
    assert [across(e) for _, _, e, _ in lives(5, minutes, Termination.OOM_KILLED, fill=25) if across(e)] == []


def test_oom_a_leak_that_does_not_come_back_is_not_confirmed() -> None:
    """Killed once while leaking; the next life is long enough to judge and grows nothing."""
    rng = random.Random(3)
    ev = TargetEvaluator(CONFIG)
    pod = PodIdentity("pod-uid", T0, 0)
    for m in range(40):
        ev.observe(Sample(T0 + (m + 0.5) * MINUTE, profile(m + 0.5, rng, leak=4)), pod)
    start = T0 + 41 * MINUTE
    again = PodIdentity("pod-uid", start, 1, LastLife(Termination.OOM_KILLED, 137, T0, start - 60))
    states = [across(ev.observe(Sample(start + m * MINUTE, profile(m, rng)), again)) for m in range(40)]
    assert states[0] == [("Suspected", 1)]
    assert states[-1] == [] and all(("Confirmed", 2) not in s for s in states)


def test_oom_a_container_waiting_out_its_back_off_keeps_its_verdict() -> None:
    """Between lives (CrashLoopBackOff, not Ready) the life that ended is judged from the pod's
    lastState at once, and the same life seen running later is not ended twice."""
    *_, (_, _, _, ev) = lives(2, 40, Termination.OOM_KILLED, leak=4)
    now = T0 + 100 * MINUTE
    told = LastLife(Termination.OOM_KILLED, 137, T0 + 41 * MINUTE, now - 5)
    resting = ev.rest(PodIdentity("pod-uid", None, 2, told), now)
    assert [(s.state.value, s.lives) for s in resting.signals] == [("Confirmed", 2)]
    assert [life.end for life in ev.lives.ended] == [Termination.OOM_KILLED] * 2
    assert ev.lives.ended[-1].ended == now - 5
    running = PodIdentity("pod-uid", now + 20, 2, told)
    ev.observe(Sample(now + 30, profile(0.5, random.Random(1), leak=4)), running)
    assert len(ev.lives.ended) == 2


def test_oom_a_container_running_but_not_ready_has_not_ended_its_life() -> None:
    *_, (_, _, _, ev) = lives(2, 40, Termination.OOM_KILLED, leak=4)
    before, pod = list(ev.lives.ended), ev.pod
    assert pod is not None
    ev.rest(PodIdentity("pod-uid", None, pod.restarts, pod.last), T0 + 90 * MINUTE)  # a failing probe
    assert ev.lives.ended == before and ev.pod == pod


def test_oom_restarts_between_two_looks_are_counted_as_lives() -> None:
    *_, (_, _, _, ev) = lives(1, 10, Termination.OOM_KILLED, leak=4)
    now = T0 + 30 * MINUTE
    told = LastLife(Termination.OOM_KILLED, 137, now - 300, now - 60)
    ev.observe(Sample(now, profile(1, random.Random(1))), PodIdentity("pod-uid", now - 30, 3, told))
    ends = [(life.end, life.started, life.ended) for life in ev.lives.ended]
    assert ends == [
        (Termination.UNKNOWN, T0, T0 + 9.5 * MINUTE),  # ours: seen, but how it ended was not told
        (Termination.UNKNOWN, None, None),  # neither seen nor told
        (Termination.OOM_KILLED, now - 300, now - 60),  # the kubelet's lastState
    ]
    ev.gone(now + 60)
    assert ev.lives.ended[-1].end is Termination.DELETED


def test_oom_lives_are_bounded() -> None:
    *_, (_, _, _, ev) = lives(MAX_LIVES + 5, 8, Termination.OOM_KILLED, leak=4)
    assert len(ev.lives.ended) == MAX_LIVES


def _state_after_two_lives() -> dict[str, Any]:
    *_, (_, _, _, ev) = lives(2, 40, Termination.OOM_KILLED, leak=4)
    ev.workload = ("Deployment", "client")
    return checkpoint.dump(ev)


def test_oom_lives_survive_a_checkpoint() -> None:
    state = _state_after_two_lives()
    blob = checkpoint.encode({"u": state})
    back = checkpoint.restore(checkpoint.decode(blob)["u"], CONFIG, RuleSet.default())
    assert checkpoint.dump(back) == state and back.workload == ("Deployment", "client")
    (life,) = back.lives.ended
    assert life.judged and life.end is Termination.OOM_KILLED
    signal = life.signals[SignalKind.GOROUTINES]
    assert signal.culprit.rule is not None and signal.culprit.rule.id == "chan-receive-blocked"
    assert back.lives_since == {SignalKind.GOROUTINES: pytest.approx(state["lives_since"]["goroutines"])}
    # A checkpoint written before lives were kept is still read.
    old = {k: v for k, v in state.items() if k not in ("lives", "lives_since")} | {"format": 2}
    assert checkpoint.restore(old, CONFIG, RuleSet.default()).lives.ended == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("lives",), "not a list"),
        (("lives",), [[None, None, "Unknown", None, 0, False, {}]] * (MAX_LIVES + 1)),
        (("lives", 0, 2), "Eaten"),
        (("lives", 0, 4), -1),
        (("lives", 0, 4), 1.5),
        (("lives", 0, 3), "137"),
        (("lives", 0, 0), float("inf")),
        (("lives", 0, 1), "yesterday"),
        (("lives", 0, 6), {"goroutineleak": []}),
        (("lives", 0, 6, "goroutines", 0), []),
        (("lives", 0, 6, "goroutines", 1, 0), 7),
        (("lives", 0, 6, "goroutines", 1, 2), ["f"] * 99),
        (("lives", 0, 6, "goroutines", 2), [[]] * 9),
        (("lives", 0, 6, "goroutines", 3), "fast"),
        (("lives_since",), {"goroutines": "now"}),
        (("lives_since",), {"threads": 1.0}),
        (("workload",), ["Deployment"]),
        (("workload",), ["Deployment", 7]),
    ],
)
def test_oom_a_corrupt_life_is_refused(path: tuple[Any, ...], value: Any) -> None:
    state = _state_after_two_lives()
    target: Any = state
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(CheckpointCorrupt):
        checkpoint.restore(state, CONFIG, RuleSet.default())


def test_oom_the_lives_verdict_needs_judged_lives() -> None:
    """Lives too short to judge (a quarter of the window) are neither for nor against."""
    seen = [across(e) for _, _, e, _ in lives(6, 20, Termination.OOM_KILLED, leak=4)]
    assert not any(seen)
    short = Life(T0, T0 + 60, Termination.OOM_KILLED)
    assert not short.judged and short.length == 60


def test_oom_departed_pods_are_kept_for_their_successors_bounded() -> None:
    from leakpatrol.controller.collect.records import MAX_DEPARTED, TargetRecords  # noqa: PLC0415

    records = TargetRecords()
    for i in range(MAX_DEPARTED + 3):
        ev = TargetEvaluator(CONFIG)
        ev.workload = ("Deployment", "client")
        ev.lives.add(Life(T0 + i, T0 + 100 + i, Termination.OOM_KILLED, judged=True))
        records.of(f"old-{i}").evaluator = ev
    quiet = records.of("quiet").evaluator = TargetEvaluator(CONFIG)  # no lives: simply forgotten
    quiet.workload = ("Deployment", "client")
    records.of("other").evaluator = TargetEvaluator(CONFIG)
    records.keep_only([], listed=["other"], now=T0 + 200)
    newest = {f"old-{i}" for i in range(3, MAX_DEPARTED + 3)}
    assert set(records.by_uid) == newest | {"other"}  # a pod merely not Ready keeps its record
    heir = records.successor_of("new", ("Deployment", "client"))
    assert heir is not None and heir.lives.ended[-1].ended == T0 + 100 + MAX_DEPARTED + 2
    assert records.successor_of("new", ("Deployment", "other")) is None
    assert len(records.by_uid) == MAX_DEPARTED  # handed over once
