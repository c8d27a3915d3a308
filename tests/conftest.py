"""Shared fixtures. `sandbox`: one local cluster (tests/kubesandbox) per session, on its own thread."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from kubesandbox import ThreadedSandbox
    from leakpatrol.kube.client import ApiClient


@pytest.fixture(scope="session")
def sandbox() -> Iterator[ThreadedSandbox]:
    """A ThreadedSandbox: `.url` and `.kubeconfig_path` for kubectl and sync clients; `.sandbox` inside."""
    from kubesandbox import ThreadedSandbox  # noqa: PLC0415 - lazy: only sessions that use it import kmock

    with ThreadedSandbox() as sb:
        yield sb


@pytest.fixture
async def api(sandbox: ThreadedSandbox) -> AsyncIterator[ApiClient]:
    """An ApiClient the way the operator makes one: from the sandbox's kubeconfig file."""
    from leakpatrol.kube.connection import connect  # noqa: PLC0415 - only for tests that use it

    async with await connect(str(sandbox.kubeconfig_path)) as client:
        yield client
