"""Memory section: the operator's peak memory while a hostile tenant serves 32 bodies at the fetch cap.

The experiment of the issue "memory is not bounded": 4 policies x 8 pods, each serving a 15 MiB
incompressible body (`os.urandom`) chunked, without Content-Length (so the fetch cannot refuse
it up front), all fetched at once (the operator's 32 fetch slots, 8 per policy). Three processes:
- a *hostile pprof server* (`python -m benchmarks.memory serve`): one asyncio process, one port
  per pod on 127.0.0.1, its memory not counted; each policy also selects one *quiet* pod serving a
  small valid profile (tests/golden/profiles/goroutine.pb.gz), which must still be scanned;
- the *measured operator* (`python -m benchmarks.memory measure BUDGET`): the real scan path as
  `runtime.main` builds it — one `SharedCapacity` (FairShare(32, 16 per namespace), 8 per policy, a
  `ProfileParser` with 2 spawned worker processes, a `ByteBudget`) shared by 4 `PolicyScanner`s in 4
  namespaces, whose `Cluster` fetches like `KubeCluster.fetch`: `kube.fetch.fetch_profile` over the Direct
  transport's plain httpx client, `max_bytes` as the sampler asks, the share passed through (the
  rest of the port is tests/fakecluster.py, in memory). PASSES passes of all 4 policies at once,
  the clock moved an hour between passes so every backed-off target is due again;
- this process, which runs the operator twice, each time in a fresh process — (a) the budget as
  shipped (`PROFILE_BUFFER_BYTES`), (b) the budget off (`ByteBudget(1 << 40)`: every fetch holds
  its whole body until parsed, as before the budget) — and samples VmRSS of the operator and of
  every process under it (the parser workers and multiprocessing's resource tracker) every
  SAMPLE_EVERY seconds: the peak is the peak of the sum.
  Beside it: the operator's ru_maxrss, and each worker's own high-water mark (VmHWM). Not the
  workers' ru_maxrss: a spawned worker is forked before it execs, and Linux carries the forked
  copy's RSS (the whole operator's) into the child's ru_maxrss.

The measured process loads `leakpatrol.runtime.main` (kopf and the kube client) first, so its
baseline is the real operator's; the workers import this module as their `__mp_main__`, about
as much as the real workers import (`leakpatrol.cli`, the console script's module).

The sum of RSS counts shared library pages once per process: it is a little above what the
container's cgroup charges for the same processes, never below.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import yaml

from leakpatrol import metrics
from leakpatrol.api.units import parse_quantity
from leakpatrol.controller.capacity import SharedCapacity
from leakpatrol.controller.collect.fairness import FairShare
from leakpatrol.controller.ports import FetchOptions, ScanTarget
from leakpatrol.controller.scanner import PolicyScanner
from leakpatrol.core import (
    GLOBAL_FETCHES,
    MAX_PROFILE_BYTES,
    PER_NAMESPACE_FETCHES,
    PER_POLICY_FETCHES,
    LeakpatrolError,
    Obj,
    ObjectRef,
    Transport,
)
from leakpatrol.inflight import PROFILE_BUFFER_BYTES, ByteBudget, Share
from leakpatrol.kube.fetch import fetch_profile, http_client_for, target_url
from leakpatrol.profiles.parser import MAX_DECOMPRESSED, ParseLimits, ProfileParser

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fakecluster import FakeCluster  # noqa: E402  (tests/fakecluster.py: the rest of the Cluster port)

VALUES = ROOT / "charts" / "leakpatrol" / "values.yaml"
QUIET_PROFILE = ROOT / "tests" / "golden" / "profiles" / "goroutine.pb.gz"
POLICIES = 4
HOSTILE_PER_POLICY = 8  # 4 x 8 = 32: every fetch slot of the operator on a body at the cap
# Just under the cap a scan fetches with (the smaller of MAX_PROFILE_BYTES and what the parser may
# inflate, 16 MiB): the cap never stops it, every body that is held whole goes to a parser worker.
BODY_BYTES = min(MAX_PROFILE_BYTES, MAX_DECOMPRESSED) - (1 << 20)
SERVE_CHUNK = 256 << 10
PASSES = 3
PARSE_WORKERS = 2  # runtime.main's default --parse-workers
SAMPLE_EVERY = 0.02
RUN_TIMEOUT = 90.0
SERVER_LIFETIME = 300.0  # the server exits by itself after this, whatever happens here
MODES = {"budget as shipped": PROFILE_BUFFER_BYTES, "budget off": 1 << 40}
MiB = 1 << 20


# --- the hostile pprof server (a child process) -------------------------------------------------
async def _serve(hostile: int, quiet: int) -> None:
    body = memoryview(os.urandom(BODY_BYTES))  # one buffer for every answer: incompressible
    small = QUIET_PROFILE.read_bytes()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, big: bool) -> None:
        try:
            while True:  # keep-alive: every request gets the same answer, whatever its path
                await reader.readuntil(b"\r\n\r\n")
                if not big:
                    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                    writer.write(head + b"Content-Length: %d\r\n\r\n" % len(small) + small)
                    await writer.drain()
                    continue
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n")
                writer.write(b"Transfer-Encoding: chunked\r\n\r\n")  # no Content-Length
                for i in range(0, len(body), SERVE_CHUNK):
                    chunk = body[i : i + SERVE_CHUNK]
                    writer.write(b"%x\r\n" % len(chunk))
                    writer.write(chunk)
                    writer.write(b"\r\n")
                    await writer.drain()
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass  # the operator hung up (over its budget): the rest of the body is never sent
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()  # its error retrieved: no "exception never retrieved"

    servers, ports = [], []
    for n in range(hostile + quiet):
        big = n < hostile

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter, big: bool = big) -> None:
            await answer(r, w, big)

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        ports.append(server.sockets[0].getsockname()[1])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("PORTS", ",".join(map(str, ports[:hostile])), ",".join(map(str, ports[hostile:])), flush=True)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), SERVER_LIFETIME)
    for server in servers:
        server.close()


# --- /proc --------------------------------------------------------------------------------------
def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """VmRSS (or VmHWM, its high-water mark) of a process in KiB; 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return b""


def descendants(pid: int) -> list[int]:
    """Every process under `pid` (children of each of its threads, recursively), except one that
    is forked but has not exec'd yet: its VmRSS is the parent's pages, shared copy-on-write, which
    the cgroup charges once (sampled in that instant, a worker's start read as 1 GiB more)."""
    found: list[int] = []
    todo, own = [pid], _cmdline(pid)
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*/children"):
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                kids = [int(k) for k in task.read_text().split()]
                found.extend(k for k in kids if _cmdline(k) != own)
                todo.extend(kids)
    return found


def tree_rss(pid: int) -> tuple[int, int]:
    """(the process's VmRSS, the sum over every process under it), KiB."""
    return rss_kib(pid), sum(rss_kib(p) for p in descendants(pid))


# --- the measured operator (a child process) -----------------------------------------------------
SPEC: Obj = {
    "selector": {"matchLabels": {"app": "hostile"}},
    "target": {"port": "pprof", "transport": "Direct"},
    "schedule": {"interval": "60s", "jitter": "0%"},
    "profiles": {"heap": "Disabled", "goroutineleak": "Disabled"},  # one fetch per target
}


def _pod(namespace: str, name: str, port: int) -> Obj:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"{namespace}-{name}",
            "labels": {"app": "hostile"},
            "ownerReferences": [{"kind": "ReplicaSet", "name": "web-7d9f", "uid": f"rs-{namespace}"}],
        },
        "spec": {"containers": [{"name": "app", "ports": [{"name": "pprof", "containerPort": port}]}]},
        "status": {
            "phase": "Running",
            "podIP": "127.0.0.1",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {
                    "name": "app",
                    "restartCount": 0,
                    "state": {"running": {"startedAt": "2030-01-01T00:00:00Z"}},
                }
            ],
        },
    }


class BenchCluster(FakeCluster):
    """The in-memory port of the tests, except `fetch`: the real one, as `KubeCluster.fetch` does it
    for the Direct transport (the URL of the pod IP, the spec's timeouts, the share passed on)."""

    def __init__(self, pods: list[Obj], http: httpx.AsyncClient, tally: Counter[str]) -> None:
        super().__init__(pods)
        self.http, self.tally = http, tally
        self.quiet_done: list[float] = []  # perf_counter() when the quiet pod's body was in

    async def fetch(
        self, target: ScanTarget, path: str, options: FetchOptions, share: Share | None = None
    ) -> bytes:
        pod = {
            "metadata": {"name": target.name, "namespace": target.namespace},
            "status": {"podIP": target.ip},
        }
        url = target_url(options.transport, pod, target.port, path, scheme=options.scheme.lower())
        timeout = httpx.Timeout(options.read_timeout, connect=options.connect_timeout)
        try:
            body = await fetch_profile(
                self.http,
                url,
                max_bytes=options.max_bytes,
                timeout=timeout,
                total=options.total_timeout,
                share=share,
            )
        except LeakpatrolError as exc:
            self.tally[f"fetch {exc.reason}"] += 1
            raise
        if target.name == "quiet":
            self.quiet_done.append(time.perf_counter())
        self.tally["fetch whole body" if len(body) >= BODY_BYTES else "fetch small body"] += 1
        return body


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def _operate(budget_bytes: int, hostile_ports: list[int], quiet_ports: list[int]) -> dict[str, Any]:
    before = rss_kib(os.getpid())
    parser = ProfileParser(ParseLimits(), workers=PARSE_WORKERS)
    fetches = FairShare(GLOBAL_FETCHES, PER_NAMESPACE_FETCHES)
    capacity = SharedCapacity(fetches, PER_POLICY_FETCHES, parser, ByteBudget(budget_bytes))
    http = http_client_for(Transport.DIRECT, None)
    tally: Counter[str] = Counter()
    clock = Clock()
    policies: list[tuple[PolicyScanner, BenchCluster, ObjectRef]] = []
    for i in range(POLICIES):
        ns = f"tenant-{i}"
        ports = hostile_ports[i * HOSTILE_PER_POLICY : (i + 1) * HOSTILE_PER_POLICY]
        pods = [_pod(ns, f"hostile-{j}", port) for j, port in enumerate(ports)]
        pods.append(_pod(ns, "quiet", quiet_ports[i]))  # last: it waits for a policy slot like any
        cluster = BenchCluster(pods, http, tally)
        policy = ObjectRef("leakpatrol.dev/v1alpha1", "LeakPolicy", "hostile", f"policy-{ns}", ns)
        policies.append((PolicyScanner(cluster, policy, capacity, clock=clock), cluster, policy))

    def body(cluster: BenchCluster, policy: ObjectRef) -> Obj:
        meta = {"name": policy.name, "namespace": policy.namespace, "uid": policy.uid, "generation": 1}
        return {"metadata": meta, "spec": SPEC, "status": cluster.status}

    quiet_scanned, quiet_latest, walls = [], 0.0, []
    try:
        for _ in range(PASSES):
            began = time.perf_counter()
            await asyncio.gather(*(s.scan(body(c, p)) for s, c, p in policies))
            walls.append(time.perf_counter() - began)
            scanned = 0
            for scanner, cluster, policy in policies:  # fetched in this pass, parsed, judged
                done = [t - began for t in cluster.quiet_done if t >= began]
                record = scanner.targets.of(f"{policy.namespace}-quiet")
                scanned += bool(done) and record.backoff is None and record.evaluator is not None
                quiet_latest = max([quiet_latest, *done])
            quiet_scanned.append(scanned)
            clock.now += 3600.0  # past any backoff: every target is due at the next pass
        own, workers = tree_rss(os.getpid())
    finally:
        parser.close()
        await http.aclose()
    errors: Counter[str] = Counter()
    for family in metrics.SCRAPE_ERRORS.collect():
        for sample in family.samples:
            if sample.name.endswith("_total"):
                errors[sample.labels["reason"]] += int(sample.value)
    return {
        "budget_total": capacity.buffer.total,
        "budget_peak": capacity.buffer.peak,
        "budget_in_use": capacity.buffer.in_use,
        "before_kib": before,
        "end_operator_kib": own,
        "end_workers_kib": workers,
        "maxrss_self_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "fetches": dict(tally),
        "scrape_errors": dict(errors),
        "quiet_scanned": quiet_scanned,
        "quiet_latest": quiet_latest,
        "walls": walls,
    }


# --- this process: run each mode in a fresh operator, sample its memory -------------------------
def _env() -> dict[str, str]:
    path = [str(ROOT / "operator"), str(ROOT), os.environ.get("PYTHONPATH", "")]
    return os.environ | {"PYTHONPATH": os.pathsep.join(p for p in path if p)}


def _measure(budget: int, hostile: str, quiet: str) -> dict[str, Any]:
    with tempfile.TemporaryFile("w+") as out:
        argv = [sys.executable, "-m", "benchmarks.memory", "measure", str(budget), hostile, quiet]
        proc = subprocess.Popen(argv, cwd=ROOT, env=_env(), stdout=out)
        peak, peak_own, peak_workers, at_peak, samples = 0, 0, 0, (0, 0), 0
        hwm: dict[int, int] = {}  # every process under the operator: its own high-water mark
        deadline = time.monotonic() + RUN_TIMEOUT
        while proc.poll() is None:
            own, workers = tree_rss(proc.pid)
            samples += 1
            if own + workers > peak:
                peak, at_peak = own + workers, (own, workers)
            peak_own, peak_workers = max(peak_own, own), max(peak_workers, workers)
            for pid in descendants(proc.pid):
                hwm[pid] = max(hwm.get(pid, 0), rss_kib(pid, "VmHWM"))
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise RuntimeError(f"the measured operator did not finish within {RUN_TIMEOUT}s")
            time.sleep(SAMPLE_EVERY)
        if proc.returncode != 0:
            raise RuntimeError(f"the measured operator exited with {proc.returncode}")
        out.seek(0)
        line = next(x for x in out.read().splitlines() if x.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    result |= {"peak_kib": peak, "at_peak_kib": at_peak, "peak_own_kib": peak_own}
    worker_hwm = max(hwm.values(), default=0)
    return result | {"peak_workers_kib": peak_workers, "worker_hwm_kib": worker_hwm, "samples": samples}


def chart_limit() -> tuple[str, int]:
    text = yaml.safe_load(VALUES.read_text())["resources"]["limits"]["memory"]
    return str(text), parse_quantity(text)


def _mib(kib: int) -> str:
    return f"{kib / 1024:,.0f}"


def _report(results: dict[str, dict[str, Any]]) -> None:
    limit_text, limit = chart_limit()
    rows: list[tuple[str, Any]] = [
        (
            "budget (MiB) / peak held / held at end",
            lambda r: f"{r['budget_total'] // MiB:,} / {r['budget_peak'] / MiB:,.0f} / {r['budget_in_use']}",
        ),
        ("peak RSS, operator + workers (MiB)", lambda r: _mib(r["peak_kib"])),
        ("  at that peak: operator / workers", lambda r: " / ".join(map(_mib, r["at_peak_kib"]))),
        (
            "peak operator alone / workers (sum)",
            lambda r: f"{_mib(r['peak_own_kib'])} / {_mib(r['peak_workers_kib'])}",
        ),
        (
            "ru_maxrss operator / VmHWM of a worker",
            lambda r: f"{_mib(r['maxrss_self_kib'])} / {_mib(r['worker_hwm_kib'])}",
        ),
        ("operator before the first pass", lambda r: _mib(r["before_kib"])),
        (
            "RSS at the end: operator / workers",
            lambda r: f"{_mib(r['end_operator_kib'])} / {_mib(r['end_workers_kib'])}",
        ),
        (
            f"vs the chart's limit ({limit_text})",
            lambda r: "PASS" if r["peak_kib"] * 1024 < limit else "FAIL",
        ),
        (f"{BODY_BYTES >> 20} MiB bodies fetched whole", lambda r: r["fetches"].get("fetch whole body", 0)),
        ("  ProfileBufferFull (fetch stopped)", lambda r: r["fetches"].get("fetch ProfileBufferFull", 0)),
        ("  other fetch errors", lambda r: _others(r["fetches"])),
        (
            "scrape errors by reason",
            lambda r: ", ".join(f"{k} {v}" for k, v in sorted(r["scrape_errors"].items())),
        ),
        ("quiet pods scanned, per pass", lambda r: " ".join(f"{n}/{POLICIES}" for n in r["quiet_scanned"])),
        ("  latest quiet body, from pass start (s)", lambda r: f"{r['quiet_latest']:.2f}"),
        ("wall per pass (s)", lambda r: " ".join(f"{w:.1f}" for w in r["walls"])),
    ]
    names = list(results)
    print(f"{'':<40}" + "".join(f"{n:>26}" for n in names))
    for label, cell in rows:
        print(f"{label:<40}" + "".join(f"{cell(results[n])!s:>26}" for n in names))
    shipped = results[names[0]]
    verdict = "PASS" if shipped["peak_kib"] * 1024 < limit else "FAIL"
    print(
        f"\n{verdict}: with the budget as shipped, operator + workers peaked at"
        f" {_mib(shipped['peak_kib'])} MiB"
        f" against the chart's {limit_text} limit ({VALUES.relative_to(ROOT)});"
        f" {shipped['samples']} samples, one per {SAMPLE_EVERY * 1e3:.0f} ms"
    )
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


def _others(fetches: dict[str, int]) -> str:
    rest = {k: v for k, v in fetches.items() if k.startswith("fetch ") and k != "fetch ProfileBufferFull"}
    rest = {k: v for k, v in rest.items() if k not in ("fetch whole body", "fetch small body")}
    return ", ".join(f"{k.removeprefix('fetch ')} {v}" for k, v in sorted(rest.items())) or "0"


def run() -> None:
    hostile = POLICIES * HOSTILE_PER_POLICY
    print(
        f"\n## memory: {POLICIES} policies x {HOSTILE_PER_POLICY} pods serving {BODY_BYTES >> 20} MiB"
        f" incompressible chunked bodies (+ 1 quiet pod each), {PASSES} passes\n"
    )
    argv = [sys.executable, "-m", "benchmarks.memory", "serve", str(hostile), str(POLICIES)]
    server = subprocess.Popen(argv, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        _, hostile_ports, quiet_ports = server.stdout.readline().split()
        results = {name: _measure(budget, hostile_ports, quiet_ports) for name, budget in MODES.items()}
    finally:
        server.terminate()
        server.wait(15)
    _report(results)


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        asyncio.run(_serve(int(sys.argv[2]), int(sys.argv[3])))
    elif sys.argv[1:2] == ["measure"]:
        importlib.import_module("leakpatrol.runtime.main")  # the operator's modules: its baseline
        budget, hostile_ports, quiet_ports = sys.argv[2:5]
        outcome = asyncio.run(
            _operate(
                int(budget),
                [int(p) for p in hostile_ports.split(",")],
                [int(p) for p in quiet_ports.split(",")],
            )
        )
        print("RESULT", json.dumps(outcome), flush=True)
    else:
        run()
