"""LeakPolicy spec models: the mirror of crds/leakpolicy.yaml's `spec` (tests/test_api_schema.py
walks both and fails on any difference in fields, defaults, enums or required-ness).

Only the shape lives here. Rules that tie one field to another are in `validation.py`, so that a
bad policy yields every problem at once, each with its field path, instead of the first exception.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from leakpatrol.api.base import ApiModel, Duration, PortRef
from leakpatrol.api.detection import DetectionSpec
from leakpatrol.api.remediation import RemediationSpec
from leakpatrol.api.status import LeakPolicyStatus
from leakpatrol.api.units import JITTER_PATTERN, jitter_seconds
from leakpatrol.core import Transport
from leakpatrol.detect.config import DetectionConfig

GROUP = "leakpatrol.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "LeakPolicy"
PLURAL = "leakpolicies"


class SelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class Scheme(StrEnum):
    # Upper case like a probe's httpGet.scheme, the field users already know.
    HTTP = "HTTP"
    HTTPS = "HTTPS"


class Toggle(StrEnum):
    # Not On/Off: YAML 1.1 (kubectl's parser) reads a bare `On` as the boolean true.
    ENABLED = "Enabled"
    DISABLED = "Disabled"


class AutoToggle(StrEnum):
    AUTO = "Auto"  # fetch while the target serves it; a 404 means "not exposed", not a failure
    ENABLED = "Enabled"  # a 404 is reported as PprofNotExposed
    DISABLED = "Disabled"


class LabelSelectorRequirement(ApiModel):
    key: str = Field(min_length=1, max_length=317)
    operator: SelectorOperator
    values: list[str] = Field(default_factory=list, max_length=64)


class LabelSelector(ApiModel):
    """metav1.LabelSelector. An empty one is rejected: it would select every pod in the namespace."""

    match_labels: dict[str, str] = Field(default_factory=dict, max_length=64)
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list, max_length=32)


class Timeouts(ApiModel):
    connect: Duration = Field(default=5.0, gt=0)
    read: Duration = Field(default=20.0, gt=0)
    total: Duration = Field(default=30.0, gt=0)


class Target(ApiModel):
    port: PortRef = 6060  # the port net/http/pprof's own docs use; PortForward reaches it even on localhost
    path: str = Field(default="/debug/pprof", pattern=r"^/[^?#\s]*$", max_length=256)
    scheme: Scheme = Scheme.HTTP
    transport: Transport = Transport.PORT_FORWARD
    timeouts: Timeouts = Timeouts()


class Schedule(ApiModel):
    interval: Duration = Field(default=60.0, ge=1)
    jitter: str = Field(default="10%", pattern=JITTER_PATTERN, max_length=32)

    @property
    def jitter_seconds(self) -> float:
        return jitter_seconds(self.jitter, self.interval)


class Profiles(ApiModel):
    goroutine: Toggle = Toggle.ENABLED
    heap: Toggle = Toggle.ENABLED
    goroutineleak: AutoToggle = AutoToggle.AUTO
    # The goroutineleak profile runs a special GC that can stall a big process for seconds: hours apart.
    goroutineleak_interval: Duration = Field(default=3600.0, ge=1)


class LeakPolicySpec(ApiModel):
    selector: LabelSelector
    target: Target = Target()
    schedule: Schedule = Schedule()
    profiles: Profiles = Profiles()
    detection: DetectionSpec = DetectionSpec()
    remediation: RemediationSpec = RemediationSpec()
    suspend: bool = False

    def detection_config(self) -> DetectionConfig:
        """The engine's thresholds for this policy (the same defaults as `leakpatrol analyze`)."""
        return self.detection.to_config()


class LeakPolicy(ApiModel):
    """A whole object, as `kubectl get -o yaml` shows it. metadata stays a plain dict: the API owns it."""

    model_config = ApiModel.model_config | {"extra": "ignore"}

    api_version: Literal["leakpatrol.dev/v1alpha1"] = "leakpatrol.dev/v1alpha1"
    kind: Literal["LeakPolicy"] = "LeakPolicy"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: LeakPolicySpec
    status: LeakPolicyStatus | None = None
