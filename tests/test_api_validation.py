"""validate_spec: every problem at once, each naming its field and why."""

from __future__ import annotations

from typing import Any

import pytest

from leakpatrol.api import FieldIssue, InvalidSpecError, parse_spec, validate_spec

OK: dict[str, Any] = {"selector": {"matchLabels": {"app": "leaky-http"}}}


def issues(raw: dict[str, Any]) -> dict[str, str]:
    return {issue.path: issue.message for issue in validate_spec(raw)}


def test_minimal_spec_is_valid() -> None:
    assert validate_spec(OK) == []
    assert parse_spec(OK).target.port == 6060


def test_empty_selector_says_why() -> None:
    assert issues({"selector": {}}) == {
        "spec.selector": "must not be empty — it would select every pod in the namespace"
    }


def test_missing_selector_and_unknown_field_are_named() -> None:
    found = issues({"schedule": {"intervall": "1m"}})
    assert found["spec.selector"] == "required"
    assert found["spec.schedule.intervall"].startswith("unknown field")


def test_bad_regex_names_the_rule_index() -> None:
    rules = [
        {"id": f"r{i}", "match": {"frame": frame}, "cause": "c", "fix": "f"}
        for i, frame in enumerate(["ok", "also.ok", "(unclosed"])
    ]
    found = issues({**OK, "detection": {"extraRules": rules}})
    assert list(found) == ["spec.detection.extraRules[2].match.frame"]
    assert "missing )" in found["spec.detection.extraRules[2].match.frame"]


def test_patterns_re2_cannot_run_in_linear_time_are_refused_by_field() -> None:
    rules = [
        {"id": "backref", "match": {"frame": r"(a)\1"}, "cause": "c", "fix": "f"},
        {"id": "lookahead", "match": {"frame": "foo(?=bar)"}, "cause": "c", "fix": "f"},
        {"id": "hostile", "match": {"frame": "(.*.*)*Q"}, "cause": "c", "fix": "f"},  # fine under RE2
    ]
    found = issues({**OK, "detection": {"extraRules": rules}})
    assert sorted(found) == [f"spec.detection.extraRules[{i}].match.frame" for i in (0, 1)]
    assert all("RE2" in message for message in found.values())


def test_duplicate_rule_ids() -> None:
    rule = {"id": "dup", "match": {"waitKind": "chan send"}, "cause": "c", "fix": "f"}
    assert "spec.detection.extraRules[1].id" in issues({**OK, "detection": {"extraRules": [rule, rule]}})


@pytest.mark.parametrize(
    ("change", "path", "fragment"),
    [
        ({"target": {"port": "Bad_Name"}}, "spec.target.port", "container port name"),
        ({"target": {"port": 0}}, "spec.target.port", "between 1 and 65535"),
        ({"target": {"port": True}}, "spec.target.port", "number or name"),
        ({"target": {"path": "debug"}}, "spec.target.path", "pattern"),
        ({"target": {"transport": "Ssh"}}, "spec.target.transport", "PortForward"),
        ({"schedule": {"interval": 60}}, "spec.schedule.interval", "write it as a string"),
        ({"schedule": {"interval": "1 minute"}}, "spec.schedule.interval", "invalid duration"),
        ({"profiles": {"heap": True}}, "spec.profiles.heap", "Enabled"),  # a bare YAML `On`
        ({"detection": {"significance": 0.01}}, "spec.detection.significance", "quoted string"),
        ({"detection": {"minHeapGrowth": "16MB"}}, "spec.detection.minHeapGrowth", "invalid quantity"),
        ({"detection": {"window": "1m"}}, "spec.detection.window", "no verdict could ever be reached"),
        ({"detection": {"allowlist": [" "]}}, "spec.detection.allowlist[0]", "blank"),
        (
            {"selector": {"matchLabels": {"bad key!": "x"}}},
            "spec.selector.matchLabels[bad key!]",
            "label key",
        ),
        (
            {"selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["-bad"]}]}},
            "spec.selector.matchExpressions[0].values[0]",
            "invalid label value",
        ),
    ],
)
def test_issue_names_field_and_reason(change: dict[str, Any], path: str, fragment: str) -> None:
    found = issues({**OK, **change})
    assert path in found, found
    assert fragment in found[path]


def test_all_issues_are_reported_together() -> None:
    raw = {"selector": {}, "detection": {"warmup": "3h"}, "schedule": {"interval": "30m"}}
    assert set(issues(raw)) == {"spec.selector", "spec.detection.warmup", "spec.detection.window"}


def test_parse_spec_raises_with_every_issue() -> None:
    with pytest.raises(InvalidSpecError) as caught:
        parse_spec({"selector": {}, "detection": {"warmup": "3h"}})
    assert [i.path for i in caught.value.issues] == ["spec.selector", "spec.detection.warmup"]
    assert str(FieldIssue("spec.x", "why")) == "spec.x: why"
