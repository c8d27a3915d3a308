"""read/write/delete_checkpoint against the sandbox: roundtrip, labels, concurrency, caps, corruption."""

from __future__ import annotations

import base64
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import delete_namespace, make_namespace

from leakpatrol.core import CheckpointCorrupt, ObjectRef
from leakpatrol.kube.client import ApiClient
from leakpatrol.kube.configmaps import (
    KEY,
    Checkpoint,
    checkpoint_name,
    delete_checkpoint,
    read_checkpoint,
    write_checkpoint,
)
from leakpatrol.kube.errors import CheckpointTooLarge, Conflict, NotFound

ROOT = Path(__file__).resolve().parents[2]


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


async def test_roundtrip_labels_and_optimistic_concurrency(sandbox: Any, api: ApiClient, ns: str) -> None:
    policy = make_policy(sandbox, ns, "checkout")
    # The store keeps the bytes it is given: the caller (detect.checkpoint.encode) compressed them.
    state = zlib.compress(b'{"series": [' + b"1234," * 50_000 + b"0]}")
    assert await read_checkpoint(api, ns, "checkout-state") is None

    rv = await write_checkpoint(api, ns, "checkout-state", state, policy)
    stored = await read_checkpoint(api, ns, "checkout-state")
    assert stored == Checkpoint(state, rv, policy.uid)

    cm = await api.get(f"/api/v1/namespaces/{ns}/configmaps/checkout-state")
    assert base64.b64decode(cm["binaryData"][KEY]) == state
    # No ownerReferences: checkpoints live in the operator's namespace, and a cross-namespace
    # owner would make the garbage collector delete them. The uid label ties them to the policy.
    assert "ownerReferences" not in cm["metadata"]
    assert cm["metadata"]["labels"]["leakpatrol.dev/policy-uid"] == policy.uid
    assert cm["metadata"]["annotations"]["leakpatrol.dev/policy"] == f"{ns}/checkout"
    assert cm["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "leakpatrol"

    rv2 = await write_checkpoint(api, ns, "checkout-state", b"v2", policy, resource_version=rv)
    assert rv2 != rv and (await read_checkpoint(api, ns, "checkout-state")) == Checkpoint(
        b"v2", rv2, policy.uid
    )
    with pytest.raises(Conflict):  # another writer (an old replica) still holding rv
        await write_checkpoint(api, ns, "checkout-state", b"stale", policy, resource_version=rv)
    with pytest.raises(Conflict):  # a blind create over an existing checkpoint
        await write_checkpoint(api, ns, "checkout-state", b"blind", policy)
    assert (await read_checkpoint(api, ns, "checkout-state")) == Checkpoint(b"v2", rv2, policy.uid)
    assert await delete_checkpoint(api, ns, "checkout-state")
    assert not await delete_checkpoint(api, ns, "checkout-state")
    assert await read_checkpoint(api, ns, "checkout-state") is None


def test_checkpoint_names_are_unambiguous_and_valid() -> None:
    a = ObjectRef("leakpatrol.dev/v1alpha1", "LeakPolicy", "b-c", "u1", "a")
    b = ObjectRef("leakpatrol.dev/v1alpha1", "LeakPolicy", "c", "u2", "a-b")
    assert checkpoint_name(a) == "leakpatrol-checkpoint.a.b-c" != checkpoint_name(b)
    long = ObjectRef("leakpatrol.dev/v1alpha1", "LeakPolicy", "x" * 253, "u3", "n" * 63)
    assert len(checkpoint_name(long)) <= 253


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
