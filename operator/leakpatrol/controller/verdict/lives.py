"""The lives behind each finding, said plainly: how often the workload's containers were OOMKilled
in the window, the last time, how long a life lasts, and whether the verdict rests on several
lives. Pure: the pass's per-pod results (their ended lives, detect.lives) and `now`.

    OOMKilled 3 times in 6h (a life lasts ~1.9h); in each of its last 2 lives
    net/http.(*persistConn).readLoop grew +1,080/h
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from statistics import median

from leakpatrol.api import Finding, Lives
from leakpatrol.controller.verdict.findings import PodResult
from leakpatrol.detect.forecast import human
from leakpatrol.detect.lives import Life
from leakpatrol.reasons import Termination


def with_lives(
    findings: Sequence[Finding], results: Sequence[PodResult], window: float, now: float
) -> list[Finding]:
    """Each finding with `oomKills`, `lastOomKill` and `lives` when its workload's pods restarted
    within the window or its verdict rests on lives; unchanged otherwise."""
    return [_annotated(f, results, window, now) for f in findings]


def _annotated(f: Finding, results: Sequence[PodResult], window: float, now: float) -> Finding:
    mine = [r for r in results if r.workload == (f.workload.kind, f.workload.name)]
    lives = [life for r in mine for life in r.lives]
    recent = [life for life in lives if life.ended is not None and life.ended >= now - window]
    across = max(
        (
            s.lives
            for r in mine
            if r.pod in f.pods
            for s in r.evaluation.signals
            if s.kind.value == f.signal.value
        ),
        default=0,
    )
    if not recent and not across:
        return f
    kills = [life for life in recent if life.end is Termination.OOM_KILLED]
    last_kill = max((life.ended for life in kills if life.ended is not None), default=None)
    typical = _typical(lives)
    forecast = next((r for r in mine if f.forecast is not None and r.pod == f.forecast.pod), None)
    killed = (
        [life.length for life in forecast.lives if life.end is Termination.OOM_KILLED] if forecast else []
    )
    lasted = next((n for n in reversed(killed) if n), None)  # the last life the OOM killer ended
    said = _sentence(
        f,
        recent,
        typical=typical,
        across=across,
        window=window,
        predicted=_predicted(f, forecast.life_started if forecast else None),
        lasted=lasted,
    )
    lives_status = Lives(ended=len(recent), typical=typical, across=across, message=said)
    return f.model_copy(
        update={
            "oom_kills": len(kills),
            "last_oom_kill": None if last_kill is None else datetime.fromtimestamp(last_kill, UTC),
            "lives": lives_status,
        }
    )


def lives_words(f: Finding) -> str:
    """The lives' sentence for a finding's Event (" OOMKilled 3 times in 6h ..."), or nothing."""
    if f.lives is None:
        return ""
    return f" {f.lives.message[:1].upper()}{f.lives.message[1:]}."


def _typical(lives: Iterable[Life]) -> str | None:
    lengths = [n for life in lives if (n := life.length) is not None and n > 0]
    return human(median(lengths)) if lengths else None


def _sentence(
    f: Finding,
    recent: Sequence[Life],
    *,
    typical: str | None,
    across: int,
    window: float,
    predicted: float | None = None,
    lasted: float | None = None,
) -> str:
    kills = [life for life in recent if life.end is Termination.OOM_KILLED]
    lasts = f" (a life lasts ~{typical})" if typical else ""
    if kills:
        text = f"OOMKilled {_times(len(kills))} in {human(window)}{lasts}"
    elif recent:
        ended = "1 container life" if len(recent) == 1 else f"{len(recent)} container lives"
        text = f"{ended} ended in {human(window)}{lasts} (restarts, replaced pods), none OOMKilled"
    else:
        text = f"no restart in {human(window)}"
    if across:
        text += f"; {_in_lives(across)} {_grower(f)} grew {f.growth_per_hour:+,d}{_unit(f)}/h"
        text += (
            ", each life too short for the window alone" if across > 1 else ", too short for the window alone"
        )
    if predicted is not None and lasted is not None and kills:
        text += f"; the forecast gives a life ~{human(predicted)} to the limit"
        text += f", the last killed one lasted {human(lasted)}"
    return text[:512]


def _in_lives(n: int) -> str:
    return "in its last life" if n == 1 else f"in each of its last {n} lives"


def _grower(f: Finding) -> str:
    """What grows: a goroutine's entry (its outermost frame shown, e.g. persistConn.readLoop); a
    heap site's allocating function (its leaf)."""
    if not f.culprit:
        return "the culprit"
    frame = f.culprit[0] if f.signal.value == "heap" else f.culprit[-1]
    return frame.partition(" ")[0]


def _unit(f: Finding) -> str:
    return " bytes" if f.signal.value == "heap" else ""


def _predicted(f: Finding, started: float | None) -> float | None:
    """The forecast turned into a life's length: the time this life has run plus its ETA."""
    if f.forecast is None or f.forecast.reach_time is None or started is None:
        return None
    return max(0.0, f.forecast.reach_time.timestamp() - started)


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"
