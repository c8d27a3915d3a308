"""The first list of LeakPolicies (readiness) and a slow heartbeat list after it (liveness).

Listing one LeakPolicy proves what readiness means: we are logged in, the CRD is installed, and RBAC
lets us read it. Repeating it every `every` seconds keeps the liveness clock honest on a quiet
operator: with no policies and leader election off, nothing else would call the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from leakpatrol.api import GROUP, PLURAL, VERSION
from leakpatrol.kube import errors
from leakpatrol.kube.client import ApiClient
from leakpatrol.runtime.health import Health

log = logging.getLogger(__name__)


def list_path(namespaces: tuple[str, ...]) -> str:
    """Cluster-wide, or in the first watched namespace (a namespaced Role grants no more)."""
    if not namespaces:
        return f"/apis/{GROUP}/{VERSION}/{PLURAL}"
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespaces[0]}/{PLURAL}"


async def heartbeat(
    api: ApiClient, namespaces: tuple[str, ...], health: Health, stop: asyncio.Event, every: float = 30.0
) -> None:
    path = list_path(namespaces)
    while not stop.is_set():
        try:
            await api.get(path, {"limit": "1"})
            if not health.listed:
                log.info("LeakPolicies listed: ready")
            health.listed = True
            health.heard(time.monotonic())
        except errors.ApiError as exc:
            log.warning("cannot list LeakPolicies (%s): not ready until we can", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every if health.listed else 2.0)
