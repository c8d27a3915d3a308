"""How widespread a workload's leak is: the same culprit in every replica, or in one pod. Pure.

The same culprit signature growing in all (or most) replicas is a code bug: fix and redeploy. In
one pod only it is data, a tenant or a stuck peer: look at that pod, not the code.

Several replicas rising together is also stronger evidence than one. A single pod needs its flag
on `confirmations` consecutive evaluations; when FLEET_MIN_PODS or more replicas, and at least
half of the evaluated ones, flag the same culprit in the same pass, each is an independent
p < significance observation of one cause, so the finding is confirmed on that first pass
(with two replicas at p < 0.01 the chance of both by noise is ~1e-4, the same order as one pod
flagged twice). tests/test_fleet.py measures the false-alarm rate of this rule on the corpus's
healthy services run as replicas side by side.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from leakpatrol.core import LeakState
from leakpatrol.detect.signals import Signal

FLEET_MIN_PODS = 2
FLEET_MIN_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class PodSignal:
    pod: str
    evaluated: bool  # the pod had enough samples for a verdict this pass (not used for `of`)
    signal: Signal | None  # its signal of the finding's kind, if any


@dataclass(frozen=True, slots=True)
class FleetSpread:
    leaking: tuple[str, ...]  # pods whose signal names the culprit (sorted)
    of: int  # pods of the workload scanned this pass

    @property
    def pod_local(self) -> bool:
        return len(self.leaking) == 1 and self.of >= 3


def signatures(s: Signal) -> set[str]:
    """A leak's lockstep partners lead by a hair in one pod and by another in the next: any of
    them names the same leak."""
    return {s.culprit.signature, *(g.signature for g in s.related)}


def spread(culprit: str, pods: Iterable[PodSignal]) -> FleetSpread:
    listed = list(pods)
    leaking = sorted(p.pod for p in listed if p.signal is not None and culprit in signatures(p.signal))
    # Every replica scanned this pass counts, evaluated or not: a pod the leak is not (yet) seen
    # in is a pod it is not in, which is what "1 of 3" tells the on-call.
    return FleetSpread(tuple(leaking), len(listed))


def fleet_confirms(culprit: str, pods: Sequence[PodSignal]) -> bool:
    """Enough replicas flag the same culprit now (suspected or confirmed) to confirm it at once."""
    s = spread(culprit, pods)
    flagged = [
        p
        for p in pods
        if p.signal is not None
        and p.signal.state in (LeakState.SUSPECTED, LeakState.CONFIRMED)
        and culprit in signatures(p.signal)
    ]
    return len(flagged) >= FLEET_MIN_PODS and len(flagged) >= FLEET_MIN_SHARE * s.of


def spread_words(s: FleetSpread) -> str:
    """`in 3 of 3 pods` / `in 1 of 12 pods only (pod-x): likely data- or peer-specific`."""
    n, of = len(s.leaking), s.of
    if s.pod_local:
        return f"in 1 of {of} pods only ({s.leaking[0]}): likely data- or peer-specific"
    if of >= 3 and n * 2 < of:
        return f"in {n} of {of} pods only: likely data- or peer-specific"
    return f"in {n} of {of} pod{'s' if of != 1 else ''}"
