"""Shards section: targets per minute one replica sustains at one core, and three replicas' total.

A target's cost is fetch + parse + evaluate (what a scan pass spends per target; the API calls of a
pass are per policy, not per target). The targets are pods of one light server (tests/lightpods.py,
one socket per loopback IP) serving either the recorded corpus (small profiles, ~1-3 KB) or one
generated 100k-goroutine / 4,096-stack profile. Each replica is its own process scanning the shards
`leakpatrol.controller.shards.assignment` assigns it (one policy, 16 shards), PASSES passes in a row, and
reports its CPU seconds: targets per minute at one core = 60 x targets / CPU seconds. One replica
holds every shard; then three run at once, each with its share, and their sum is set against one.
On this 2-core box three processes cannot each have a core, so the wall-clock total is printed too.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.parse import profiles
from benchmarks.scan import pod_ips
from leakpatrol.controller.shards.assignment import Assignment, shard_of
from leakpatrol.detect.config import DetectionConfig
from leakpatrol.detect.evaluator import PodIdentity, Sample, TargetEvaluator
from leakpatrol.diagnose.rules import RuleSet
from leakpatrol.profiles import load

ROOT = Path(__file__).resolve().parent.parent
PASSES = 3
CONCURRENCY = 32
CASES = {"recorded (small)": 240, "4,096 stacks": 60}  # profile kind -> targets
MEMBERS = ("replica-a", "replica-b", "replica-c")
SERIES = ["transport-per-request", "steady-pool", "periodic-load", "load-ramp"]
NET = 251  # 127.251.x.y: outside the sandboxes' random 127.2-249 nets


async def _replica(me: str, members: list[str], port: int, ips: list[str]) -> dict[str, float]:
    view = Assignment(me, frozenset(members))
    owned = view.owned("bench-policy")
    mine = [ip for ip in ips if shard_of(f"uid-{ip}", view.shards) in owned]
    config, rules = DetectionConfig(), RuleSet.default()
    evaluators = {ip: TargetEvaluator(config, rules) for ip in mine}
    sem = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(trust_env=False) as http:

        async def one(ip: str, at: float) -> None:
            async with sem:
                r = await http.get(f"http://{ip}:{port}/debug/pprof/goroutine?debug=0")
            evaluators[ip].observe(Sample(at, load(r.content)), PodIdentity(f"uid-{ip}", 0.0, 0))

        wall, cpu = time.perf_counter(), time.process_time()
        for n in range(PASSES):
            await asyncio.gather(*(one(ip, 3600.0 + 60 * n) for ip in mine))
        return {
            "targets": len(mine) * PASSES,
            "cpu": time.process_time() - cpu,
            "wall": time.perf_counter() - wall,
        }


def _run_replicas(members: tuple[str, ...], port: int, ips: list[str]) -> list[dict[str, float]]:
    cmd = [sys.executable, "-m", "benchmarks.shards", "replica"]
    procs = [
        subprocess.Popen(
            [*cmd, me, ",".join(members), str(port), ",".join(ips)], cwd=ROOT, stdout=subprocess.PIPE
        )
        for me in members
    ]
    return [json.loads(p.communicate(timeout=900)[0]) for p in procs]


def _case(kind: str, count: int) -> tuple[float, float, float, float]:
    ips = [ip.replace("127.0.", f"127.{NET}.", 1) for ip in pod_ips(count)]
    big = profiles(100_000, 4096) / "goroutine.pb.gz"
    groups = (
        [f"{big}={','.join(ips)}"]
        if "4,096" in kind
        else [f"{s}={','.join(ips[i :: len(SERIES)])}" for i, s in enumerate(SERIES)]
    )
    with tempfile.NamedTemporaryFile(suffix=".port") as portfile:
        server = subprocess.Popen([sys.executable, str(ROOT / "tests/lightpods.py"), portfile.name, *groups])
        try:
            while not Path(portfile.name).read_text().strip():
                time.sleep(0.1)
            port = int(Path(portfile.name).read_text().split()[1])
            (one,) = _run_replicas(MEMBERS[:1], port, ips)
            three = _run_replicas(MEMBERS, port, ips)
        finally:
            server.terminate()
            server.wait(10)
    per_core_one = 60 * one["targets"] / one["cpu"]
    per_core_three = sum(60 * r["targets"] / r["cpu"] for r in three)
    wall_one = 60 * one["targets"] / one["wall"]
    wall_three = 60 * sum(r["targets"] for r in three) / max(r["wall"] for r in three)
    return per_core_one, per_core_three, wall_one, wall_three


def run() -> None:
    print(
        f"\n## shards: targets per minute, one replica vs three ({PASSES} passes, fetch + parse + evaluate)\n"
    )
    print(f"{'profiles':<20}{'1 replica/core':>16}{'3 replicas (core each)':>24}{'ratio':>8}"
          f"{'wall here: 1':>14}{'3':>9}{'ratio':>8}")  # fmt: skip
    for kind, count in CASES.items():
        one, three, w1, w3 = _case(kind, count)
        ratios = f"{three / one:>7.2f}x{w1:>14,.0f}{w3:>9,.0f}{w3 / w1:>7.2f}x"
        print(f"{kind:<20}{one:>16,.0f}{three:>24,.0f}{ratios}")
    print(
        "\n(per core: 60 x targets / CPU seconds of each replica process; wall: targets per minute of wall"
        " time on this machine, where three processes share 2 cores with everything else)"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["replica"]:
        me, members, port, ips = sys.argv[2:6]
        print(json.dumps(asyncio.run(_replica(me, members.split(","), int(port), ips.split(",")))))
    else:
        run()
