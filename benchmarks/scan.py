"""Scan section: one pass over 200 sandbox targets through the port-forward path vs plain httpx.

Set-up, three processes so that only the operator's side is charged to this one:
- a *light pprof server* (this module run as `python -m benchmarks.scan serve`): one asyncio
  process listening on 127.0.1.1..127.0.1.200 at one free port, answering
  `/debug/pprof/goroutine` and `/debug/pprof/heap` with recorded bytes from tests/corpus (pod N
  serves series N mod 12 and advances one sample per request of each kind);
- the kubesandbox (`python -m kubesandbox up` in its own process; API server, kubelet and the
  port-forward bridge), with an image mapped to `/bin/sleep`: a Deployment of 200 replicas gets
  200 pods on 127.0.1.1..200 whose container is a sleeping process, while the light server
  already listens on each pod's IP and declared port (so the kubelet's TCP readiness passes);
- this process: the operator's code path, `KubeCluster.fetch` (`fetch_profile` over
  `http_client_for("PortForward", api)`), against a plain `httpx.AsyncClient.get` of the same 400
  URLs straight at the pod IPs. Both fetch goroutine then heap per target under a semaphore of 32
  (the operator's `Limits.global_fetches`).

Rows, interleaved per round so all see the same machine load; wall is the median over rounds,
CPU (`time.process_time`) is this process only, per target (= 2 fetches). The "+ load + observe"
row is what the scanner does per target: fetch, parse, and feed a `TargetEvaluator`; those
evaluators are then the "tracked targets" whose memory is measured (a deep size over all 200,
objects shared between targets counted once; see benchmarks.evaluate for the 120-sample figure).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from benchmarks.evaluate import deep_size
from leakpatrol.controller.collect.targets import select_targets
from leakpatrol.controller.ports import FetchOptions, ScanTarget
from leakpatrol.core import MAX_PROFILE_BYTES
from leakpatrol.detect import checkpoint
from leakpatrol.detect.config import DetectionConfig
from leakpatrol.detect.evaluator import Sample, TargetEvaluator
from leakpatrol.diagnose.rules import RuleSet
from leakpatrol.kube.connection import connect
from leakpatrol.kube.pods import list_pods
from leakpatrol.profiles import load
from leakpatrol.runtime.cluster import KubeCluster

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
TARGETS = 200
CONCURRENCY = 32  # leakpatrol.controller.scanner.Limits.global_fetches
ROUNDS = 5
SAMPLES_SERVED = 16  # per series, cycled: enough distinct samples for the rounds
PATHS = ("/debug/pprof/goroutine?debug=0", "/debug/pprof/heap")
IMAGE = "leakpatrol.bench/hold"
NAMESPACE = "default"
START_TIMEOUT = 30.0
PODS_TIMEOUT = 120.0
PASS_TIMEOUT = 60.0
SERVER_LIFETIME = 900.0  # the light server exits by itself after this, whatever happens here
RATIO_TARGET = 2.0


# --- the light pprof server (a child process) ---------------------------------------------------
def _corpus_bodies() -> list[tuple[list[bytes], list[bytes]]]:
    """(goroutine bodies, heap bodies) of the first SAMPLES_SERVED samples of each series."""
    series = []
    for d in sorted(p for p in CORPUS.iterdir() if p.is_dir()):
        stamps = sorted(int(f.name.split(".")[0]) for f in d.glob("*.heap.pb.gz"))[:SAMPLES_SERVED]
        if stamps and all((d / f"{s}.goroutine.pb.gz").exists() for s in stamps):
            g = [(d / f"{s}.goroutine.pb.gz").read_bytes() for s in stamps]
            h = [(d / f"{s}.heap.pb.gz").read_bytes() for s in stamps]
            series.append((g, h))
    if not series:
        raise SystemExit(f"no series with goroutine and heap profiles under {CORPUS}")
    return series


class _Pprof(asyncio.Protocol):
    """Minimal HTTP/1.1 keep-alive GET server; pre-rendered responses, nothing parsed but the path."""

    def __init__(self, series: list[tuple[list[bytes], list[bytes]]], counters: dict[tuple[str, int], int]):
        self.series, self.counters = series, counters
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.ip = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.ip = transport.get_extra_info("sockname")[0]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            parts = head.split(b"\r\n", 1)[0].split(b" ")
            path = parts[1].split(b"?", 1)[0] if len(parts) == 3 else b""
            assert self.transport is not None
            self.transport.write(self._response(path))

    def _response(self, path: bytes) -> bytes:
        kind = {b"/debug/pprof/goroutine": 0, b"/debug/pprof/heap": 1}.get(path)
        if kind is None:
            body = b"Unknown profile\n"
            return b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        index = int(self.ip.rsplit(".", 1)[1]) - 1
        bodies = self.series[index % len(self.series)][kind]
        n = self.counters.get((self.ip, kind), 0)
        self.counters[(self.ip, kind)] = n + 1
        body = bodies[n % len(bodies)]
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )


def pod_ips(count: int) -> list[str]:
    """What the sandbox's kubelet hands out, in order (127.0.1.1 .. 127.0.1.254, then 127.0.2.x)."""
    return [f"127.0.{1 + i // 254}.{1 + i % 254}" for i in range(count)]


async def _serve(count: int) -> None:
    series = _corpus_bodies()
    counters: dict[tuple[str, int], int] = {}
    loop = asyncio.get_running_loop()
    ips = pod_ips(count)
    for _ in range(10):  # a port free on all of them (another sandbox may use some 127.0.1.N)
        first = await loop.create_server(lambda: _Pprof(series, counters), ips[0], 0)
        port = first.sockets[0].getsockname()[1]
        try:
            rest = await loop.create_server(lambda: _Pprof(series, counters), ips[1:], port)
            break
        except OSError:
            first.close()
    else:
        raise SystemExit("no port free on every pod IP")
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"PORT {port} SERIES {len(series)}", flush=True)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), SERVER_LIFETIME)
    first.close()
    rest.close()


# --- child processes ----------------------------------------------------------------------------
_SANDBOX = """
import sys
sys.path.insert(0, {tests!r})
from kubesandbox import IMAGES, Image
IMAGES[{image!r}] = Image("/bin/sleep", [{lifetime!r}])
from kubesandbox.__main__ import main
sys.exit(main(["up", "--kubeconfig", {kubeconfig!r}]))
"""


async def _start(argv: list[str], ready: str) -> tuple[asyncio.subprocess.Process, str]:
    """Start a child; return it and its first stdout line starting with `ready`."""
    env = os.environ | {"KUBESANDBOX_POD_NET": "0"}  # pods on 127.0.1.N, as pod_ips() expects
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(START_TIMEOUT):
            while line := (await proc.stdout.readline()).decode():
                if line.startswith(ready):
                    return proc, line.strip()
    except TimeoutError:
        pass
    await _stop(proc)
    raise RuntimeError(f"{argv[:3]} did not print {ready!r} within {START_TIMEOUT}s")


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) of another process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the measurement ----------------------------------------------------------------------------
def _deployment(port: int) -> dict[str, Any]:
    labels = {"app": "scan-bench"}
    container = {"name": "app", "image": IMAGE, "ports": [{"name": "pprof", "containerPort": port}]}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "scan-bench", "namespace": NAMESPACE},
        "spec": {
            "replicas": TARGETS,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


async def _targets(api: Any, port: int) -> list[ScanTarget]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PODS_TIMEOUT
    while True:
        targets, _ = select_targets(await list_pods(api, NAMESPACE, "app=scan-bench"), port)
        if len(targets) >= TARGETS:
            return sorted(targets, key=lambda t: tuple(int(x) for x in t.ip.split(".")))
        if loop.time() > deadline:
            raise RuntimeError(f"only {len(targets)} of {TARGETS} pods ready after {PODS_TIMEOUT}s")
        await asyncio.sleep(0.5)


Fetch = Callable[[ScanTarget, str], Awaitable[bytes]]
Row = tuple[list[float], list[float]]  # walls, CPU seconds per pass


async def _pass(targets: list[ScanTarget], fetch: Fetch, after: Callable[..., None] | None = None) -> Row:
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(t: ScanTarget) -> None:
        async with sem:
            bodies = [await fetch(t, path) for path in PATHS]
        if after is not None:
            after(t, *bodies)

    wall, cpu = time.perf_counter(), time.process_time()
    async with asyncio.timeout(PASS_TIMEOUT):
        await asyncio.gather(*(one(t) for t in targets))
    return [time.perf_counter() - wall], [time.process_time() - cpu]


async def _measure(kubeconfig: str, port: int, sandbox_pid: int) -> None:
    api = await connect(kubeconfig)
    cluster = KubeCluster(api)  # owns (and closes) `api`
    plain = httpx.AsyncClient(trust_env=False)
    try:
        await api.post(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments", _deployment(port))
        started = time.perf_counter()
        targets = await _targets(api, port)
        print(f"{len(targets)} pods ready in {time.perf_counter() - started:.1f}s ({targets[0].ip}..)")

        def options(transport: Any) -> FetchOptions:
            return FetchOptions(transport, "HTTP", 5.0, 20.0, 30.0, MAX_PROFILE_BYTES)

        forward, direct = options("PortForward"), options("Direct")

        async def plain_get(t: ScanTarget, path: str) -> bytes:
            response = await plain.get(f"http://{t.ip}:{t.port}{path}")
            response.raise_for_status()
            return response.content

        config, rules = DetectionConfig(), RuleSet.default()
        evaluators: dict[str, TargetEvaluator] = {}
        clock = [time.time() + 3600.0]  # sample times one minute apart, past the warm-up

        def evaluate(t: ScanTarget, goroutine: bytes, heap: bytes) -> None:
            ev = evaluators.setdefault(t.uid, TargetEvaluator(config, rules))
            ev.observe(Sample(clock[0], load(goroutine), load(heap)), t.identity)

        rows: dict[str, tuple[Fetch, Callable[..., None] | None]] = {
            "plain httpx, direct to pod IP": (plain_get, None),
            "port-forward (KubeCluster.fetch)": (lambda t, p: cluster.fetch(t, p, forward), None),
            "direct (KubeCluster.fetch)": (lambda t, p: cluster.fetch(t, p, direct), None),
            "port-forward + load + observe": (lambda t, p: cluster.fetch(t, p, forward), evaluate),
        }
        results: dict[str, Row] = {name: ([], []) for name in rows}
        sandbox_cpu: list[float] = []
        await _pass(targets, plain_get)  # warm-up: imports, first connections, server caches
        for _ in range(ROUNDS):
            for name, (fetch, after) in rows.items():
                before = _cpu_of(sandbox_pid)
                walls, cpus = await _pass(targets, fetch, after)
                results[name][0].extend(walls)
                results[name][1].extend(cpus)
                if name == "port-forward (KubeCluster.fetch)":
                    sandbox_cpu.append(_cpu_of(sandbox_pid) - before)
            clock[0] += 60.0
        _report(results, sandbox_cpu, evaluators, config)
    finally:
        await plain.aclose()
        await cluster.aclose()


def _report(
    results: dict[str, Row], sandbox_cpu: list[float], evaluators: dict[str, TargetEvaluator], config: Any
) -> None:
    base = statistics.median(results["plain httpx, direct to pod IP"][0])
    print(
        f"\n{'path (2 fetches per target, 32 at a time)':<44}{'pass wall ms':>13}{'min':>8}{'max':>8}"
        f"{'vs plain':>10}{'CPU ms/target':>15}"
    )
    for name, (walls, cpus) in results.items():
        wall = statistics.median(walls)
        print(
            f"{name:<44}{wall * 1e3:>13.0f}{min(walls) * 1e3:>8.0f}{max(walls) * 1e3:>8.0f}"
            f"{wall / base:>9.2f}x{statistics.median(cpus) / TARGETS * 1e3:>15.2f}"
        )
    forward = statistics.median(results["port-forward (KubeCluster.fetch)"][0])
    verdict = "meets" if forward / base <= RATIO_TARGET else "MISSES"
    print(f"\nport-forward / plain = {forward / base:.2f}x: {verdict} the <= {RATIO_TARGET:.0f}x target")
    print(
        f"sandbox process (API server + port-forward bridge, not counted above): "
        f"{statistics.median(sandbox_cpu) / TARGETS * 1e3:.2f} ms CPU per port-forwarded target"
    )
    samples = len(next(iter(evaluators.values())).goroutines.tracker)
    size = deep_size(list(evaluators.values()), exclude=[config, *(e.rules for e in evaluators.values())])
    states = {uid: checkpoint.dump(e) for uid, e in evaluators.items()}
    raw = sum(len(json.dumps(s)) for s in states.values())
    print(
        f"tracked targets: {len(evaluators)} evaluators after {samples} samples each: "
        f"{size / len(evaluators) / 1024:.1f} KB per target (deep size, shared objects once); "
        f"checkpoint {raw / len(evaluators) / 1024:.1f} KB JSON per target, "
        f"{len(checkpoint.encode(states)) / 1024:.0f} KB zlib for all {len(evaluators)}"
    )
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


async def _main() -> None:
    server, line = await _start([sys.executable, "-m", "benchmarks.scan", "serve", str(TARGETS)], "PORT")
    try:
        port = int(line.split()[1])
        with tempfile.TemporaryDirectory(prefix="scan-bench-") as tmp:
            kubeconfig = str(Path(tmp) / "kubeconfig")
            lifetime = str(int(SERVER_LIFETIME))
            code = _SANDBOX.format(
                tests=str(ROOT / "tests"), image=IMAGE, lifetime=lifetime, kubeconfig=kubeconfig
            )
            sandbox, _ = await _start([sys.executable, "-c", code], "export KUBECONFIG=")
            try:
                await _measure(kubeconfig, port, sandbox.pid)
            finally:
                await _stop(sandbox)
    finally:
        await _stop(server)


def run() -> None:
    print(f"\n## scan: one pass over {TARGETS} sandbox targets, port-forward vs plain httpx\n")
    asyncio.run(_main())


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        asyncio.run(_serve(int(sys.argv[2])))
    else:
        run()
