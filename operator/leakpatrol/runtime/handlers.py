"""kopf wiring, kept thin: one daemon per LeakPolicy runs its scan loop; an edit wakes it.

The daemon's `body` is kopf's live view of the object, so every pass reads the current spec:
edits take effect without restarting anything, and `suspend` is honoured at the next pass.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf

from leakpatrol import metrics
from leakpatrol.api import API_VERSION, GROUP, KIND, PLURAL, VERSION
from leakpatrol.controller.events import EventIntent
from leakpatrol.controller.ports import Cluster
from leakpatrol.controller.scanner import Limits, PolicyScanner
from leakpatrol.kube.refs import ObjectRef

log = logging.getLogger(__name__)
ERROR_BACKOFF = (5.0, 300.0)  # first and longest wait after a pass failed on the API itself


@dataclass(slots=True)
class Runtime:
    """Set once at start-up by leakpatrol.runtime.main, read by the handlers."""

    cluster: Cluster | None = None
    limits: Limits = field(default_factory=Limits)
    wakeups: dict[str, asyncio.Event] = field(default_factory=dict)


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


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """The same sources, in the same order, as leakpatrol.kube.connect: the pod's service account,
    else $KUBECONFIG (set from --kubeconfig at start-up)."""
    info: kopf.ConnectionInfo | None = kopf.login_with_service_account(
        **kwargs
    ) or kopf.login_with_kubeconfig(**kwargs)
    return info


@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
async def spec_changed(body: kopf.Body, **_: Any) -> None:
    """Wake the policy's daemon so an edit (say, a shorter interval) applies now, not next pass."""
    wake = RUNTIME.wakeups.get(str(body.metadata.uid))
    if wake is not None:
        wake.set()


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=10.0)
async def scan_policy(body: kopf.Body, stopped: kopf.DaemonStopped, **_: Any) -> None:
    cluster = RUNTIME.cluster
    if cluster is None:
        raise kopf.PermanentError("leakpatrol runtime not initialised")
    ref = policy_ref(body)
    wake = RUNTIME.wakeups.setdefault(ref.uid, asyncio.Event())
    scanner = PolicyScanner(cluster, ref, RUNTIME.limits)
    failures = 0
    try:
        while not stopped:
            try:
                delay = await scanner.scan(body)
                failures = 0
            except Exception as exc:  # a pass must never kill the daemon: report, back off, go on
                failures += 1
                delay = min(ERROR_BACKOFF[0] * 2 ** (failures - 1), ERROR_BACKOFF[1])
                log.warning(
                    "policy %s/%s: scan pass failed (%s); retrying in %.0fs",
                    ref.namespace,
                    ref.name,
                    exc,
                    delay,
                )
                await _report_failure(cluster, ref, exc)
            await _sleep(stopped, wake, delay)
    finally:
        RUNTIME.wakeups.pop(ref.uid, None)
        metrics.forget_policy(ref.namespace or "", ref.name)


async def _sleep(stopped: kopf.DaemonStopped, wake: asyncio.Event, delay: float) -> None:
    wake.clear()
    waits = [asyncio.ensure_future(stopped.wait(delay)), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waits, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


async def _report_failure(cluster: Cluster, ref: ObjectRef, exc: Exception) -> None:
    try:
        await cluster.post_event(EventIntent(ref, "Warning", "ScanFailed", f"scan pass failed: {exc}"[:1024]))
    except Exception as post_exc:  # the API is what failed; do not fail harder than that
        log.debug("could not post ScanFailed: %s", post_exc)
