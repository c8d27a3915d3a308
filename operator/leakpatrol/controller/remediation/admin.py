"""What the cluster admin decides about remediation, and no LeakPolicy can change. Pure.

A tenant who may create LeakPolicies in its namespace — and nothing else — must get no power it
does not already have. So, set by operator flags (chart values), never by a policy:

- **where** remediation acts: in namespaces whose labels match `namespaces` (by default
  `leakpatrol.dev/remediation=enabled`, a label tenants usually cannot set, like Pod Security's).
  Elsewhere a policy reports what it would do, and that remediation is not enabled there;
- **how much**, across the cluster: `actions_per_hour`, every policy and replica together
  (`budget.py` keeps the count in the API server), of which one namespace's policies together
  take at most `namespace_actions_per_hour` (one tenant's leaks never spend everyone's budget);
- **floors** under the policy's rails: a policy's cooldown, window, minConfirmations and
  escalateAfter are raised to them (an escalateAfter of 0s, "never", too), and an action needs a
  finding raised by a trend over at least `min_samples` samples with a p-value at most
  `significance`, rising by at least `growth_goroutines` (heap: `growth_heap_bytes`) — a goroutine
  ceiling, an early rise, or the goroutineleak profile alone are reported, never acted on, and so is
  a policy's loosened thresholds' jitter;
- **who resumes** a suspension (`resume_at`): the admin, with the annotation
  `leakpatrol.dev/resume-remediation` on the Namespace; the policy's own annotation only when
  `tenant_resume` allows it. Either way its value must be a time (RFC 3339) after the suspension
  and not in the future: a value written once lifts the suspensions it was written for, never a
  later one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from leakpatrol.api import Finding, RemediationSpec
from leakpatrol.controller.remediation.rails import Block, selector_matches
from leakpatrol.controller.remediation.state import RESUME_ANNOTATION
from leakpatrol.core import FindingBasis, Obj, SignalKind
from leakpatrol.reasons import Reason

ENABLE_LABEL = "leakpatrol.dev/remediation"
DEFAULT_NAMESPACE_SELECTOR = f"{ENABLE_LABEL}=enabled"
DEFAULT_ACTIONS_PER_HOUR = 10
DEFAULT_NAMESPACE_ACTIONS_PER_HOUR = 5  # half of it: two busy tenants cannot starve a third
MAX_ACTIONS_PER_HOUR = 1000  # the ledger of the last hour's actions stays far under a ConfigMap's 1 MiB
RESUME_SKEW = timedelta(minutes=1)  # a resume time this far ahead of the server's clock still counts


@dataclass(frozen=True, slots=True)
class Floors:
    """The least a policy's rails may be; a policy may ask for more, never for less."""

    cooldown: float = 15 * 60.0  # seconds between actions on one workload
    window: float = 3600.0  # the policy's maxActions count over at least this
    confirmations: int = 2  # passes in a row a leak stays Confirmed
    escalate_after: float = 6 * 3600.0  # a leak back this soon after an action suspends (0s too)
    min_samples: int = 12  # samples behind the trend an action rests on
    significance: float = 0.01  # the highest p-value of that trend
    growth_goroutines: float = 50.0  # its growth over the window (current less baseline) ...
    growth_heap_bytes: float = float(16 << 20)  # ... in goroutines, or heap bytes in use


@dataclass(frozen=True, slots=True)
class AdminPolicy:
    namespace_selector: str = DEFAULT_NAMESPACE_SELECTOR
    actions_per_hour: int = DEFAULT_ACTIONS_PER_HOUR  # 0: no action anywhere
    floors: Floors = Floors()
    tenant_resume: bool = False  # the policy's own resume annotation is honoured too
    namespace_actions_per_hour: int = DEFAULT_NAMESPACE_ACTIONS_PER_HOUR  # of them, one namespace's
    selector: Obj = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        f, most = self.floors, MAX_ACTIONS_PER_HOUR
        if not 0 <= self.actions_per_hour <= most:
            raise ValueError(f"remediation actions per hour: 0..{most}, not {self.actions_per_hour}")
        if not 1 <= (share := self.namespace_actions_per_hour) <= most:
            raise ValueError(f"remediation actions per hour in one namespace: 1..{most}, not {share}")
        if f.confirmations < 1 or f.min_samples < 0 or not 0 < f.significance <= 1:
            raise ValueError(
                "remediation floors: confirmations >= 1, samples >= 0, 0 < p-value <= 1; not "
                f"{f.confirmations}, {f.min_samples}, {f.significance}"
            )
        try:
            object.__setattr__(self, "selector", parse_selector(self.namespace_selector))
        except ValueError as exc:
            raise ValueError(f"remediation namespace selector: {exc}") from exc

    # --- where --------------------------------------------------------------------------------------
    def not_enabled(self, namespace: str, obj: Obj | None, error: str = "") -> str | None:
        """Why remediation may not act in `namespace` (None: it may). Unread means not enabled."""
        if obj is None:
            return f"its labels could not be read ({error}), so it counts as not enabled"
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if selector_matches(self.selector, labels):
            return None
        return (
            f"it does not match the cluster's selector {self.namespace_selector!r}"
            f" (a label the cluster admin sets: kubectl label namespace {namespace} {self._hint()})"
        )

    def _hint(self) -> str:
        labels = self.selector.get("matchLabels") or {}
        return " ".join(f"{k}={v}" for k, v in labels.items()) or "..."

    # --- the floors ---------------------------------------------------------------------------------
    def effective(self, spec: RemediationSpec) -> RemediationSpec:
        """The policy's rails, each raised to its floor."""
        f = self.floors
        return spec.model_copy(
            update={
                "cooldown": max(spec.cooldown, f.cooldown),
                "window": max(spec.window, f.window),
                "min_confirmations": max(spec.min_confirmations, f.confirmations),
                "escalate_after": max(spec.escalate_after, f.escalate_after),  # 0s ("never") too
            }
        )

    def raised(self, spec: RemediationSpec) -> list[str]:
        """What `effective` changed, for people: `cooldown 15m (the policy's 0s)`."""
        out = []
        after = self.effective(spec)
        for name, word in (
            ("cooldown", "cooldown"),
            ("window", "window"),
            ("min_confirmations", "minConfirmations"),
            ("escalate_after", "escalateAfter"),
        ):
            mine, theirs = getattr(after, name), getattr(spec, name)
            if mine != theirs:
                out.append(f"{word} {_words(mine, name)} (the policy's {_words(theirs, name)})")
        return out

    def trend_confirmed(self, f: Finding) -> Block | None:
        """An action rests on a measured rise: a Trend over the floors' samples, p-value and growth."""
        min_samples, significance = self.floors.min_samples, self.floors.significance
        need = f"an action needs a trend over at least {min_samples} samples with p <= {significance:g}"
        if f.basis is not FindingBasis.TREND:
            what = {
                FindingBasis.EARLY: "a rise seen before detection.minSamples",
                FindingBasis.CEILING: "the goroutine ceiling alone",
                FindingBasis.RUNTIME: "the goroutineleak profile alone",
                None: "an older operator, not judged again yet",
            }[f.basis]
            return Block(
                Reason.TREND_NOT_CONFIRMED, f"the {f.signal.value} finding was raised by {what}; {need}"
            )
        if (f.samples or 0) < min_samples:
            return Block(
                Reason.TREND_NOT_CONFIRMED,
                f"the {f.signal.value} trend rests on {f.samples or 0} samples; {need}",
            )
        if float(f.p_value) > significance:
            return Block(Reason.TREND_NOT_CONFIRMED, f"the {f.signal.value} trend has p={f.p_value}; {need}")
        heap = f.signal is SignalKind.HEAP
        least = self.floors.growth_heap_bytes if heap else self.floors.growth_goroutines
        if f.current - f.baseline < least:
            unit = "heap bytes" if heap else "goroutines"
            return Block(
                Reason.TREND_NOT_CONFIRMED,
                f"the {f.signal.value} trend rose by {f.current - f.baseline} {unit} ({f.baseline} -> "
                f"{f.current}); an action needs a rise of at least {least:.0f}",
            )
        return None

    # --- who resumes --------------------------------------------------------------------------------
    def resume_at(self, policy: Mapping[str, Any], namespace: Obj | None, now: datetime) -> datetime | None:
        """The resume time that counts now: the Namespace's annotation (the admin's), or with
        `tenant_resume` the policy's own, whichever is later; None when neither is a time not
        in the future."""
        sources = [namespace or {}] + ([policy] if self.tenant_resume else [])
        times = [
            _time(((s.get("metadata") or {}).get("annotations") or {}).get(RESUME_ANNOTATION))
            for s in sources
        ]
        valid = [t for t in times if t is not None and t <= now + RESUME_SKEW]
        return max(valid, default=None)

    def resume_hint(self, policy_name: str, namespace: str) -> str:
        """The command that resumes, for the suspension's Event and condition."""
        when = '"$(date -u +%FT%TZ)"'
        admin = f"kubectl annotate namespace {namespace} {RESUME_ANNOTATION}={when} --overwrite"
        if not self.tenant_resume:
            return f"a cluster admin runs: {admin}"
        mine = (
            f"kubectl annotate leakpolicy {policy_name} -n {namespace} {RESUME_ANNOTATION}={when} --overwrite"
        )
        return f"{mine} (or a cluster admin: {admin})"


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return t if t.tzinfo is not None else None  # a time without a zone is ambiguous: not one


def _words(value: float, name: str) -> str:
    if name == "min_confirmations":
        return str(value)
    seconds = int(value)
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{value:g}s"


# --- label selectors, as kubectl writes them --------------------------------------------------------
_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_KEY = rf"(?:[a-z0-9](?:[-a-z0-9.]{{0,251}}[a-z0-9])?/)?{_NAME}"
_VALUE = rf"(?:{_NAME})?"
_SET = re.compile(rf"^({_KEY})\s+(in|notin)\s+\(([^()]*)\)$")
_EQUALS = re.compile(rf"^({_KEY})\s*(==|=|!=)\s*({_VALUE})$")
_EXISTS = re.compile(rf"^(!?)\s*({_KEY})$")


def parse_selector(text: str) -> Obj:
    """A label selector in kubectl's syntax (`a=b,c!=d,e in (f,g),h notin (i),j,!k`) as a
    metav1.LabelSelector (`matchLabels`, `matchExpressions`). An empty one selects everything.
    `ValueError` naming the bad part: the operator refuses to start with it."""
    labels: dict[str, str] = {}
    expressions: list[Obj] = []
    for part in _split(text):
        if m := _SET.match(part):
            values = [v.strip() for v in m.group(3).split(",")]
            if not values or any(not re.fullmatch(_VALUE, v) for v in values):
                raise ValueError(f"{part!r}: bad values")
            expressions.append(
                {"key": m.group(1), "operator": "In" if m.group(2) == "in" else "NotIn", "values": values}
            )
        elif m := _EQUALS.match(part):
            key, op, value = m.groups()
            if op == "!=":
                expressions.append({"key": key, "operator": "NotIn", "values": [value]})
            elif labels.setdefault(key, value) != value:
                raise ValueError(f"{part!r}: {key} is asked to be {labels[key]!r} already")
        elif m := _EXISTS.match(part):
            expressions.append({"key": m.group(2), "operator": "DoesNotExist" if m.group(1) else "Exists"})
        else:
            raise ValueError(
                f"{part!r} is not a label requirement (key=value, key!=value, key in (a,b), key, !key)"
            )
    return {"matchLabels": labels, "matchExpressions": expressions}


def _split(text: str) -> list[str]:
    """Requirements are separated by commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0 or depth > 1:
            raise ValueError(f"{text!r}: unbalanced parentheses")
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    if depth:
        raise ValueError(f"{text!r}: unbalanced parentheses")
    parts.append(current.strip())
    if parts == [""]:
        return []
    if "" in parts:
        raise ValueError(f"{text!r}: an empty requirement")
    return parts
