"""Detection thresholds: the one place for defaults, used by the CLI and a LeakPolicy's spec.detection."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DetectionConfig(BaseModel):
    """Every threshold of the evaluator. The defaults held up in simulation (AR(1) and white noise,
    bursts, ramps) and on the recorded corpus: see the README, "How detection works"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window_seconds: float = Field(
        2 * 3600, gt=0, description="Trailing time window the trend is fitted over."
    )
    warmup_seconds: float = Field(
        600, ge=0, description="Samples this soon after container start are ignored."
    )
    min_samples: int = Field(12, ge=4, description="Samples in the window before any verdict.")
    max_samples: int = Field(120, ge=8, description="Samples kept per group; older ones are thinned.")
    significance: float = Field(0.01, gt=0, lt=0.5, description="Mann-Kendall p-value needed for a trend.")
    min_growth_goroutines: float = Field(50, ge=0, description="Absolute growth floor over the window.")
    min_growth_heap_bytes: float = Field(16 * 1024 * 1024, ge=0, description="Heap inuse growth floor.")
    relative_growth: float = Field(0.10, ge=0, description="Growth must exceed this share of the baseline.")
    noise_factor: float = Field(3.0, ge=0, description="Growth must exceed this many robust noise sigmas.")
    confirmations: int = Field(
        2, ge=1, description="Consecutive flagged evaluations before a leak is raised."
    )
    goroutine_ceiling: int | None = Field(None, ge=1, description="Optional absolute goroutine ceiling.")
    top_groups: int = Field(24, ge=1, description="Groups tracked individually; the rest share 'other'.")
    culprit_share: float = Field(0.8, gt=0, le=1, description="Groups covering this share of growth.")
    allowlist: tuple[str, ...] = Field((), description="Signature substrings that are known-static.")


# Named presets: the CLI's `analyze --preset`. The defaults are a LeakPolicy's. `ci` is for a load
# test in CI, 10-20 minutes sampled every 3-10 s (README "In CI" has its verdicts on the corpus run
# at that scale): a window longer than any such run, so growth that follows the load is never
# confirmed within it (a run is too short to see a ramp turn); a minute of warm-up; 24 samples
# before a verdict, so one fill-and-clear cycle of a cache (20 samples in the corpus) is no trend.
CI = DetectionConfig(window_seconds=3600, warmup_seconds=60, min_samples=24)
PRESETS: dict[str, DetectionConfig] = {"default": DetectionConfig(), "ci": CI}
