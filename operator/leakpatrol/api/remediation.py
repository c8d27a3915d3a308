"""`spec.remediation`: what leakpatrol may do about a confirmed leak, and the rails around it.

Off by default (`action: None`): choosing an action is the opt-in, so `dryRun` defaults to false.
Only the shape lives here; rules across fields (a time zone that exists, a window that is not
empty) are in `validation.py`, and the decisions themselves in `leakpatrol.controller.remediation`.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from leakpatrol.api.base import ApiModel, Duration

# "HH:MM" on a 24-hour clock; an end may be 24:00 (midnight at the end of the day).
CLOCK_PATTERN = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"


class RemediationAction(StrEnum):
    NONE = "None"  # report only (the default)
    ROLLOUT_RESTART = "RolloutRestart"  # Deployment, StatefulSet, DaemonSet, as `kubectl rollout restart`
    EVICT_POD = "EvictPod"  # the leaking pods, through the Eviction API (honours PodDisruptionBudgets)


class Weekday(StrEnum):
    MON = "Mon"
    TUE = "Tue"
    WED = "Wed"
    THU = "Thu"
    FRI = "Fri"
    SAT = "Sat"
    SUN = "Sun"


class TimeWindow(ApiModel):
    """When actions are allowed: on `days` (every day if empty), from `start` to `end` in `timeZone`.
    A window whose end is before its start runs past midnight into the next day."""

    days: list[Weekday] = Field(default_factory=list, max_length=7)
    start: str = Field(default="00:00", pattern=CLOCK_PATTERN, max_length=5)
    end: str = Field(default="24:00", pattern=CLOCK_PATTERN, max_length=5)
    time_zone: str = Field(default="UTC", min_length=1, max_length=64)


class RemediationSpec(ApiModel):
    action: RemediationAction = RemediationAction.NONE
    dry_run: bool = False
    cooldown: Duration = Field(default=3600.0, ge=0)  # per workload, after an action
    max_actions: int = Field(default=3, ge=1, le=100)  # per policy, per rolling `window`
    window: Duration = Field(default=86400.0, gt=0)
    allowed_windows: list[TimeWindow] = Field(default_factory=list, max_length=16)  # empty: any time
    min_confirmations: int = Field(default=2, ge=1, le=100)  # consecutive passes a leak stays Confirmed
    capture_evidence: bool = True
    # The same leak confirmed again this soon after an action: stop, restarts hide a bug. 0s: never.
    escalate_after: Duration = Field(default=86400.0, ge=0)

    @property
    def enabled(self) -> bool:
        return self.action is not RemediationAction.NONE
