"""get/create/replace_lease against the sandbox: it serves coordination.k8s.io/v1 Leases with
resourceVersion preconditions, so two replicas racing for one Lease see a real 409."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from support import namespace_fixture

from leakpatrol.kube.client import ApiClient
from leakpatrol.kube.errors import Conflict
from leakpatrol.kube.leadership import LeaseMove, LeaseState, decide
from leakpatrol.kube.leases import create_lease, get_lease, replace_lease

ns = namespace_fixture("lease")


async def test_acquire_race_renew_and_stale_write(api: ApiClient, ns: str) -> None:
    now = datetime.now(UTC)
    assert await get_lease(api, ns, "lp") is None
    first = decide(None, "a", now, 15, None)
    assert first.verdict is LeaseMove.ACQUIRE and first.spec is not None
    created = await create_lease(api, ns, "lp", first.spec)
    with pytest.raises(Conflict):  # b decided ACQUIRE at the same moment: its create loses
        await create_lease(api, ns, "lp", decide(None, "b", now, 15, None).spec or {})

    stored = await get_lease(api, ns, "lp")
    assert stored is not None and stored["spec"]["holderIdentity"] == "a"
    state = LeaseState.of(stored)
    assert state.resource_version == created["metadata"]["resourceVersion"]
    renew = decide(state, "a", now + timedelta(seconds=2), 15, None)  # a no-op write keeps the version
    assert renew.verdict is LeaseMove.RENEW and renew.spec is not None
    renewed = await replace_lease(api, ns, "lp", renew.spec, state.resource_version)
    assert renewed["metadata"]["resourceVersion"] != state.resource_version
    # b read the old version and decided to take over: the precondition refuses its write.
    with pytest.raises(Conflict):
        await replace_lease(api, ns, "lp", {**renew.spec, "holderIdentity": "b"}, state.resource_version)
    final = await get_lease(api, ns, "lp")
    assert final is not None and final["spec"]["holderIdentity"] == "a"
