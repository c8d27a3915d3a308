"""Evidence: the worst pod's profiles, fetched before a restart destroys the leaking process.

goroutine (debug=0) and heap always; the goroutines' waits (debug=2: every goroutine with its wait
time) only under ~10k goroutines as this pass counted them, since it grows ~1 KB per goroutine and
the Go runtime stops the world while it writes it. Nothing of it is parsed on the event loop: every
body goes through the operator's `ProfileParser` (its limits, its worker pool, the namespace's turn
at the workers), given as `parse`. What is kept is what parsed: the two profiles as served (the
format `go tool pprof` opens), and the debug=2 dump never as served — megabytes of text the pod
chose, fetched under the scan's cap — but re-rendered from its parse as a bounded summary (`WAITS`,
at most `WAITS_BYTES`): the largest groups with their count, wait state, minutes waited, labels and
frames, every string cut short and stripped of control characters. A dump that cannot be fetched
or parsed leaves only that file out. The whole capture stays under `MAX_EVIDENCE_BYTES` so that
base64 in one ConfigMap fits the API's 1 MiB object limit.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime

from leakpatrol.api import EvidenceRef, Finding, LeakPolicySpec, Workload
from leakpatrol.controller.collect.sampling import fetch_options
from leakpatrol.controller.ports import Cluster, EvidenceCapture, FetchOptions, ScanTarget, StoredEvidence
from leakpatrol.controller.verdict.findings import PodResult
from leakpatrol.core import LeakpatrolError, ObjectRef, Permanent
from leakpatrol.profiles import Profile, ProfileError
from leakpatrol.reasons import Reason

MAX_EVIDENCE_BYTES = 700 << 10  # base64 makes ~933 KiB of it
DEBUG2_BELOW = 10_000
KEEP_PER_POLICY = 5
GOROUTINE, HEAP, WAITS = "goroutine.pb.gz", "heap.pb.gz", "goroutine-waits.txt"
DEBUG2 = WAITS  # the file made of the debug=2 dump
WAITS_BYTES = 64 << 10  # the rendered summary, whatever the dump held
WAITS_GROUPS, WAITS_FRAMES, WAITS_LINE = 40, 24, 240
Parse = Callable[[bytes], Awaitable[Profile]]
Read = Callable[[ScanTarget, str, FetchOptions], Awaitable[Profile]]  # fetch and parse, counted
log = logging.getLogger(__name__)
CUT = " (the runtime cut the dump: counts are lower bounds)"


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
    parse: Parse,
    read: Read | None = None,
) -> tuple[StoredEvidence, list[str]]:
    """Fetch, parse, store; the ConfigMap and its files. Raises `EvidenceNotSaved` (with the cause).
    `goroutines`: the pod's count at this pass (None: unknown, so no debug=2). `read`: how the
    debug=2 dump is fetched and parsed (the operator's: held in its byte budget meanwhile, as the
    scan's profiles are); None: `cluster.fetch`, then `parse`."""
    try:
        files = await _fetch(cluster, target, spec, goroutines, parse, read=read or _plain(cluster, parse))
        stored = await cluster.save_evidence(
            EvidenceCapture(policy, workload, target.name, now, files), keep=KEEP_PER_POLICY
        )
        return stored, sorted(files)
    except LeakpatrolError as exc:
        raise EvidenceNotSaved(f"profiles of pod {target.name} not saved: {exc.reason}: {exc}") from exc


async def _fetch(
    cluster: Cluster,
    target: ScanTarget,
    spec: LeakPolicySpec,
    goroutines: int | None,
    parse: Parse,
    *,
    read: Read,
) -> dict[str, bytes]:
    opts: FetchOptions = replace(fetch_options(spec), max_bytes=MAX_EVIDENCE_BYTES)
    base = spec.target.path.rstrip("/")
    files = {GOROUTINE: await cluster.fetch(target, f"{base}/goroutine?debug=0", opts)}
    await parse(files[GOROUTINE])  # raises: what the pod serves now is no profile, keep none of it
    heap = await cluster.fetch(target, f"{base}/heap", opts)
    if await _parses(heap, parse):
        files[HEAP] = heap
    if goroutines is not None and goroutines < DEBUG2_BELOW:
        try:  # under the scan's cap, not the stored files': only its rendering is kept, and at
            # ~1 KB a goroutine a leaking pod's dump passes MAX_EVIDENCE_BYTES near a thousand
            dump = await read(target, f"{base}/goroutine?debug=2", fetch_options(spec))
            files[WAITS] = render_waits(target.name, dump)
        except LeakpatrolError as exc:  # too big, too slow or unparsable: the rest is saved without it
            log.info("evidence of pod %s without %s: %s: %s", target.name, WAITS, exc.reason, exc)
    for optional in (WAITS, HEAP):  # over the cap: drop the biggest-for-least first
        if sum(map(len, files.values())) > MAX_EVIDENCE_BYTES:
            files.pop(optional, None)
    if sum(map(len, files.values())) > MAX_EVIDENCE_BYTES:
        raise EvidenceNotSaved(f"the goroutine profile alone is over {MAX_EVIDENCE_BYTES} bytes")
    return files


def _plain(cluster: Cluster, parse: Parse) -> Read:
    """Fetch, then parse: the dump outside any byte budget (tests)."""

    async def read(target: ScanTarget, path: str, opts: FetchOptions) -> Profile:
        return await parse(await cluster.fetch(target, path, opts))

    return read


async def _parses(body: bytes, parse: Parse) -> bool:
    try:
        await parse(body)
    except ProfileError:
        return False
    return True


def _clean(text: str, limit: int = WAITS_LINE) -> str:
    """One line of the pod's words as we print them: control characters (terminal escapes, new
    lines) replaced, and cut at `limit` characters."""
    out = "".join(c if c.isprintable() else "?" for c in text[: limit + 1])
    return out if len(out) <= limit else out[: limit - 1] + "…"


def render_waits(pod: str, dump: Profile) -> bytes:
    """The debug=2 dump, parsed, as a bounded summary for people: largest groups first."""
    groups = sorted(dump.groups, key=lambda g: -g.count)
    head = [
        f"leakpatrol: the goroutines of pod {_clean(pod)} (debug=2), parsed and re-rendered, not as served.",
        f"{dump.total} goroutine(s) in {len(groups)} group(s){CUT if dump.truncated else ''}. Each group:",
        "its goroutines, what they wait on and for how long (minutes, as the runtime says), its labels,",
        "and its frames, leaf first.",
        "",
    ]
    out, size, shown = head, sum(len(h) + 1 for h in head), 0
    for g in groups[:WAITS_GROUPS]:
        lo, hi = (min(g.wait_minutes), max(g.wait_minutes)) if g.wait_minutes else (0, 0)
        waited = "" if not g.wait_minutes else f", {lo} minutes" if lo == hi else f", {lo}-{hi} minutes"
        labels = ", ".join(f"{_clean(k, 60)}: {_clean(v, 60)}" for k, v in list(g.labels.items())[:8])
        block = [
            f"{g.count} goroutine(s) [{g.wait_kind.value}{waited}]" + (f" {{{labels}}}" if labels else "")
        ]
        block += [f"  {_clean(f.display())}" for f in list(g.frames)[:WAITS_FRAMES]]
        if len(g.frames) > WAITS_FRAMES:
            block.append(f"  ... {len(g.frames) - WAITS_FRAMES} more frame(s)")
        if g.created_by:
            block.append(f"  created by {_clean(g.created_by)}")
        block.append("")
        cost = sum(len(line.encode()) + 1 for line in block)
        if size + cost > WAITS_BYTES - 200:
            break
        out, size, shown = out + block, size + cost, shown + 1
    if shown < len(groups):
        out.append(f"... {len(groups) - shown} smaller group(s) not shown")
    return "\n".join(out).encode()


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
