"""Diagnosis: map a growing stack signature to a rule id, a likely cause and a fix."""

from leakpatrol.diagnose.rules import Rule, RuleError, RuleSet

__all__ = ["Rule", "RuleError", "RuleSet"]
