"""The rails, one pure function each: `None` lets the action through, a `Block` says why not.

Every rail fails closed: a missing field, an unknown kind or a status the API server has not caught
up with yet blocks the action, with a reason a person can read in the status and in an Event.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from leakpatrol.api import Finding, RemediationAction, TimeWindow, Workload, WorkloadRemediation
from leakpatrol.controller.remediation import timewindow
from leakpatrol.core import LeakState, Obj, SignalKind
from leakpatrol.reasons import Reason

RESTARTABLE = frozenset({"Deployment", "StatefulSet", "DaemonSet"})
# Evicting a pod nobody re-creates would delete the service: only pods with a controller.
EVICTABLE = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"})


@dataclass(frozen=True, slots=True)
class Block:
    reason: Reason  # for the status line, the Event and the metric
    message: str
    until: datetime | None = None  # when this rail will let it through, if known


def signature(f: Finding) -> str:
    """The leak's identity: its signal and the culprit's function names (lines move with edits)."""
    names = [frame.partition(" ")[0] for frame in f.culprit]
    return hashlib.sha256("|".join([f.signal.value, *names]).encode()).hexdigest()[:16]


def confirmed(f: Finding, passes: int, min_confirmations: int) -> Block | None:
    """Only a Confirmed leak that stayed Confirmed for `min_confirmations` passes; a heap-only
    finding twice as long, since heap grows for benign reasons (caches, GC pacing) in blips."""
    if f.state is not LeakState.CONFIRMED:
        return Block(Reason.NOT_CONFIRMED, f"the {f.signal.value} leak is only {f.state.value}")
    needed = min_confirmations * (2 if f.signal is SignalKind.HEAP else 1)
    if passes < needed:
        return Block(Reason.AWAITING_CONFIRMATIONS, f"confirmed in {passes} of {needed} consecutive passes")
    return None


def not_oom_looping(f: Finding) -> Block | None:
    """A workload whose containers the OOM killer is already restarting (OOMKilled within the
    finding's window) gets no restart from us: it would be one more of the restarts that keep
    hiding the leak. What helps is the fix, in the code."""
    if not f.oom_kills:
        return None
    times = "once" if f.oom_kills == 1 else f"{f.oom_kills} times"
    last = f", the last at {_t(f.last_oom_kill)}" if f.last_oom_kill else ""
    fix = f": {f.fix}" if f.fix else ""
    msg = f"already restarting on its own: OOMKilled {times} in the window{last}; a restart from"
    msg += f" leakpatrol would only hide the leak again. The fix is in the code{fix}"
    return Block(Reason.OOM_LOOP, msg)


def kind_supports(action: RemediationAction, kind: str) -> Block | None:
    allowed = RESTARTABLE if action is RemediationAction.ROLLOUT_RESTART else EVICTABLE
    if action is RemediationAction.NONE or kind not in allowed:
        return Block(Reason.UNSUPPORTED_WORKLOAD, f"{action.value} does not apply to a {kind}")
    return None


def not_suspended(w: WorkloadRemediation | None) -> Block | None:
    if w is not None and w.suspended:
        msg = "suspended: the leak came back after an action (see the RemediationSuspended condition)"
        return Block(Reason.REMEDIATION_SUSPENDED, msg)
    return None


def cooldown_over(w: WorkloadRemediation | None, cooldown: float, now: datetime) -> Block | None:
    if w is None or w.last_action_time is None:
        return None
    until = w.last_action_time + timedelta(seconds=cooldown)
    if now < until:
        return Block(
            Reason.COOLDOWN, f"last action at {_t(w.last_action_time)}; cooldown until {_t(until)}", until
        )
    return None


def budget_left(actions: Sequence[datetime], max_actions: int, window: float, now: datetime) -> Block | None:
    recent = sorted(t for t in actions if now - t < timedelta(seconds=window))
    if len(recent) < max_actions:
        return None
    until = recent[0] + timedelta(seconds=window)
    msg = f"{len(recent)} action(s) in the last {window:.0f}s reach maxActions {max_actions}"
    msg += f"; next after {_t(until)}"
    return Block(Reason.ACTION_BUDGET_EXHAUSTED, msg, until)


def one_at_a_time(in_action: Workload | None, candidate: Workload) -> Block | None:
    if in_action is None or in_action == candidate:
        return None
    return Block(
        Reason.ANOTHER_WORKLOAD_IN_ACTION, f"waiting for {in_action.kind}/{in_action.name} to settle first"
    )


def inside_windows(windows: Sequence[TimeWindow], now: datetime) -> Block | None:
    if timewindow.inside(windows, now):
        return None
    opens = timewindow.next_opening(windows, now)
    when = f"waiting until {_t(opens)}" if opens else "no allowed window opens within a week"
    return Block(Reason.OUTSIDE_ALLOWED_WINDOW, f"outside spec.remediation.allowedWindows; {when}", opens)


def is_recurrence(w: WorkloadRemediation | None, f: Finding, escalate_after: float, now: datetime) -> bool:
    """The same leak (workload and culprit) confirmed anew within `escalate_after` of an action:
    the restart only hid it. A finding flagged before the action is the old one, not a recurrence."""
    if w is None or w.last_action_time is None or escalate_after <= 0:
        return False
    fresh = f.state is LeakState.CONFIRMED and f.since > w.last_action_time
    soon = now - w.last_action_time <= timedelta(seconds=escalate_after)
    return fresh and soon and w.signature == signature(f)


def fully_available(kind: str, obj: Obj) -> Block | None:
    """Not mid-rollout and every replica updated and available (a restart now would stack up)."""
    meta, spec, st = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    if st.get("observedGeneration", -1) < meta.get("generation", 0):
        return Block(
            Reason.ROLLOUT_IN_PROGRESS,
            f"{kind} {meta.get('name')}: the controller has not observed the last change",
        )
    if kind == "DaemonSet":
        want, counts = (
            st.get("desiredNumberScheduled"),
            [st.get("updatedNumberScheduled"), st.get("numberAvailable")],
        )
    else:
        want = spec.get("replicas", 1)
        counts = [
            st.get("updatedReplicas", st.get("readyReplicas")),
            st.get("availableReplicas"),
            st.get("replicas"),
        ]
    if want is None or any(c != want for c in counts):
        return Block(
            Reason.WORKLOAD_NOT_AVAILABLE,
            f"{kind} {meta.get('name')}: not every replica is updated and available ({counts} of {want})",
        )
    return None


def one_pod_at_most(action: RemediationAction, kind: str, obj: Obj) -> Block | None:
    """The action takes at most one pod of the workload down at a time, and never its last
    available one. An eviction is one pod (the caller evicts no more), of a workload with two or
    more available; a restart is judged on the workload's own update strategy: Recreate, or a
    maxUnavailable over one, replaces more than one at once; a maxUnavailable of one with a
    single replica takes it down (a surge, maxUnavailable 0, starts the new pod first)."""
    meta, spec, st = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    what = f"{kind} {meta.get('name')}"
    if kind == "DaemonSet":
        replicas, available = st.get("desiredNumberScheduled", 0), st.get("numberAvailable", 0)
    else:
        replicas, available = spec.get("replicas", 1), st.get("availableReplicas", 0)
    if action is RemediationAction.EVICT_POD:
        if available < 2:
            return Block(
                Reason.AVAILABILITY_AT_RISK,
                f"{what} has {available} available pod(s): evicting one would leave none",
            )
        return None
    down = _down_at_once(kind, spec, replicas)
    if down is None:
        return Block(
            Reason.AVAILABILITY_AT_RISK, f"{what}: its update strategy is not one leakpatrol can judge"
        )
    if down > 1:
        return Block(
            Reason.AVAILABILITY_AT_RISK,
            f"{what}: a restart would take up to {down} pods down at once (its update strategy); "
            "leakpatrol takes at most one: set maxUnavailable to 1 (or 0 with a surge), or use EvictPod",
        )
    if down == 1 and replicas < 2:
        return Block(
            Reason.AVAILABILITY_AT_RISK,
            f"{what}: a restart would take its only pod down first (maxUnavailable 1): set maxUnavailable "
            "to 0 with a maxSurge, so the new pod starts first",
        )
    return None


def selects(kind: str, obj: Obj, pods: Mapping[str, Mapping[str, str]]) -> Block | None:
    """The workload's own selector selects every pod it is to act for (`pods`: name -> labels).
    A pod may name any owner in its ownerReferences: one the workload does not select is not its
    pod, and its leak is no reason to act on the workload. No selector, or no pod known: blocked."""
    name = (obj.get("metadata") or {}).get("name")
    selector = (obj.get("spec") or {}).get("selector")
    if selector is None or not pods:
        return Block(Reason.OWNER_MISMATCH, f"{kind} {name}: no selector or no pod of it to check")
    strays = sorted(pod for pod, labels in pods.items() if not selector_matches(selector, labels))
    if strays:
        return Block(
            Reason.OWNER_MISMATCH,
            f"{kind} {name}: its selector does not select pod {', '.join(strays)}, which names it as owner",
        )
    return None


def _down_at_once(kind: str, spec: Mapping[str, Any], replicas: int) -> int | None:
    """Pods a rollout may take down at once, as the controller resolves its strategy; None if unknown."""
    strategy = spec.get("strategy" if kind == "Deployment" else "updateStrategy") or {}
    kind_of = strategy.get("type") or "RollingUpdate"  # every apps/v1 workload's default
    if kind_of == "Recreate":
        return replicas
    if kind_of == "OnDelete":  # the template changes, no pod is replaced until someone deletes it
        return 0
    if kind_of != "RollingUpdate":
        return None
    rolling = strategy.get("rollingUpdate") or {}
    if kind == "Deployment":  # apps/v1 defaults: 25% / 25%; unavailable rounds down, surge up
        down = _scaled(rolling.get("maxUnavailable", "25%"), replicas, up=False)
        surge = _scaled(rolling.get("maxSurge", "25%"), replicas, up=True)
    else:  # StatefulSet, DaemonSet: one at a time unless told otherwise; percents round up
        down = _scaled(rolling.get("maxUnavailable", 1), replicas, up=True)
        surge = _scaled(rolling.get("maxSurge", 0), replicas, up=True) if kind == "DaemonSet" else 0
    if down is None or surge is None:
        return None
    return 1 if down == 0 and surge == 0 else down  # the controller's own fencepost


def _scaled(value: Any, total: int, *, up: bool) -> int | None:
    """An IntOrString: an int, or a percent of `total` rounded up or down."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        share = int(value[:-1]) * total
        return -(-share // 100) if up else share // 100
    return None


def budgets_allow(pdbs: Sequence[Obj], pod_labels: Mapping[str, str]) -> Block | None:
    """Every PodDisruptionBudget selecting the pods allows a disruption, in a status it has caught up on."""
    for pdb in pdbs:
        spec, st, meta = pdb.get("spec") or {}, pdb.get("status") or {}, pdb.get("metadata") or {}
        if not selector_matches(spec.get("selector"), pod_labels):
            continue
        current = st.get("observedGeneration", -1) >= meta.get("generation", 0)
        if not current or st.get("disruptionsAllowed", 0) < 1:
            allowed = st.get("disruptionsAllowed", 0)
            msg = f"PodDisruptionBudget {meta.get('name')} allows no disruption now ({allowed} allowed)"
            return Block(Reason.DISRUPTION_BUDGET_EXHAUSTED, msg)
    return None


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """metav1.LabelSelector semantics; a null selector matches nothing, an empty one everything."""
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for req in selector.get("matchExpressions") or []:
        key, op, values = req.get("key"), req.get("operator"), req.get("values") or []
        present = key in labels
        ok = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }.get(op, True)  # an operator we do not know: count the budget anyway (fail closed)
        if not ok:
            return False
    return True


def _t(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t else "?"
