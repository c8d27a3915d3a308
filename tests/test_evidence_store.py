"""Evidence is bounded and owned: the ledger's plan (the policy's newest, the namespace's budget, the
operator's cap that never evicts another tenant's), and the debug=2 dump kept only as a bounded
rendering of its parse. Pure; tests/e2e/test_evidence_bounds_e2e.py runs it against the sandbox."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fakecluster import POLICY, FakeCluster, golden_server, running_pod, spec

from leakpatrol.api import parse_spec
from leakpatrol.controller.collect.targets import select_targets
from leakpatrol.controller.ports import FetchOptions, ScanTarget
from leakpatrol.controller.remediation import evidence
from leakpatrol.core import MAX_PROFILE_BYTES, ObjectRef
from leakpatrol.inflight import ByteBudget
from leakpatrol.kube import errors
from leakpatrol.kube.evidence import Entry, EvidenceLimits, over, plan
from leakpatrol.profiles import Profile, load

GOLDEN = Path(__file__).parent / "golden" / "profiles"
LIMITS = EvidenceLimits(max_count=6, max_bytes=600, namespace_count=3, namespace_bytes=300)


def entry(name: str, policy: str, namespace: str, time: int, size: int = 10) -> Entry:
    return Entry(name, policy, namespace, size, time)


def names(entries: list[Entry]) -> list[str]:
    return [e.name for e in entries]


def test_a_policy_keeps_its_newest_and_the_new_one_makes_keep() -> None:
    ledger = [entry(f"a{i}", "pa", "shop", i) for i in range(3)]
    doomed, refusal = plan(ledger, policy_uid="pa", namespace="shop", size=10, keep=2, limits=LIMITS)
    assert refusal is None and names(doomed) == ["a0", "a1"]


def test_a_namespace_over_its_budget_loses_its_own_oldest_whichever_policy_took_them() -> None:
    ledger = [entry("b0", "pb", "shop", 0), entry("a0", "pa", "shop", 1), entry("a1", "pa", "shop", 2)]
    ledger.append(entry("other", "px", "payments", -5))  # older, but another tenant's: never touched
    doomed, refusal = plan(ledger, policy_uid="pa", namespace="shop", size=10, keep=5, limits=LIMITS)
    assert refusal is None and names(doomed) == ["b0"]
    # by bytes too: 300 per namespace
    heavy = [entry("h0", "pb", "shop", 0, 200), entry("h1", "pb", "shop", 1, 50)]
    doomed, refusal = plan(heavy, policy_uid="pa", namespace="shop", size=100, keep=5, limits=LIMITS)
    assert refusal is None and names(doomed) == ["h0"]
    # one capture over the namespace's whole budget: refused, nothing deleted
    doomed, refusal = plan(heavy, policy_uid="pa", namespace="shop", size=301, keep=5, limits=LIMITS)
    assert doomed == [] and refusal is not None and "budget" in refusal


def test_at_the_operators_cap_new_evidence_is_refused_and_no_other_tenant_loses_any() -> None:
    ledger = [entry(f"{ns}{i}", f"p-{ns}", ns, i) for ns in ("a", "b", "c") for i in range(2)]  # 6: full
    doomed, refusal = plan(ledger, policy_uid="p-d", namespace="d", size=10, keep=5, limits=LIMITS)
    assert doomed == [] and refusal is not None
    assert "evidence store is full" in refusal and "--evidence-max-count" in refusal
    # a tenant already holding some makes room out of its own
    doomed, refusal = plan(ledger, policy_uid="p-a", namespace="a", size=10, keep=2, limits=LIMITS)
    assert refusal is None and names(doomed) == ["a0"]
    # by bytes: 600 together
    fat = [entry("f0", "p-x", "x", 0, 290), entry("f1", "p-y", "y", 0, 290)]
    doomed, refusal = plan(fat, policy_uid="p-z", namespace="z", size=30, keep=5, limits=LIMITS)
    assert doomed == [] and refusal is not None


def test_over_tells_a_ledger_past_any_cap() -> None:
    fine = [entry(f"a{i}", "p", "shop", i) for i in range(3)]
    assert not over(fine, LIMITS, "shop")
    assert over([*fine, entry("a3", "p", "shop", 3)], LIMITS, "shop")  # the namespace's count
    assert over([entry(f"{i}", "p", f"ns{i}", i, 101) for i in range(6)], LIMITS, "ns0")  # bytes


def test_a_receipt_reads_back_what_it_says_and_an_unknown_size_counts_at_the_most() -> None:
    cm = {
        "metadata": {
            "name": "leakpatrol-evidence.shop.web-1.1800000000",
            "labels": {"leakpatrol.dev/policy-uid": "u1", "leakpatrol.dev/captured-at": "1800000000"},
            "annotations": {
                "leakpatrol.dev/policy": "shop/demo",
                "leakpatrol.dev/bytes": "1234",
                "leakpatrol.dev/stored-in": "shop/leakpatrol-evidence.shop.web-1.1800000000",
                "leakpatrol.dev/stored-uid": "cm-uid",
            },
        }
    }
    e = Entry.of(cm)
    assert (e.policy_uid, e.namespace, e.size, e.time) == ("u1", "shop", 1234, 1800000000)
    assert (e.stored_in, e.stored_uid) == ("shop/leakpatrol-evidence.shop.web-1.1800000000", "cm-uid")
    del cm["metadata"]["annotations"]["leakpatrol.dev/bytes"]
    assert Entry.of(cm).size == 700 << 10


def hostile_dump(groups: int) -> bytes:
    """A debug=2 dump a pod chose: terminal escapes and huge names in its frames and labels."""
    blocks = []
    for i in range(groups):
        name = f"main.worker{i}\x1b]0;owned\x07" + "x" * 5000
        blocks.append(
            f'goroutine {i + 1} [chan receive, {i % 90} minutes] {{evil: "\\x1b[2J{i}"}}:\n'
            f"{name}(...)\n\t/src/main.go:{i + 1} +0x1e\n"
            f"created by main.spawn in goroutine 1\n\t/src/main.go:1 +0x25\n"
        )
    return "\n".join(blocks).encode()


def test_a_debug2_dump_is_kept_only_as_a_bounded_clean_rendering_of_its_parse() -> None:
    dump = hostile_dump(2_000)
    assert len(dump) > 10 * evidence.WAITS_BYTES
    text = evidence.render_waits("web-1", load(dump))
    assert len(text) <= evidence.WAITS_BYTES
    shown = text.decode()
    assert "\x1b" not in shown and "\x07" not in shown  # no terminal escape reaches a reader
    assert max(len(line) for line in shown.splitlines()) <= evidence.WAITS_LINE + 20
    assert "2000 goroutine(s) in" in shown and "smaller group(s) not shown" in shown
    assert "[chan receive" in shown and "created by main.spawn" in shown


def test_a_real_dump_renders_its_groups_waits_and_frames() -> None:
    profile = load((GOLDEN / "goroutine-dump.txt").read_bytes())
    shown = evidence.render_waits("web-1", profile).decode()
    biggest = max(profile.groups, key=lambda g: g.count)
    assert f"{biggest.count} goroutine(s) [{biggest.wait_kind.value}" in shown
    assert biggest.frames[0].function in shown
    assert f"{profile.total} goroutine(s) in {len(profile.groups)} group(s)" in shown


@pytest.mark.parametrize("body", [b"<html>login</html>", gzip.compress(b"not a profile")])
async def test_a_goroutine_profile_that_does_not_parse_is_not_kept(body: bytes) -> None:
    cluster = FakeCluster([running_pod("web-1")], lambda target, path: body)
    (target,), _ = select_targets(cluster.pods, "pprof")
    with pytest.raises(evidence.EvidenceNotSaved, match="not saved"):
        await evidence.capture(
            cluster,
            policy=POLICY,
            workload=ObjectRef("apps/v1", "Deployment", "web", "uid", "shop"),
            target=target,
            spec=parse_spec(spec()),
            now=datetime(2030, 1, 1, tzinfo=UTC),
            goroutines=12,
            parse=_inline,
        )
    assert cluster.evidence == {}


@pytest.mark.parametrize("dump", ["served", "too large", "over the byte budget"])
async def test_a_leaking_pods_big_dump_is_rendered_and_one_that_cannot_be_had_only_leaves_its_file_out(
    dump: str,
) -> None:
    """A leaking pod's debug=2 dump is over the stored files' cap (~700 KiB) near a thousand
    goroutines, long before `DEBUG2_BELOW`: it is fetched under the scan's cap and held in the
    operator's byte budget while parsed, as the scan's profiles are, since only its rendering is
    kept; and when it cannot be had (too big even for that, the budget full, too slow), the
    goroutine and heap profiles are saved without it, not nothing at all."""
    body = hostile_dump(200)
    assert len(body) > evidence.MAX_EVIDENCE_BYTES

    def server(target: ScanTarget, path: str) -> bytes:
        if "debug=2" not in path:
            return golden_server(target, path)
        if dump == "too large":
            raise errors.TooLarge(path, "the body is over the cap")
        return body

    cluster = FakeCluster([running_pod("web-1")], server)
    (target,), _ = select_targets(cluster.pods, "pprof")
    budget, read_as = ByteBudget(len(body) // 2 if dump == "over the byte budget" else 64 << 20), []

    async def read(t: ScanTarget, path: str, opts: FetchOptions) -> Profile:  # as the Sampler does
        async with budget.share() as share:
            read_as.append((path, opts.max_bytes))
            return load(await cluster.fetch(t, path, opts, share))

    _, files = await evidence.capture(
        cluster,
        policy=POLICY,
        workload=ObjectRef("apps/v1", "Deployment", "web", "uid", "shop"),
        target=target,
        spec=parse_spec(spec()),
        now=datetime(2030, 1, 1, tzinfo=UTC),
        goroutines=200,
        parse=_inline,
        read=read,
    )
    assert read_as == [("/debug/pprof/goroutine?debug=2", MAX_PROFILE_BYTES)]
    assert budget.in_use == 0 and budget.peak >= (len(body) if dump == "served" else 0)
    served = dump == "served"
    assert files == sorted([evidence.GOROUTINE, evidence.HEAP] + ([evidence.WAITS] if served else []))
    (saved,) = cluster.evidence.values()
    if served:
        waits = saved.files[evidence.WAITS].decode()
        assert "200 goroutine(s) in" in waits and len(waits) <= evidence.WAITS_BYTES


async def _inline(body: bytes) -> Profile:
    return load(body)
