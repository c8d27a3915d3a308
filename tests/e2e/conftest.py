"""The e2e tier: every test here is marked `e2e` and `slow` (so `make fast` leaves it out by marker).

Fixtures, once for every module here: `sandbox`, one local cluster (tests/kubesandbox) per session on
its own thread; `api`, an ApiClient to it; `kubectl`, a Kubectl with the CRDs applied; `operator`,
one `leakpatrol operator` process per module. Helpers that are not fixtures are in support.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from harness import ROOT, Kubectl, OperatorProcess
from support import free_port

if TYPE_CHECKING:
    from kubesandbox import ThreadedSandbox
    from leakpatrol.kube.client import ApiClient


HERE = Path(__file__).parent
_RUNNING: list[ThreadedSandbox] = []  # the session's sandbox, once a test asked for it
SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[ThreadedSandbox]:
    """A ThreadedSandbox: `.url` and `.kubeconfig_path` for kubectl and sync clients; `.sandbox` inside.
    A crashed container comes back after 0.5 s, doubling to at most 10 s (the kubelet's 10 s to 5 min
    would only slow the tests down); memory limits are enforced as the machine allows."""
    from kubesandbox import Backoff, ThreadedSandbox  # noqa: PLC0415 - lazy: only sessions that use it import kmock

    with ThreadedSandbox(backoff=Backoff(base=0.5, cap=10.0)) as sb:
        _RUNNING.append(sb)
        yield sb
        _RUNNING.clear()


def _admin() -> httpx.Client:
    """An HTTPS client to the session's sandbox: its CA, the admin's token."""
    sb = _RUNNING[0]
    return httpx.Client(
        base_url=sb.url, verify=sb.ssl_context(), headers={"Authorization": f"Bearer {sb.token}"}, timeout=10
    )


def _namespaces() -> set[str]:
    if not _RUNNING:
        return set()
    with _admin() as client:
        items = client.get("/api/v1/namespaces").raise_for_status().json()["items"]
    return {item["metadata"]["name"] for item in items}


@pytest.fixture(scope="module", autouse=True)
def _namespaces_go_with_their_module() -> Iterator[None]:
    """A module's namespaces are deleted when it ends, and with them their pods (real Go
    processes): otherwise every e2e module's busy services keep running for the rest of the
    session, and the CPU they take slows every later test."""
    before = _namespaces()
    yield
    doomed = sorted(_namespaces() - before - SYSTEM_NAMESPACES)
    if doomed:
        with _admin() as client:
            for name in doomed:
                client.delete(f"/api/v1/namespaces/{name}")


@pytest.fixture
async def api(sandbox: ThreadedSandbox) -> AsyncIterator[ApiClient]:
    """An ApiClient the way the operator makes one: from the sandbox's kubeconfig file."""
    from leakpatrol.kube.connection import connect  # noqa: PLC0415 - only for tests that use it

    async with await connect(str(sandbox.kubeconfig_path)) as client:
        yield client


@pytest.fixture(scope="module")
def kubectl(sandbox: ThreadedSandbox) -> Kubectl:
    """kubectl against the sandbox, the LeakPolicy CRD applied."""
    k = Kubectl(sandbox.kubeconfig_path)
    k("apply", "-f", str(ROOT / "crds"))
    return k


@pytest.fixture(scope="module")
def operator(sandbox: ThreadedSandbox, kubectl: Kubectl) -> Iterator[OperatorProcess]:
    """One `leakpatrol operator` process for the module, /metrics on a free port; no traceback in its log."""
    with OperatorProcess(sandbox.kubeconfig_path, metrics_port=free_port()) as op:
        yield op
    assert "Traceback" not in op.log(), op.log()[-3000:]
