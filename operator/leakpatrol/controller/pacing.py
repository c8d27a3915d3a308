"""`Pacing`: when the next pass of a policy starts, and whether its passes keep up. Pure.

`spec.schedule.interval` is how often a policy is scanned: the wait after a pass is the interval
less the time the pass took, so a 2 s pass at a 5 s interval still starts every 5 s. A pass that
takes longer than the interval cannot keep that cadence: the next one starts after a short breath
(a tenth of the interval, so an overloaded operator still gives the event loop back), and the lag
— how much longer the pass took than the interval — is a metric. Three such passes in a row are
no accident: the policy says so in its Degraded condition, with the numbers to size by.
"""

from __future__ import annotations

from dataclasses import dataclass

from leakpatrol.controller.report.status import Overrun

OVERRUN_PASSES = 3  # consecutive passes over the interval before the condition says so
BREATH = 0.1  # of the interval: the least wait between passes


@dataclass(slots=True)
class Pacing:
    overruns: int = 0  # consecutive passes that took longer than the interval
    took: float = 0.0  # the last pass, seconds
    interval: float = 0.0

    def passed(self, took: float, interval: float) -> None:
        self.took, self.interval = took, interval
        self.overruns = self.overruns + 1 if took > interval else 0

    @property
    def lag(self) -> float:
        """Seconds the last pass took beyond its interval (0 when it kept the cadence)."""
        return max(0.0, self.took - self.interval)

    def overrun(self) -> Overrun | None:
        if self.overruns < OVERRUN_PASSES:
            return None
        return Overrun(self.took, self.interval, self.overruns)

    def wait(self, interval: float, jitter: float) -> float:
        """Seconds until the next pass: the interval (plus jitter) less what this pass took."""
        return max(interval * BREATH, interval + jitter - self.took)
