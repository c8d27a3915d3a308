"""Run every benchmark section in order. A section is a module with `run() -> None` that prints."""

from __future__ import annotations

import importlib
import sys

# Add new sections here.
SECTIONS = [
    "benchmarks.parse",
    "benchmarks.evaluate",
    "benchmarks.scan",
    "benchmarks.shards",
    "benchmarks.memory",
]


def main(argv: list[str]) -> int:
    wanted = set(argv) or None
    for name in SECTIONS:
        if wanted is None or name.rsplit(".", 1)[-1] in wanted:
            importlib.import_module(name).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
