"""kopf wiring, kept thin: one daemon per LeakPolicy runs its scan loop; an edit wakes it.

The daemon's `body` is kopf's live view of the object, so every pass reads the current spec:
edits take effect without restarting anything, and `suspend` is honoured at the next pass.

Every replica runs the daemons, but a daemon scans only while this replica holds the Lease
(`leakpatrol.runtime.leadership`); a standby's daemons wait. Each term starts a fresh scanner, so a
replica that takes over resumes from the checkpoint the last leader wrote, not from its own memory.
With `--sharding` the same loop runs while this replica is a member (`leakpatrol.runtime.membership`),
and each pass scans only the shards the membership gives it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import kopf

from leakpatrol import metrics
from leakpatrol.api import API_VERSION, GROUP, KIND, PLURAL, VERSION
from leakpatrol.controller.capacity import SharedCapacity
from leakpatrol.controller.ports import Cluster, EventIntent
from leakpatrol.controller.scanner import PolicyScanner
from leakpatrol.core import ObjectRef, Permanent, Temporary
from leakpatrol.runtime.failures import FailureKind, PassFailure, classify
from leakpatrol.runtime.health import Health
from leakpatrol.runtime.leadership import Leadership
from leakpatrol.runtime.membership import Membership

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Runtime:
    """Set once at start-up by leakpatrol.runtime.main, read by the handlers."""

    cluster: Cluster | None = None
    limits: SharedCapacity = field(default_factory=SharedCapacity)
    wakeups: dict[str, asyncio.Event] = field(default_factory=dict)
    health: Health = field(default_factory=lambda: Health(started=time.monotonic()))
    leadership: Leadership | Membership = field(default_factory=Leadership.always)
    shards: Membership | None = None  # --sharding: each pass scans the shards it assigns us


RUNTIME = Runtime()


def policy_ref(body: Mapping[str, Any]) -> ObjectRef:
    meta = body.get("metadata") or {}
    return ObjectRef(
        API_VERSION, KIND, str(meta.get("name")), str(meta.get("uid", "")), str(meta.get("namespace"))
    )


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # We post our own, aggregated Events; kopf's per-handler ones would be noise on the policy.
    settings.posting.enabled = False
    # Keep kopf's bookkeeping in annotations with our prefix: status belongs to the API we publish.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
    # Reconnect watches every few minutes so a silently dead connection cannot stall the operator.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330


@kopf.on.cleanup()
async def resign(**_: Any) -> None:
    """Stopping: hand the Lease over now (a standby takes over at its next try, not after a lease)."""
    await RUNTIME.leadership.resign()


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """The same sources, in the same order, as leakpatrol.kube.connect: the pod's service account,
    else $KUBECONFIG (set from --kubeconfig at start-up)."""
    info: kopf.ConnectionInfo | None = kopf.login_with_service_account(
        **kwargs
    ) or kopf.login_with_kubeconfig(**kwargs)
    RUNTIME.health.logged_in = info is not None
    return info


@contextmanager
def kopf_errors() -> Iterator[None]:
    """Our error root, said in kopf's words, for handlers (a daemon maps errors itself)."""
    try:
        yield
    except Temporary as exc:
        raise kopf.TemporaryError(str(exc), delay=exc.retry_after or 10.0) from exc
    except Permanent as exc:
        raise kopf.PermanentError(str(exc)) from exc


@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
async def spec_changed(body: kopf.Body, **_: Any) -> None:
    """Wake the policy's daemon so an edit (say, a shorter interval) applies now, not next pass."""
    with kopf_errors():
        wake = RUNTIME.wakeups.get(str(body.metadata.uid))
        if wake is not None:
            wake.set()


@kopf.on.delete(GROUP, VERSION, PLURAL, optional=True)
async def policy_deleted(body: kopf.Body, **_: Any) -> None:
    """A deleted policy's checkpoint and evidence go too (they live in our namespace: no owner GC
    there). Optional: never hold up the deletion; a checkpoint left behind is never restored into
    another policy (its uid label does not match) and is overwritten by a policy of the same name.
    Evidence is looked for only where remediation ran or is asked for: a plain policy has none,
    and the operator may not even list it (the chart's remediation.enabled off)."""
    if RUNTIME.cluster is not None:
        ref = policy_ref(body)
        with kopf_errors():
            await RUNTIME.cluster.delete_checkpoint(ref)
            if may_have_evidence(body):
                await RUNTIME.cluster.delete_evidence(ref)


def may_have_evidence(body: Mapping[str, Any]) -> bool:
    """Remediation ran (its status says so) or is asked for (a pass may be saving some now)."""
    remediation = ((body.get("spec") or {}).get("remediation") or {}).get("action", "None")
    return (body.get("status") or {}).get("remediation") is not None or remediation != "None"


# cancellation_backoff: on delete, kopf first only signals `stopped` and waits this long; our loop
# ends after the pass in flight. Without it kopf cancels at once and logs "Will escalate" each time.
@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_backoff=5.0, cancellation_timeout=10.0)
async def scan_policy(body: kopf.Body, stopped: kopf.DaemonStopped, **_: Any) -> None:
    cluster = RUNTIME.cluster
    if cluster is None:
        raise kopf.PermanentError("leakpatrol runtime not initialised")
    ref = policy_ref(body)
    key, lead, health = f"{ref.namespace}/{ref.name}", RUNTIME.leadership, RUNTIME.health
    wake = RUNTIME.wakeups.setdefault(ref.uid, asyncio.Event())
    try:
        while await _until_leading(lead, stopped):
            health.pass_started(key, FIRST_PASS_BUDGET, time.monotonic())
            scanner = PolicyScanner(cluster, ref, RUNTIME.limits, shards=RUNTIME.shards)  # a term: restore
            await scan_loop(
                scanner,
                body,
                lambda: bool(stopped) or not lead.scans,
                lambda delay: _sleep(stopped, wake, lead, delay),
                lambda delay: health.pass_done(key, delay, time.monotonic()),
            )
            health.forget(key)  # a standby owes no passes ...
            metrics.forget_policy(ref.namespace or "", ref.name)  # ... and exports no stale gauges
    finally:
        health.forget(key)
        RUNTIME.wakeups.pop(ref.uid, None)
        metrics.forget_policy(ref.namespace or "", ref.name)
        await _evidence_of_a_deleted_policy(cluster, body, ref)


async def _evidence_of_a_deleted_policy(cluster: Cluster, body: kopf.Body, ref: ObjectRef) -> None:
    """The policy is being deleted and its daemon has stopped: delete its evidence once more, after
    the pass that was in flight (it may have saved some after the delete handler ran). kopf keeps
    its finalizer until the daemon has exited, so nothing of the policy's can follow this."""
    if not (body.get("metadata") or {}).get("deletionTimestamp") or not may_have_evidence(body):
        return
    try:
        await cluster.delete_evidence(ref)
    except Exception as exc:  # the delete handler did it already (or reports why it could not)
        log.info("policy %s/%s: evidence not deleted after its last pass: %s", ref.namespace, ref.name, exc)


FIRST_PASS_BUDGET = 60.0  # seconds a first pass (restore + a full scan) is given, before slack


async def _until_leading(lead: Leadership | Membership, stopped: kopf.DaemonStopped) -> bool:
    """Wait until this replica leads (True) or the daemon is stopped (False)."""
    while not stopped and not lead.scans:
        waits = [asyncio.ensure_future(stopped.wait()), asyncio.ensure_future(lead.wait_scanning())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
    return not stopped


async def scan_loop(
    scanner: PolicyScanner,
    body: Mapping[str, Any],
    stopped: Callable[[], bool],
    sleep: Callable[[float], Awaitable[None]],
    done: Callable[[float], None] = lambda _: None,
) -> None:
    """Pass after pass until stopped; a failed pass never ends the loop. `done(delay)` after each."""
    failures = 0
    while not stopped():
        try:
            delay = await scanner.scan(body)
            failures = 0
        except Exception as exc:  # mapped once, by kind: see leakpatrol.runtime.failures
            failures += 1
            failure = classify(exc, failures)
            await report_failure(scanner, body, failure, exc, first=failures == 1)
            delay = failure.delay
        done(delay)
        await sleep(delay)


async def report_failure(
    scanner: PolicyScanner, body: Mapping[str, Any], f: PassFailure, exc: Exception, *, first: bool
) -> None:
    ref = scanner.policy
    where = f"policy {ref.namespace}/{ref.name}"
    metrics.SCAN_FAILURES.labels(ref.namespace or "", ref.name, f.kind.value, f.reason).inc()
    if f.kind is FailureKind.INTERNAL:
        log.exception("%s: %s", where, f.message, exc_info=exc)
        metrics.INTERNAL_ERRORS.labels(ref.namespace or "", ref.name).inc()
    else:
        log.warning("%s: %s (%s); next pass in %.0fs", where, f.message, f.reason, f.delay)
    try:
        if f.kind is FailureKind.PERMANENT:
            await scanner.report_not_ready(body, f.reason, f.message)
        elif first:  # one Event per run of failures; the log has every one
            await scanner.cluster.post_event(EventIntent.of(ref, f.reason, f.message))
    except Exception as post_exc:  # the API may be what failed; do not fail harder than that
        log.debug("%s: could not report the failure: %s", where, post_exc)


async def _sleep(
    stopped: kopf.DaemonStopped, wake: asyncio.Event, lead: Leadership | Membership, delay: float
) -> None:
    """Until the next pass, an edit of the spec, the daemon's stop, or a change of leadership."""
    wake.clear()
    waits = [
        asyncio.ensure_future(stopped.wait(delay)),
        asyncio.ensure_future(wake.wait()),
        asyncio.ensure_future(lead.next_change().wait()),
    ]
    try:
        await asyncio.wait(waits, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
