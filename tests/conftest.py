"""Shared fixtures. `sandbox`: one local cluster (tests/kubesandbox) per session, on its own thread."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from kubesandbox import ThreadedSandbox


@pytest.fixture(scope="session")
def sandbox() -> Iterator[ThreadedSandbox]:
    """A ThreadedSandbox: `.url` and `.kubeconfig_path` for kubectl and sync clients; `.sandbox` inside."""
    from kubesandbox import ThreadedSandbox  # noqa: PLC0415 - lazy: only sessions that use it import kmock

    with ThreadedSandbox() as sb:
        yield sb
