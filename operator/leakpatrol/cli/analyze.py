"""`leakpatrol analyze DIR`: a recorded series directory -> the verdict (and a forecast)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from leakpatrol.api.units import parse_quantity
from leakpatrol.cli.args import duration, quantity, rules
from leakpatrol.detect.config import DetectionConfig
from leakpatrol.detect.forecast import forecast_words, samples_forecast
from leakpatrol.detect.replay import replay
from leakpatrol.render import verdict_text
from leakpatrol.seriesdir import SeriesDir


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--memory-limit",
        type=quantity,
        help="the container's memory limit (e.g. 512Mi): also print when the leak reaches it",
    )
    _threshold_flags(p)
    p.set_defaults(run=cmd_analyze)


def _threshold_flags(p: argparse.ArgumentParser) -> None:
    d = DetectionConfig()
    g = p.add_argument_group("detection thresholds (defaults = a LeakPolicy's defaults)")
    g.add_argument("--window", type=duration, help=f"trend window (default {d.window_seconds:.0f}s)")
    g.add_argument(
        "--warmup", type=duration, help=f"ignore samples this soon after start ({d.warmup_seconds:.0f}s)"
    )
    g.add_argument("--min-samples", type=int, help=f"samples before a verdict ({d.min_samples})")
    g.add_argument("--significance", type=float, help=f"Mann-Kendall p-value ({d.significance})")
    g.add_argument("--min-growth", type=float, help=f"goroutine growth floor ({d.min_growth_goroutines:.0f})")
    g.add_argument(
        "--min-heap-growth", type=float, help=f"heap growth floor, bytes ({d.min_growth_heap_bytes:.0f})"
    )
    g.add_argument(
        "--relative-growth", type=float, help=f"growth floor as a share of baseline ({d.relative_growth})"
    )
    g.add_argument("--confirmations", type=int, help=f"consecutive flags to confirm ({d.confirmations})")
    g.add_argument("--ceiling", type=int, help="absolute goroutine ceiling (off)")
    g.add_argument("--allow", action="append", default=[], help="signature substring known to be static")
    g.add_argument("--rules", type=Path, help="extra rules (TOML, same shape as the shipped rules.toml)")


def _config(a: argparse.Namespace) -> DetectionConfig:
    fields: dict[str, Any] = {
        "window_seconds": a.window,
        "warmup_seconds": a.warmup,
        "min_samples": a.min_samples,
        "significance": a.significance,
        "min_growth_goroutines": a.min_growth,
        "min_growth_heap_bytes": a.min_heap_growth,
        "relative_growth": a.relative_growth,
        "confirmations": a.confirmations,
        "goroutine_ceiling": a.ceiling,
        "allowlist": tuple(a.allow) or None,
    }
    return DetectionConfig(**{k: v for k, v in fields.items() if v is not None})


def cmd_analyze(a: argparse.Namespace) -> int:
    series = SeriesDir.open(Path(a.dir))
    samples = list(series.samples())
    verdict = replay(samples, series.pod, _config(a), rules(a.rules))
    for problem in series.skipped:
        print(f"skipped {problem}", file=sys.stderr)
    fc = samples_forecast(samples, parse_quantity(a.memory_limit)) if a.memory_limit else None
    words = "too few samples for a forecast" if fc is None else forecast_words(fc, a.memory_limit)
    if a.json:
        out = verdict.to_json()
        if a.memory_limit:
            out["forecast"] = {"limit": a.memory_limit, "message": words, **(fc.to_json() if fc else {})}
        print(json.dumps(out, indent=2))
    else:
        print(verdict_text(verdict, a.dir))
        if a.memory_limit:
            print(f"forecast: {words}")
    return 0
