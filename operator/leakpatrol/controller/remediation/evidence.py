"""Evidence: the worst pod's profiles, fetched before a restart destroys the leaking process.

goroutine (debug=0) and heap always; goroutine debug=2 (every goroutine with its wait time) only
under ~10k goroutines as this pass counted them, since it grows ~1 KB per goroutine and the Go
runtime stops the world while it writes it. Nothing here parses the pod's bytes: they are stored
as served, and the decision needs only the count the scan already has. The whole capture stays under
`MAX_EVIDENCE_BYTES` so that base64 in one ConfigMap fits the API's 1 MiB object limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from leakpatrol.api import EvidenceRef, Finding, LeakPolicySpec, Workload
from leakpatrol.controller.collect.sampling import fetch_options
from leakpatrol.controller.ports import Cluster, EvidenceCapture, FetchOptions, ScanTarget, StoredEvidence
from leakpatrol.controller.verdict.findings import PodResult
from leakpatrol.core import LeakpatrolError, ObjectRef, Permanent
from leakpatrol.reasons import Reason

MAX_EVIDENCE_BYTES = 700 << 10  # base64 makes ~933 KiB of it
DEBUG2_BELOW = 10_000
KEEP_PER_POLICY = 5
GOROUTINE, HEAP, DEBUG2 = "goroutine.pb.gz", "heap.pb.gz", "goroutine-debug2.txt"


class EvidenceNotSaved(Permanent):
    reason = Reason.EVIDENCE_NOT_SAVED


def goroutines_of(pod: str, results: Sequence[PodResult]) -> int | None:
    return next((r.goroutines for r in results if r.pod == pod), None)


def worst_pod(f: Finding, results: Sequence[PodResult]) -> str:
    """The finding's pod whose signal is largest now (the finding itself names its pods sorted)."""
    best, best_current = f.pods[0] if f.pods else "", -1.0
    for r in results:
        if r.pod not in f.pods:
            continue
        for s in r.evaluation.signals:
            if s.kind.value == f.signal.value and s.current > best_current:
                best, best_current = r.pod, s.current
    return best


def pods_worst_first(f: Finding, results: Sequence[PodResult]) -> list[str]:
    worst = worst_pod(f, results)
    return [worst, *[p for p in f.pods if p != worst]] if worst else list(f.pods)


async def capture(
    cluster: Cluster,
    *,
    policy: ObjectRef,
    workload: ObjectRef,
    target: ScanTarget,
    spec: LeakPolicySpec,
    now: datetime,
    goroutines: int | None,
) -> tuple[StoredEvidence, list[str]]:
    """Fetch and store; the ConfigMap and its files. Raises `EvidenceNotSaved` (with the cause).
    `goroutines`: the pod's count at this pass (None: unknown, so no debug=2)."""
    try:
        files = await _fetch(cluster, target, spec, goroutines)
        stored = await cluster.save_evidence(
            EvidenceCapture(policy, workload, target.name, now, files), keep=KEEP_PER_POLICY
        )
        return stored, sorted(files)
    except LeakpatrolError as exc:
        raise EvidenceNotSaved(f"profiles of pod {target.name} not saved: {exc.reason}: {exc}") from exc


async def _fetch(
    cluster: Cluster, target: ScanTarget, spec: LeakPolicySpec, goroutines: int | None
) -> dict[str, bytes]:
    opts: FetchOptions = replace(fetch_options(spec), max_bytes=MAX_EVIDENCE_BYTES)
    base = spec.target.path.rstrip("/")
    files = {GOROUTINE: await cluster.fetch(target, f"{base}/goroutine?debug=0", opts)}
    files[HEAP] = await cluster.fetch(target, f"{base}/heap", opts)
    if goroutines is not None and goroutines < DEBUG2_BELOW:
        files[DEBUG2] = await cluster.fetch(target, f"{base}/goroutine?debug=2", opts)
    for optional in (DEBUG2, HEAP):  # over the cap: drop the biggest-for-least first
        if sum(map(len, files.values())) > MAX_EVIDENCE_BYTES:
            files.pop(optional, None)
    if sum(map(len, files.values())) > MAX_EVIDENCE_BYTES:
        raise EvidenceNotSaved(f"the goroutine profile alone is over {MAX_EVIDENCE_BYTES} bytes")
    return files


def reference(
    stored: StoredEvidence, workload: Workload, pod: str, files: Sequence[str], now: datetime
) -> EvidenceRef:
    return EvidenceRef(
        config_map=stored.name,
        namespace=stored.namespace,
        workload=workload,
        pod=pod,
        time=now,
        files=list(files),
        command=extract_command(stored, GOROUTINE),
    )


def extract_command(stored: StoredEvidence, file: str) -> str:
    """One line: the file out of the ConfigMap, opened with `go tool pprof` (or `leakpatrol diagnose`)."""
    key = file.replace(".", "\\.")
    return (
        f"kubectl get configmap {stored.name} -n {stored.namespace} -o jsonpath='{{.binaryData.{key}}}'"
        f" | base64 -d > {file} && go tool pprof -top {file}"
    )
