"""read_checkpoint / write_checkpoint against the sandbox: roundtrip, ownership and GC, concurrency, caps."""

from __future__ import annotations

import asyncio
import base64
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_kube_support import delete_namespace, make_namespace

from leakpatrol.core import CheckpointCorrupt, ObjectRef
from leakpatrol.kube.client import ApiClient
from leakpatrol.kube.configmaps import KEY, read_checkpoint, write_checkpoint
from leakpatrol.kube.errors import CheckpointTooLarge, Conflict, NotFound

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ns(sandbox: Any) -> Iterator[str]:
    sandbox.apply_yaml((ROOT / "crds" / "leakpolicy.yaml").read_text())
    name = make_namespace(sandbox, "ckpt")
    yield name
    delete_namespace(sandbox, name)


def make_policy(sandbox: Any, ns: str, name: str) -> ObjectRef:
    policy = yaml.safe_load((ROOT / "examples" / "leakpolicy.yaml").read_text())
    policy["metadata"] = {"name": name, "namespace": ns}
    return ObjectRef.of(sandbox.apply_yaml(yaml.safe_dump(policy))[0])


async def test_roundtrip_with_owner_and_optimistic_concurrency(sandbox: Any, api: ApiClient, ns: str) -> None:
    policy = make_policy(sandbox, ns, "checkout")
    # The store keeps the bytes it is given: the caller (detect.checkpoint.encode) compressed them.
    state = zlib.compress(b'{"series": [' + b"1234," * 50_000 + b"0]}")
    assert await read_checkpoint(api, ns, "checkout-state") is None

    rv = await write_checkpoint(api, ns, "checkout-state", state, policy)
    stored = await read_checkpoint(api, ns, "checkout-state")
    assert stored is not None and stored.data == state and stored.resource_version == rv

    cm = await api.get(f"/api/v1/namespaces/{ns}/configmaps/checkout-state")
    assert cm["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "leakpatrol.dev/v1alpha1",
            "kind": "LeakPolicy",
            "name": "checkout",
            "uid": policy.uid,
            "controller": True,
        }
    ]
    assert base64.b64decode(cm["binaryData"][KEY]) == state
    assert cm["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "leakpatrol"

    rv2 = await write_checkpoint(api, ns, "checkout-state", b"v2", policy, resource_version=rv)
    assert rv2 != rv and (await read_checkpoint(api, ns, "checkout-state")) == type(stored)(b"v2", rv2)
    with pytest.raises(Conflict):  # another writer (an old replica) still holding rv
        await write_checkpoint(api, ns, "checkout-state", b"stale", policy, resource_version=rv)
    with pytest.raises(Conflict):  # a blind create over an existing checkpoint
        await write_checkpoint(api, ns, "checkout-state", b"blind", policy)
    assert (await read_checkpoint(api, ns, "checkout-state")) == type(stored)(b"v2", rv2)


async def test_deleting_the_policy_collects_its_checkpoint(sandbox: Any, api: ApiClient, ns: str) -> None:
    policy = make_policy(sandbox, ns, "doomed")
    await write_checkpoint(api, ns, "doomed-state", b"state", policy)
    await api.delete(f"/apis/leakpatrol.dev/v1alpha1/namespaces/{ns}/leakpolicies/doomed")
    for _ in range(100):
        if await read_checkpoint(api, ns, "doomed-state") is None:
            return
        await asyncio.sleep(0.05)
    pytest.fail("the checkpoint outlived its LeakPolicy")


async def test_size_cap_is_enforced_before_writing(sandbox: Any, api: ApiClient, ns: str) -> None:
    policy = make_policy(sandbox, ns, "big")
    incompressible = os.urandom(600 << 10)
    with pytest.raises(CheckpointTooLarge) as raised:
        await write_checkpoint(api, ns, "big-state", incompressible, policy)
    assert (
        raised.value.limit == 512 << 10
        and raised.value.size > raised.value.limit
        and not raised.value.retryable
    )
    with pytest.raises(NotFound):
        await api.get(f"/api/v1/namespaces/{ns}/configmaps/big-state")
    # The cap is on the compressed size: 8 MB of repetitive series data fits once compressed.
    await write_checkpoint(api, ns, "big-state", zlib.compress(b"0123456789abcdef" * (1 << 19)), policy)


async def test_corrupt_checkpoints_are_reported_not_crashed_on(sandbox: Any, api: ApiClient, ns: str) -> None:
    policy = make_policy(sandbox, ns, "corrupt")
    rv = await write_checkpoint(api, ns, "corrupt-state", b"fine", policy)
    path = f"/api/v1/namespaces/{ns}/configmaps/corrupt-state"
    # What the bytes mean (zlib, JSON, a bomb) is detect.checkpoint.decode's to judge: see
    # tests/test_checkpoint.py. The store refuses what is not its own encoding.
    for garbage in ({KEY: "not base64!"}, {"other-key": "AAAA"}):
        await api.patch(path, {"binaryData": {KEY: None} | garbage})
        with pytest.raises(CheckpointCorrupt):
            await read_checkpoint(api, ns, "corrupt-state")
    assert rv
