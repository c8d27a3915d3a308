"""A tiny kopf operator, in-process on the sandbox's own event loop, reacts to a custom resource."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf
import pytest
from support import crd

from kubesandbox import Sandbox

GROUP, VERSION, PLURAL = "sandbox.leakpatrol.test", "v1", "doodads"
CRD = crd(
    GROUP, VERSION, "Doodad", {"size": {"type": "integer"}, "unit": {"type": "string", "default": "cm"}}
)


def make_registry(sb: Sandbox) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        # Over HTTPS, trusting the sandbox CA only, with the admin token (what its kubeconfig holds).
        return kopf.ConnectionInfo(
            server=sb.url, token=sb.token, ca_path=str(sb.ca_path), default_namespace="default"
        )

    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    def created(spec: Any, patch: kopf.Patch, body: Any, **_: Any) -> None:
        patch.status["doubled"] = f"{spec['size'] * 2}{spec['unit']}"  # `unit` came from the CRD default
        kopf.info(body, reason="Doubled", message="size doubled")  # kopf posts a core/v1 Event

    return registry


async def doubled(sb: Sandbox, namespace: str, name: str, spec: dict[str, Any]) -> Any:
    """Create a Doodad and wait until the operator has written status.doubled."""
    metadata = {"name": name} if namespace == "default" else {"name": name, "namespace": namespace}
    sb.apply({"apiVersion": f"{GROUP}/{VERSION}", "kind": "Doodad", "metadata": metadata, "spec": spec})
    return await sb.wait_for(
        f"{GROUP}/{VERSION}",
        PLURAL,
        namespace,
        name,
        lambda obj: obj and (obj.get("status") or {}).get("doubled"),
        within=20,
    )


async def test_kopf_operator_reacts_to_a_custom_resource(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with Sandbox() as sb:
        sb.apply(CRD)
        settings = kopf.OperatorSettings()
        settings.watching.server_timeout = 5  # exercises watch timeoutSeconds: streams reconnect
        stop = asyncio.Event()
        operator = asyncio.create_task(
            kopf.operator(
                registry=make_registry(sb),
                settings=settings,
                namespaces=["default", "kopf-*"],  # a glob: kopf lists and watches namespaces
                standalone=True,
                stop_flag=stop,
            )
        )
        done = await doubled(sb, "default", "d1", {"size": 21})
        assert done["status"]["doubled"] == "42cm"
        events = sb.store.list(
            sb.kind("v1", "events"),
            "default",
            lambda e: e["involvedObject"]["name"] == "d1" and e["reason"] == "Doubled",
        )
        assert events and events[0]["involvedObject"]["uid"] == done["metadata"]["uid"]

        # A namespace created later that matches the glob is picked up too.
        sb.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kopf-late"}})
        late = await doubled(sb, "kopf-late", "d2", {"size": 5, "unit": "m"})
        assert late["status"]["doubled"] == "10m"
        stop.set()
        await asyncio.wait_for(operator, 15)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
