"""The LeakPolicy API (leakpatrol.dev/v1alpha1): models mirroring crds/leakpolicy.yaml, semantic
validation, and the conversion of `spec.detection` into the engine's DetectionConfig.

    raw spec dict ──validate_spec──▶ [FieldIssue]          (Ready=False, reason InvalidSpec)
                 └──parse_spec────▶ LeakPolicySpec ──detection_config()──▶ DetectionConfig
    status: LeakPolicyStatus, set_condition(conditions, new, now), worst_first(findings)
"""

from leakpatrol.api.detection import DetectionSpec, ExtraRule, RuleMatch
from leakpatrol.api.remediation import RemediationAction, RemediationSpec, TimeWindow, Weekday
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
    EvidenceRef,
    Finding,
    LeakPolicyStatus,
    RemediationRecord,
    RemediationStatus,
    Targets,
    Workload,
    WorkloadRemediation,
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
    "EvidenceRef",
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
    "RemediationAction",
    "RemediationRecord",
    "RemediationSpec",
    "RemediationStatus",
    "RuleMatch",
    "Schedule",
    "Scheme",
    "SelectorOperator",
    "Target",
    "Targets",
    "TimeWindow",
    "Timeouts",
    "Toggle",
    "Weekday",
    "Workload",
    "WorkloadRemediation",
    "get_condition",
    "parse_spec",
    "set_condition",
    "validate_spec",
    "worst_first",
]
