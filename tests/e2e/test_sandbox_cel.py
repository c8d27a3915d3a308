"""CRD CEL rules (`x-kubernetes-validations`) in the sandbox, through real kubectl, as a real API
server words them: every rule of our CRD refuses a bad LeakPolicy and accepts a near-identical good
one; transition rules (oldSelf), ratcheting, messageExpression/fieldPath/reason; a CRD whose rule does
not compile or costs too much is refused; the examples and the README's snippet still apply."""

from __future__ import annotations

import copy
import re
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness import ROOT, Kubectl

BASE: dict[str, Any] = {"selector": {"matchLabels": {"app": "web"}}}


def policy(spec: dict[str, Any], name: str = "p") -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "leakpatrol.dev/v1alpha1",
            "kind": "LeakPolicy",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


def merged(change: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(BASE)
    for key, value in change.items():
        spec[key] = {**spec.get(key, {}), **value} if key != "selector" else value
    return spec


def dry_apply(kubectl: Kubectl, text: str, namespace: str = "default") -> tuple[int, str]:
    done = kubectl.run("apply", "--dry-run=server", "-n", namespace, "-f", "-", stdin=text, check=False)
    return done.returncode, done.stderr.strip()


# (a change to BASE that breaks one rule, the field the server names, its message) and a near-identical
# change that keeps it: one pair per rule of crds/leakpolicy.yaml (14 rules).
RULES: list[tuple[str, dict[str, Any], dict[str, Any], str, str]] = [
    (
        "spec: goroutineleakInterval >= interval",
        {"profiles": {"goroutineleakInterval": "30s"}},
        {"profiles": {"goroutineleakInterval": "1m"}},
        "spec",
        "profiles.goroutineleakInterval must be at least schedule.interval",
    ),
    (
        "selector not empty",
        {"selector": {"matchLabels": {}}},
        {"selector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]}},
        "spec.selector",
        "selector must not be empty — it would select every pod in the namespace",
    ),
    (
        "matchExpressions values",
        {"selector": {"matchExpressions": [{"key": "app", "operator": "In"}]}},
        {"selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}},
        "spec.selector.matchExpressions[0]",
        "values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist",
    ),
    (
        "port number",
        {"target": {"port": 70000}},
        {"target": {"port": 65535}},
        "spec.target.port",
        "port must be a number 1-65535 or a container port name of at most 15 characters",
    ),
    (
        "port name",
        {"target": {"port": "a-very-long-port-name"}},
        {"target": {"port": "pprof"}},
        "spec.target.port",
        "port must be a number 1-65535 or a container port name of at most 15 characters",
    ),
    (
        "timeouts",
        {"target": {"timeouts": {"connect": "40s"}}},
        {"target": {"timeouts": {"connect": "30s"}}},
        "spec.target.timeouts",
        "timeouts must be positive, and connect and read at most total",
    ),
    (
        "interval >= 1s",
        {"schedule": {"interval": "500ms"}},
        {"schedule": {"interval": "1s", "jitter": "10%"}},
        "spec.schedule",
        "interval must be at least 1s",
    ),
    (
        "jitter < interval",
        {"schedule": {"jitter": "2m"}},
        {"schedule": {"jitter": "30s"}},
        "spec.schedule",
        "jitter must be shorter than interval",
    ),
    (
        "a profile enabled",
        {"profiles": {"goroutine": "Disabled", "heap": "Disabled", "goroutineleak": "Disabled"}},
        {"profiles": {"goroutine": "Disabled", "heap": "Enabled", "goroutineleak": "Disabled"}},
        "spec.profiles",
        "at least one profile must be enabled",
    ),
    (
        "goroutineleakInterval >= 1s",
        {"schedule": {"interval": "1s"}, "profiles": {"goroutineleakInterval": "900ms"}},
        {"schedule": {"interval": "1s"}, "profiles": {"goroutineleakInterval": "1s"}},
        "spec.profiles",
        "goroutineleakInterval must be at least 1s",
    ),
    (
        "window > 0",
        {"detection": {"window": "0s", "warmup": "0s"}},
        {"detection": {"window": "1s", "warmup": "0s"}},
        "spec.detection",
        "window must be positive",
    ),
    (
        "warmup < window",
        {"detection": {"warmup": "2h"}},
        {"detection": {"warmup": "1h59m"}},
        "spec.detection",
        "warmup must be shorter than window",
    ),
    (
        "maxSamples >= minSamples",
        {"detection": {"maxSamples": 10}},
        {"detection": {"maxSamples": 12}},
        "spec.detection",
        "maxSamples must be at least minSamples",
    ),
    (
        "significance",
        {"detection": {"significance": "0.5"}},
        {"detection": {"significance": "0.49"}},
        "spec.detection",
        'significance must be between 0 and 0.5, e.g. "0.01"',
    ),
    (
        "extraRules match",
        {"detection": {"extraRules": [{"id": "r", "match": {}, "cause": "c", "fix": "f"}]}},
        {
            "detection": {
                "extraRules": [{"id": "r", "match": {"waitKind": "chan send"}, "cause": "c", "fix": "f"}]
            }
        },
        "spec.detection.extraRules[0].match",
        "match needs frame or waitKind",
    ),
]


def test_every_rule_of_the_crd_has_a_case() -> None:
    crd = (ROOT / "crds" / "leakpolicy.yaml").read_text()
    assert len(re.findall(r"^\s*- rule:", crd, re.M)) == len({r[4] for r in RULES}) == 14


def test_a_policy_with_a_500ms_interval_is_refused_with_the_rules_message(kubectl: Kubectl) -> None:
    done = kubectl.run(
        "apply", "-f", "-", stdin=policy(merged({"schedule": {"interval": "500ms"}})), check=False
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        'The LeakPolicy "p" is invalid: spec.schedule: Invalid value: "object": interval must be at least 1s'
    )
    assert "No resources found" in kubectl.run("get", "leakpolicies", "-n", "default").stderr


@pytest.mark.parametrize(
    ("bad", "good", "field", "message"), [r[1:] for r in RULES], ids=[r[0] for r in RULES]
)
def test_each_rule_refuses_a_bad_policy_and_accepts_a_good_one(
    kubectl: Kubectl, bad: dict[str, Any], good: dict[str, Any], field: str, message: str
) -> None:
    code, error = dry_apply(kubectl, policy(merged(bad)))
    assert code == 1, error
    value = '""' if field == "spec.target.port" else '"object"'  # int-or-string has no type
    assert f"{field}: Invalid value: {value}: {message}" in error
    assert dry_apply(kubectl, policy(merged(good))) == (0, "")


def test_rules_run_beside_schema_errors_unless_the_object_has_the_wrong_shape(kubectl: Kubectl) -> None:
    """As strategy.go does: a pattern or range error still lets the rules run (both are reported);
    an enum, type, required or size error stops them, with the server's note saying so."""
    code, error = dry_apply(
        kubectl, policy(merged({"target": {"path": "nope"}, "schedule": {"interval": "500ms"}}))
    )
    assert code == 1
    assert 'spec.target.path: Invalid value: "nope"' in error
    assert 'spec.schedule: Invalid value: "object": interval must be at least 1s' in error
    code, error = dry_apply(
        kubectl, policy(merged({"target": {"transport": "Carrier"}, "schedule": {"interval": "500ms"}}))
    )
    assert code == 1
    assert 'spec.target.transport: Unsupported value: "Carrier"' in error
    assert (
        '<nil>: Invalid value: "null": some validation rules were not checked because the object was '
        "invalid; correct the existing errors to complete validation"
    ) in error
    assert "interval must be at least 1s" not in error


def test_a_minimal_policy_applies_though_its_rules_name_defaulted_fields(kubectl: Kubectl) -> None:
    """Every rule reads fields that only defaulting fills in: run before defaulting, or without a
    `default`, they would be a `no such key` error on every minimal policy."""
    namespace = f"cel-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", namespace)
    kubectl.run("apply", "-n", namespace, "-f", "-", stdin=policy(BASE, "minimal"))
    stored = kubectl.json("get", "leakpolicy", "minimal", "-n", namespace)
    assert stored["spec"]["schedule"] == {"interval": "1m", "jitter": "10%"}


EXAMPLES = sorted((ROOT / "examples").glob("leakpolicy*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_examples_still_apply(kubectl: Kubectl, path: Path) -> None:
    document = yaml.safe_load(path.read_text())
    document["metadata"].pop("namespace", None)
    assert dry_apply(kubectl, yaml.safe_dump(document)) == (0, "")


def test_the_readme_remediation_snippet_applies(kubectl: Kubectl) -> None:
    readme = (ROOT / "README.md").read_text()
    snippet = next(b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "remediation:" in b)
    spec = {**BASE, **yaml.safe_load(snippet)["spec"]}
    assert dry_apply(kubectl, policy(spec)) == (0, "")


WIDGETS = textwrap.dedent("""
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata: {name: widgets.cel.leakpatrol.test}
    spec:
      group: cel.leakpatrol.test
      scope: Namespaced
      names: {plural: widgets, singular: widget, kind: Widget}
      versions:
        - name: v1
          served: true
          storage: true
          subresources: {status: {}}
          schema:
            openAPIV3Schema:
              type: object
              properties:
                status:
                  type: object
                  properties: {phase: {type: string, maxLength: 16}}
                  x-kubernetes-validations:
                    - {rule: "self.phase != 'Broken'", message: phase must not be Broken}
                spec:
                  type: object
                  x-kubernetes-validations:
                    - rule: self.owner == oldSelf.owner
                      message: owner is immutable
                    - rule: "!has(self.limit) || self.limit >= self.floor"
                      messageExpression: "'limit ' + string(self.limit) + ' < floor ' + string(self.floor)"
                      fieldPath: .limit
                    - rule: "size(self.tags) <= 3"
                      reason: FieldValueForbidden
                      message: at most 3 tags
                  properties:
                    owner: {type: string, maxLength: 64}
                    floor: {type: integer, default: 1}
                    limit: {type: integer}
                    tags: {type: array, maxItems: 10, items: {type: string, maxLength: 16}, default: []}
                    strict:
                      type: object
                      properties: {count: {type: integer}}
                      x-kubernetes-validations: [{rule: "self.count > 0"}]
""")


WIDGET_RESOURCE = "widgets.cel.leakpatrol.test"


def widget(spec: dict[str, Any], name: str = "w") -> str:
    return yaml.safe_dump(
        {"apiVersion": "cel.leakpatrol.test/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec}
    )


@pytest.fixture(scope="module")
def widgets(kubectl: Kubectl) -> str:
    kubectl.run("apply", "-f", "-", stdin=WIDGETS)
    namespace = f"cel-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", namespace)
    return namespace


def test_a_transition_rule_runs_on_update_only(kubectl: Kubectl, widgets: str) -> None:
    apply = ["apply", "-n", widgets, "-f", "-"]
    kubectl.run(*apply, stdin=widget({"owner": "ann"}))  # a create: no oldSelf, the rule does not run
    done = kubectl.run(*apply, stdin=widget({"owner": "bob"}), check=False)
    assert done.stderr.strip() == (
        'The Widget "w" is invalid: spec: Invalid value: "object": owner is immutable'
    )
    kubectl.run(*apply, stdin=widget({"owner": "ann", "limit": 5}))  # same owner: fine


def test_a_rule_under_status_runs_on_status_writes(kubectl: Kubectl, widgets: str) -> None:
    kubectl.run("apply", "-n", widgets, "-f", "-", stdin=widget({"owner": "sam"}, "s"))
    # By its full name: test_sandbox_api's CRD in the same session serves a `widget` of its own group.
    patch = ["patch", WIDGET_RESOURCE, "s", "-n", widgets, "--subresource=status", "--type=merge", "-p"]
    kubectl(*patch, '{"status": {"phase": "Running"}}')
    done = kubectl.run(*patch, '{"status": {"phase": "Broken"}}', check=False)
    assert done.stderr.strip() == (
        'The Widget "s" is invalid: status: Invalid value: "object": phase must not be Broken'
    )
    assert kubectl.json("get", WIDGET_RESOURCE, "s", "-n", widgets)["status"] == {"phase": "Running"}


def test_message_expression_field_path_and_reason(kubectl: Kubectl, widgets: str) -> None:
    code, error = dry_apply(kubectl, widget({"owner": "x", "floor": 10, "limit": 3}, "d"), widgets)
    assert code == 1
    assert 'spec.limit: Invalid value: "object": limit 3 < floor 10' in error
    code, error = dry_apply(kubectl, widget({"owner": "x", "tags": ["a", "b", "c", "d"]}, "d"), widgets)
    assert code == 1
    assert "spec: Forbidden: at most 3 tags" in error


def test_a_rule_on_an_absent_field_errors_at_run_time(kubectl: Kubectl, widgets: str) -> None:
    """`self.count` where count is optional and absent: a real server's `no such key` 422 (the rule
    needs a has() guard), worded with the default message since the rule has none."""
    code, error = dry_apply(kubectl, widget({"owner": "x", "strict": {}}, "d"), widgets)
    assert code == 1
    assert 'spec.strict: Invalid value: "object": no such key: count evaluating rule: self.count > 0' in error
    assert dry_apply(kubectl, widget({"owner": "x", "strict": {"count": 1}}, "d"), widgets) == (0, "")
    code, error = dry_apply(kubectl, widget({"owner": "x", "strict": {"count": 0}}, "d"), widgets)
    assert 'spec.strict: Invalid value: "object": failed rule: self.count > 0' in error


def test_a_failing_value_that_did_not_change_is_ratcheted(kubectl: Kubectl, widgets: str) -> None:
    """CRDValidationRatcheting (on by default since 1.30): once a rule is tightened, an update that
    leaves a now-failing value as it was is accepted; changing that value is checked."""
    apply = ["apply", "-n", widgets, "-f", "-"]
    kubectl.run(*apply, stdin=widget({"owner": "cid", "strict": {"count": 5}}, "r"))
    try:
        kubectl.run("apply", "-f", "-", stdin=WIDGETS.replace("self.count > 0", "self.count > 9"))
        kubectl.run(*apply, stdin=widget({"owner": "cid", "strict": {"count": 5}, "limit": 7}, "r"))
        done = kubectl.run(*apply, stdin=widget({"owner": "cid", "strict": {"count": 6}}, "r"), check=False)
        assert 'spec.strict: Invalid value: "object": failed rule: self.count > 9' in done.stderr
    finally:
        kubectl.run("apply", "-f", "-", stdin=WIDGETS)


def crd_with_rule(rule: str, name: str = "gizmos") -> str:
    return textwrap.dedent(f"""
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {{name: {name}.cel.leakpatrol.test}}
        spec:
          group: cel.leakpatrol.test
          scope: Namespaced
          names: {{plural: {name}, singular: {name[:-1]}, kind: {name[:-1].title()}}}
          versions:
            - name: v1
              served: true
              storage: true
              schema:
                openAPIV3Schema:
                  type: object
                  properties:
                    spec:
                      type: object
                      x-kubernetes-validations: [{{rule: {rule!r}}}]
                      properties:
                        interval: {{type: string, maxLength: 32}}
                        names: {{type: array, items: {{type: string}}}}
    """)


RULE_FIELD = "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule"


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        (
            "duration(self.interval) >=",
            "compilation failed: ERROR: <input>:1:27: Syntax error: mismatched input '<EOF>'",
        ),
        (
            "durration(self.interval) > duration('1s')",
            "compilation failed: ERROR: <input>:1:10: undeclared reference to 'durration'",
        ),
        (
            "duration(self.intervall) > duration('1s')",
            "compilation failed: ERROR: <input>:1:15: undefined field 'intervall'",
        ),
        ("size(self.names)", "cel expression must evaluate to a bool"),
    ],
    ids=["syntax", "unknown-function", "unknown-field", "not-bool"],
)
def test_a_crd_whose_rule_does_not_compile_is_refused(kubectl: Kubectl, rule: str, problem: str) -> None:
    done = kubectl.run("apply", "-f", "-", stdin=crd_with_rule(rule), check=False)
    assert done.returncode == 1
    error = done.stderr
    assert error.startswith('The CustomResourceDefinition "gizmos.cel.leakpatrol.test" is invalid: '), error
    assert f"{RULE_FIELD}: Invalid value: apiextensions.ValidationRule{{Rule:" in error
    assert problem in error
    assert kubectl.run("get", "crd", "gizmos.cel.leakpatrol.test", check=False).returncode == 1


def test_a_crd_whose_rule_costs_too_much_is_refused(kubectl: Kubectl) -> None:
    """A regex over every item of an unbounded list of unbounded strings: the server's estimate is far
    over its 10M per-rule limit; with maxItems and maxLength it fits."""
    rule = "self.names.all(n, n.matches('^[a-z]+(-[a-z]+)*$'))"
    done = kubectl.run("apply", "-f", "-", stdin=crd_with_rule(rule, "doodads"), check=False)
    assert done.returncode == 1
    assert (
        f"{RULE_FIELD}: Forbidden: estimated rule cost exceeds budget by factor of more than 100x"
        in done.stderr
    )
    bounded = crd_with_rule(rule, "doodads").replace(
        "{type: array, items: {type: string}}",
        "{type: array, maxItems: 16, items: {type: string, maxLength: 63}}",
    )
    kubectl.run("apply", "-f", "-", stdin=bounded)
