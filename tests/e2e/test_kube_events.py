"""post_event: aggregation (a repeat bumps count), rate limiting, concurrency; against the sandbox."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import yaml
from harness import KUBECTL
from support import NO_PROCESS, namespace_fixture, pod_manifest

from leakpatrol.core import ObjectRef
from leakpatrol.kube.client import ApiClient
from leakpatrol.kube.events import event_name, post_event
from leakpatrol.kube.ratelimit import KeyedRateLimiter

T0 = datetime.datetime(2030, 1, 1, 12, 0, tzinfo=datetime.UTC)


ns = namespace_fixture("ev")


def make_pod(sandbox: Any, ns: str, name: str) -> ObjectRef:
    created = sandbox.apply_yaml(yaml.safe_dump(pod_manifest(name, ns, image=NO_PROCESS)))[0]
    return ObjectRef.of(created)


async def test_a_repeat_bumps_count_and_last_timestamp(sandbox: Any, api: ApiClient, ns: str) -> None:
    pod = make_pod(sandbox, ns, "leaky")
    message = "goroutines +120/h since 10:00; culprit net/http.(*persistConn).readLoop"
    first = await post_event(api, pod, "LeakDetected", message, "Warning", now=T0)
    again = await post_event(
        api, pod, "LeakDetected", message, "Warning", now=T0 + datetime.timedelta(minutes=5)
    )
    assert first is not None and again is not None
    assert (
        first["metadata"]["name"]
        == again["metadata"]["name"]
        == event_name(pod, "Warning", "LeakDetected", message)
    )
    assert (again["count"], again["firstTimestamp"], again["lastTimestamp"]) == (
        2,
        "2030-01-01T12:00:00Z",
        "2030-01-01T12:05:00Z",
    )
    assert again["involvedObject"] == {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": "leaky",
        "uid": pod.uid,
        "namespace": ns,
    }
    assert again["source"] == {"component": "leakpatrol"} and again["type"] == "Warning"

    other = await post_event(api, pod, "LeakResolved", "goroutines flat for 1h", now=T0)
    assert (
        other is not None and other["metadata"]["name"] != first["metadata"]["name"] and other["count"] == 1
    )
    events = await api.get(
        f"/api/v1/namespaces/{ns}/events", {"fieldSelector": f"involvedObject.uid={pod.uid}"}
    )
    ours = [e["count"] for e in events["items"] if e["source"]["component"] == "leakpatrol"]
    assert sorted(ours) == [1, 2]  # two Events, not three (the rest are the kubelet's)

    described = await asyncio.create_subprocess_exec(
        str(KUBECTL), "--kubeconfig", str(sandbox.kubeconfig_path), "describe", "pod", "-n", ns, "leaky",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out = (await described.communicate())[0].decode()
    assert "LeakDetected" in out and "(x2 over" in out and "persistConn" in out


async def test_concurrent_repeats_are_all_counted(sandbox: Any, api: ApiClient, ns: str) -> None:
    pod = make_pod(sandbox, ns, "busy")
    await post_event(api, pod, "ScrapeFailed", "connection refused", "Warning", now=T0)
    results = await asyncio.gather(
        *(post_event(api, pod, "ScrapeFailed", "connection refused", "Warning", now=T0) for _ in range(2))
    )
    # The resourceVersion precondition turns the lost race into a retry, not a lost increment.
    assert sorted(r["count"] for r in results if r is not None) == [2, 3]


async def test_rate_limit_per_object(sandbox: Any, api: ApiClient, ns: str) -> None:
    noisy, quiet = make_pod(sandbox, ns, "noisy"), make_pod(sandbox, ns, "quiet")
    limiter = KeyedRateLimiter(burst=3, refill_seconds=300)
    posted = [
        await post_event(api, noisy, "ScrapeFailed", f"attempt {i}", now=T0, limiter=limiter)
        for i in range(5)
    ]
    assert [p is not None for p in posted] == [True, True, True, False, False]
    assert await post_event(api, quiet, "ScrapeFailed", "attempt 0", now=T0, limiter=limiter) is not None
    later = T0 + datetime.timedelta(minutes=5)
    assert await post_event(api, noisy, "ScrapeFailed", "attempt 5", now=later, limiter=limiter) is not None
    assert await post_event(api, noisy, "ScrapeFailed", "attempt 6", now=later, limiter=limiter) is None


def test_event_names_are_deterministic_and_valid() -> None:
    pod = ObjectRef("v1", "Pod", "p" * 300, "uid-1", "ns")
    name = event_name(pod, "Warning", "LeakDetected", "m")
    assert name == event_name(pod, "Warning", "LeakDetected", "m") and len(name) <= 253
    assert name != event_name(pod, "Warning", "LeakDetected", "m2")
    assert name != event_name(
        ObjectRef("v1", "Pod", "p" * 300, "uid-2", "ns"), "Warning", "LeakDetected", "m"
    )


def test_keyed_rate_limiter_refills_and_forgets_least_recent_keys() -> None:
    limiter = KeyedRateLimiter(burst=2, refill_seconds=10, max_keys=2)
    assert [limiter.allow("a", 0) for _ in range(3)] == [True, True, False]
    assert limiter.allow("a", 5) is False and limiter.allow("a", 10) is True  # one token per 10 s
    limiter.allow("b", 10)
    limiter.allow("c", 10)  # evicts "a": it comes back with a full bucket, never with less
    assert [limiter.allow("a", 10) for _ in range(3)] == [True, True, False]
