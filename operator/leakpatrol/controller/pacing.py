"""`Pacing`: when the next pass of a policy starts, how long a pass may run, and whether its passes
keep up. Pure.

`spec.schedule.interval` is how often a policy is scanned: the wait after a pass is the interval
less the time the pass took, so a 2 s pass at a 5 s interval still starts every 5 s. A pass that
takes longer than the interval cannot keep that cadence: the next one starts after a short breath
(a tenth of the interval, so an overloaded operator still gives the event loop back), and the lag
— how much longer the pass took than the interval — is a metric. Three such passes in a row are
no accident: the policy says so in its Degraded condition, with the numbers to size by.

A pass is also *overdue* once its fetches have run `DEADLINE_INTERVALS` intervals plus one fetch's
`timeouts.total`: its pods are too slow or too many for the slots it may hold. Then the fetches
still running or waiting are cancelled (their slots go back to every tenant), the pass reports what
it has, and the policy reads Degraded at once, not after three passes; the targets it did not reach
go first at the next pass. An overdue pass is the tenant's problem, said on its policy; it never
touches the operator's liveness (runtime.health).
"""

from __future__ import annotations

from dataclasses import dataclass

from leakpatrol.controller.report.status import Overrun

OVERRUN_PASSES = 3  # consecutive passes over the interval before the condition says so
BREATH = 0.1  # of the interval: the least wait between passes
DEADLINE_INTERVALS = 3.0  # a pass's fetches are cut after this many intervals (+ timeouts.total)


@dataclass(slots=True)
class Pacing:
    overruns: int = 0  # consecutive passes that took longer than the interval
    took: float = 0.0  # the last pass, seconds
    interval: float = 0.0
    cut: bool = False  # a pass of this run of overruns was cut at its deadline
    deadline_intervals: float = DEADLINE_INTERVALS
    _counted: bool = False  # this pass was cut: its overrun is counted already

    def passed(self, took: float, interval: float) -> None:
        if self._counted:  # cut short: counted as an overrun when it was
            self._counted, self.took = False, took
            return
        self.took, self.interval = took, interval
        self.overruns = self.overruns + 1 if took > interval else 0
        self.cut = self.cut and self.overruns > 0  # a pass that kept the cadence ends the run

    def deadline(self, interval: float, fetch_timeout: float) -> float:
        """Seconds a pass's fetches may run before the pass is overdue and they are cut."""
        return self.deadline_intervals * interval + fetch_timeout

    def cut_short(self, took: float, interval: float) -> None:
        """This pass reached its deadline (`took` seconds in): an overrun, said at once."""
        self.took, self.interval, self.cut, self._counted = took, interval, True, True
        self.overruns += 1

    @property
    def lag(self) -> float:
        """Seconds the last pass took beyond its interval (0 when it kept the cadence)."""
        return max(0.0, self.took - self.interval)

    def overrun(self) -> Overrun | None:
        if self.overruns < OVERRUN_PASSES and not self.cut:
            return None
        return Overrun(self.took, self.interval, self.overruns)

    def wait(self, interval: float, jitter: float) -> float:
        """Seconds until the next pass: the interval (plus jitter) less what this pass took."""
        return max(interval * BREATH, interval + jitter - self.took)
