"""`leakpatrol record --url URL DIR`: record a live pprof endpoint into a series directory."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from leakpatrol.cli.args import duration
from leakpatrol.record import record_series


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", required=True, help="base URL of the service, e.g. http://127.0.0.1:6060")
    p.add_argument("--interval", type=duration, default=60.0)
    p.add_argument("--count", type=int, default=120)
    p.add_argument("--timeout", type=duration, default=10.0)
    p.add_argument("--text", action="store_true", help="record debug=1 text instead of debug=0")
    p.add_argument("dir")
    p.set_defaults(run=cmd_record)


def cmd_record(a: argparse.Namespace) -> int:
    asyncio.run(
        record_series(
            a.url.rstrip("/"), Path(a.dir), interval=a.interval, count=a.count, text=a.text, timeout=a.timeout
        )
    )
    return 0
