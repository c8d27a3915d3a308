"""`spec.detection`: the engine's DetectionConfig in Kubernetes' clothes.

DetectionConfig (leakpatrol.detect.config) owns the defaults; every default below is derived from it,
and the CRD's copies are checked against these by tests. Floats become what Kubernetes APIs prefer:
durations, integer percents, a byte quantity, and decimal strings where a percent would lose digits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from leakpatrol.api.base import ApiModel, ByteQuantity, DecimalString, Duration
from leakpatrol.detect.config import DetectionConfig
from leakpatrol.profiles.model import WaitKind

# model_validate, not DetectionConfig(): its positional Field defaults are invisible to mypy.
_DEFAULTS = DetectionConfig.model_validate({})

RULE_ID_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"

Signature = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class RuleMatch(ApiModel):
    """What a growing stack group must look like for a rule to apply; all given parts must match."""

    # An RE2 regular expression (linear time; no backreferences or lookaround), searched in each
    # frame's function name.
    frame: str | None = Field(default=None, min_length=1, max_length=512)
    wait_kind: WaitKind | None = None


class ExtraRule(ApiModel):
    """A site-specific diagnosis, tried before the built-in rules."""

    id: str = Field(pattern=RULE_ID_PATTERN, max_length=63)
    match: RuleMatch
    cause: str = Field(min_length=1, max_length=1024)
    fix: str = Field(min_length=1, max_length=1024)


class DetectionSpec(ApiModel):
    window: Duration = Field(default=_DEFAULTS.window_seconds, gt=0)
    warmup: Duration = Field(default=_DEFAULTS.warmup_seconds, ge=0)
    min_samples: int = Field(default=_DEFAULTS.min_samples, ge=4, le=10_000)
    max_samples: int = Field(default=_DEFAULTS.max_samples, ge=8, le=10_000)
    significance: DecimalString = Field(default=_DEFAULTS.significance, gt=0, lt=0.5)
    min_growth_goroutines: int = Field(default=round(_DEFAULTS.min_growth_goroutines), ge=0)
    min_heap_growth: ByteQuantity = Field(default=round(_DEFAULTS.min_growth_heap_bytes), ge=0)
    relative_growth_percent: int = Field(default=round(_DEFAULTS.relative_growth * 100), ge=0, le=10_000)
    noise_factor: DecimalString = Field(default=_DEFAULTS.noise_factor, ge=0)
    confirmations: int = Field(default=_DEFAULTS.confirmations, ge=1, le=100)
    goroutine_ceiling: int | None = Field(default=_DEFAULTS.goroutine_ceiling, ge=1)
    top_groups: int = Field(default=_DEFAULTS.top_groups, ge=1, le=1000)
    culprit_share_percent: int = Field(default=round(_DEFAULTS.culprit_share * 100), ge=1, le=100)
    allowlist: list[Signature] = Field(default_factory=lambda: list(_DEFAULTS.allowlist), max_length=128)
    extra_rules: list[ExtraRule] = Field(default_factory=list, max_length=64)

    def to_config(self) -> DetectionConfig:
        return DetectionConfig(**{name: convert(self) for name, convert in TO_CONFIG.items()})


# One entry per DetectionConfig field (a test checks the key set), so a new engine threshold cannot
# be forgotten here. extraRules is not a threshold: the rule engine takes `DetectionSpec.extra_rules`.
TO_CONFIG: dict[str, Callable[[DetectionSpec], Any]] = {
    "window_seconds": lambda d: d.window,
    "warmup_seconds": lambda d: d.warmup,
    "min_samples": lambda d: d.min_samples,
    "max_samples": lambda d: d.max_samples,
    "significance": lambda d: d.significance,
    "min_growth_goroutines": lambda d: float(d.min_growth_goroutines),
    "min_growth_heap_bytes": lambda d: float(d.min_heap_growth),
    "relative_growth": lambda d: d.relative_growth_percent / 100,
    "noise_factor": lambda d: d.noise_factor,
    "confirmations": lambda d: d.confirmations,
    "goroutine_ceiling": lambda d: d.goroutine_ceiling,
    "top_groups": lambda d: d.top_groups,
    "culprit_share": lambda d: d.culprit_share_percent / 100,
    "allowlist": lambda d: tuple(d.allowlist),
}
