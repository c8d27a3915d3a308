"""The async, in-process Sandbox on the test's own event loop: kmock's object histories stay available."""

from __future__ import annotations

from kubesandbox import Sandbox


async def test_kmock_object_history_is_kept() -> None:
    async with Sandbox() as sb:
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "h"}, "data": {"v": "1"}}
        sb.apply(cm)
        sb.apply({**cm, "data": {"v": "2"}})
        history = sb.objects["v1/configmaps", "default", "h"].history
        assert [version["data"]["v"] for version in history] == ["1", "2"]
