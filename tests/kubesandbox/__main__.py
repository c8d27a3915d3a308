"""`python -m kubesandbox up [--port P] [--kubeconfig PATH]`: run a sandbox cluster in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from . import processes
from .kubelet import Backoff
from .sandbox import Sandbox


async def up(port: int, kubeconfig: Path | None, backoff: Backoff | None = None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    async with Sandbox(port=port, kubeconfig_path=kubeconfig, backoff=backoff) as sb:
        print(f"kubesandbox API server at {sb.url}", flush=True)
        print(f"export KUBECONFIG={sb.kubeconfig_path}", flush=True)
        print(f"memory limits enforced by: {sb.limits.mechanism}", file=sys.stderr, flush=True)
        print("Ctrl-C stops the sandbox and every pod process.", file=sys.stderr, flush=True)
        await stop.wait()
    print("kubesandbox stopped", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kubesandbox")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="start the sandbox in the foreground")
    start.add_argument("--port", type=int, default=0, help="API server port (default: a free one)")
    start.add_argument("--kubeconfig", type=Path, default=None, help="where to write the kubeconfig")
    start.add_argument(
        "--backoff-base", type=float, default=None, help="CrashLoopBackOff's first wait in seconds (10)"
    )
    args = parser.parse_args(argv)
    backoff = Backoff(base=args.backoff_base) if args.backoff_base else None
    try:
        asyncio.run(up(args.port, args.kubeconfig, backoff))
    finally:
        processes.kill_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
