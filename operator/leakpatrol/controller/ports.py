"""What the scan loop needs from the cluster, as one narrow interface.

`leakpatrol.kube` implements it against a real API server; keeping the loop behind this seam
keeps it readable and lets the scan benchmark swap only the transport, never the logic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from leakpatrol.controller.events import EventIntent
from leakpatrol.controller.targets import ScanTarget
from leakpatrol.kube.fetch import Transport
from leakpatrol.kube.refs import ObjectRef


class TargetFetchError(Exception):
    """A target did not give a profile. `reason` is the Event reason (CamelCase)."""

    def __init__(self, reason: str, message: str, *, not_exposed: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.not_exposed = not_exposed  # a 404: the endpoint is not there (Auto profiles skip quietly)


@dataclass(frozen=True, slots=True)
class FetchOptions:
    transport: Transport
    scheme: str  # HTTP | HTTPS
    connect_timeout: float
    read_timeout: float
    total_timeout: float
    max_bytes: int


class Cluster(Protocol):
    async def list_pods(self, namespace: str, selector: Mapping[str, Any]) -> list[dict[str, Any]]: ...

    async def fetch(self, target: ScanTarget, path: str, options: FetchOptions) -> bytes:
        """GET path (with query) from the target's pprof port; raises TargetFetchError."""
        ...

    async def workload_of(self, pod: Mapping[str, Any]) -> ObjectRef: ...

    async def patch_status(self, policy: ObjectRef, status: Mapping[str, Any]) -> None: ...

    async def post_event(self, intent: EventIntent) -> None: ...

    async def load_checkpoint(self, policy: ObjectRef) -> bytes | None: ...

    async def save_checkpoint(self, policy: ObjectRef, blob: bytes) -> None: ...
