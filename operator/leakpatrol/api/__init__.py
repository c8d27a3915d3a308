"""The LeakPolicy API (leakpatrol.dev/v1alpha1): models mirroring crds/leakpolicy.yaml, semantic
validation, and the conversion of `spec.detection` into the engine's DetectionConfig.

    raw spec dict ──validate_spec──▶ [FieldIssue]          (Ready=False, reason InvalidSpec)
                 └──parse_spec────▶ LeakPolicySpec ──detection_config()──▶ DetectionConfig
    status: LeakPolicyStatus, set_condition(conditions, new, now), worst_first(findings)
"""

from leakpatrol.api.detection import DetectionSpec, ExtraRule, RuleMatch
from leakpatrol.api.spec import (
    API_VERSION,
    GROUP,
    KIND,
    PLURAL,
    VERSION,
    AutoToggle,
    LabelSelector,
    LabelSelectorRequirement,
    LeakPolicy,
    LeakPolicySpec,
    Profiles,
    Schedule,
    Scheme,
    SelectorOperator,
    Target,
    Timeouts,
    Toggle,
)
from leakpatrol.api.status import (
    MAX_FINDINGS,
    Condition,
    ConditionStatus,
    ConditionType,
    Finding,
    LeakPolicyStatus,
    Targets,
    Workload,
    get_condition,
    set_condition,
    worst_first,
)
from leakpatrol.api.validation import FieldIssue, InvalidSpecError, parse_spec, validate_spec

__all__ = [
    "API_VERSION",
    "GROUP",
    "KIND",
    "MAX_FINDINGS",
    "PLURAL",
    "VERSION",
    "AutoToggle",
    "Condition",
    "ConditionStatus",
    "ConditionType",
    "DetectionSpec",
    "ExtraRule",
    "FieldIssue",
    "Finding",
    "InvalidSpecError",
    "LabelSelector",
    "LabelSelectorRequirement",
    "LeakPolicy",
    "LeakPolicySpec",
    "LeakPolicyStatus",
    "Profiles",
    "RuleMatch",
    "Schedule",
    "Scheme",
    "SelectorOperator",
    "Target",
    "Targets",
    "Timeouts",
    "Toggle",
    "Workload",
    "get_condition",
    "parse_spec",
    "set_condition",
    "validate_spec",
    "worst_first",
]
