"""Shared fixtures. `sandbox`: one local cluster (tests/kubesandbox) per session, on its own thread."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from kubesandbox import ThreadedSandbox
    from leakpatrol.kube.client import ApiClient


_RUNNING: list[ThreadedSandbox] = []  # the session's sandbox, once a test asked for it
SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})


@pytest.fixture(scope="session")
def sandbox() -> Iterator[ThreadedSandbox]:
    """A ThreadedSandbox: `.url` and `.kubeconfig_path` for kubectl and sync clients; `.sandbox` inside."""
    from kubesandbox import ThreadedSandbox  # noqa: PLC0415 - lazy: only sessions that use it import kmock

    with ThreadedSandbox() as sb:
        _RUNNING.append(sb)
        yield sb
        _RUNNING.clear()


def _namespaces() -> set[str]:
    if not _RUNNING:
        return set()
    items = httpx.get(f"{_RUNNING[0].url}/api/v1/namespaces", timeout=10).json()["items"]
    return {item["metadata"]["name"] for item in items}


@pytest.fixture(scope="module", autouse=True)
def _namespaces_go_with_their_module() -> Iterator[None]:
    """A module's namespaces are deleted when it ends, and with them their pods (real Go
    processes): otherwise every e2e module's busy services keep running for the rest of the
    session, and the CPU they take slows every later test."""
    before = _namespaces()
    yield
    for name in sorted(_namespaces() - before - SYSTEM_NAMESPACES):
        httpx.delete(f"{_RUNNING[0].url}/api/v1/namespaces/{name}", timeout=10)


@pytest.fixture
async def api(sandbox: ThreadedSandbox) -> AsyncIterator[ApiClient]:
    """An ApiClient the way the operator makes one: from the sandbox's kubeconfig file."""
    from leakpatrol.kube.connection import connect  # noqa: PLC0415 - only for tests that use it

    async with await connect(str(sandbox.kubeconfig_path)) as client:
        yield client
