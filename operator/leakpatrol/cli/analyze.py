"""`leakpatrol analyze DIR`: a recorded series directory -> the verdict (and a forecast).

`--fail-on leak|suspected` makes the verdict gate a build (exit 1, see `cli.exits`), `--junit FILE`
writes it as a report CI systems render, `--preset ci` scales the thresholds to a short load test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from leakpatrol.api.units import parse_quantity
from leakpatrol.cli.args import add_json, duration, quantity, rules
from leakpatrol.cli.exits import CliError, Exit, emit
from leakpatrol.cli.junit import junit_report
from leakpatrol.core import SignalKind
from leakpatrol.detect.config import PRESETS, DetectionConfig
from leakpatrol.detect.evaluator import Sample
from leakpatrol.detect.forecast import forecast_words, samples_forecast
from leakpatrol.detect.replay import ReplayVerdict, replay
from leakpatrol.render import signal_summary, verdict_text
from leakpatrol.seriesdir import SeriesDir


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="a series directory (leakpatrol record writes one)")
    add_json(p, "the verdict")
    p.add_argument(
        "--fail-on",
        choices=("leak", "suspected"),
        help="exit 1 when the series has a confirmed leak (leak), or also a leak suspected at its "
        "last evaluation (suspected); exit 6 when it is too short for a verdict",
    )
    p.add_argument("--junit", type=Path, metavar="FILE", help="also write the verdict as JUnit XML to FILE")
    p.add_argument(
        "--memory-limit",
        type=quantity,
        help="the container's memory limit (e.g. 512Mi): with a finding, also print when the leak reaches it",
    )
    _threshold_flags(p)
    p.set_defaults(run=cmd_analyze)


def _threshold_flags(p: argparse.ArgumentParser) -> None:
    d = DetectionConfig()
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="default",
        help="thresholds to start from: default = a LeakPolicy's defaults (hours of one-a-minute "
        "samples); ci = a 10-20 minute load test sampled every 5-10 s (see README); the flags "
        "below override single values",
    )
    g = p.add_argument_group("detection thresholds (defaults = the preset's; shown: a LeakPolicy's)")
    g.add_argument("--window", type=duration, help=f"trend window (default {d.window_seconds:.0f}s)")
    g.add_argument(
        "--warmup",
        type=duration,
        help=f"ignore samples this soon after the process start (default {d.warmup_seconds:.0f}s)",
    )
    g.add_argument("--min-samples", type=int, help=f"samples before a verdict (default {d.min_samples})")
    g.add_argument("--significance", type=float, help=f"Mann-Kendall p-value (default {d.significance})")
    g.add_argument(
        "--min-growth", type=float, help=f"goroutine growth floor (default {d.min_growth_goroutines:.0f})"
    )
    g.add_argument(
        "--min-heap-growth",
        type=float,
        help=f"heap growth floor, bytes (default {d.min_growth_heap_bytes:.0f})",
    )
    g.add_argument(
        "--relative-growth",
        type=float,
        help=f"growth floor as a share of baseline (default {d.relative_growth})",
    )
    g.add_argument(
        "--confirmations", type=int, help=f"consecutive flags to confirm (default {d.confirmations})"
    )
    g.add_argument("--ceiling", type=int, help="absolute goroutine ceiling (default: off)")
    g.add_argument(
        "--allow", action="append", default=[], help="signature substring known to be static (repeatable)"
    )
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
    return PRESETS[a.preset].model_copy(update={k: v for k, v in fields.items() if v is not None})


def _validated(config: DetectionConfig) -> DetectionConfig:
    """model_copy does not validate: a threshold out of range is a usage error, said once."""
    try:
        return DetectionConfig.model_validate(config.model_dump())
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(x) for x in first["loc"])
        raise CliError(Exit.USAGE, f"threshold {field}: {first['msg']}") from None


def cmd_analyze(a: argparse.Namespace) -> int:
    began = time.monotonic()
    config = _validated(_config(a))
    ruleset = rules(a.rules)
    series = SeriesDir.open(Path(a.dir))
    samples = list(series.samples())
    verdict = replay(samples, series.pod, config, ruleset)
    notes = _notes(series, config, a.preset)
    for problem in series.skipped:
        print(f"skipped {problem}", file=sys.stderr)
    words, fc_json = _forecast(a, samples, verdict)
    if a.json:
        out = verdict.to_json()
        out |= {
            "samples": verdict.samples,
            "preset": a.preset,
            "warmup_from": series.start_from,
            "skipped": list(series.skipped),
            "missing": series.missing,
            "suspected": [s.to_json() for s in verdict.suspected],
        }
        if fc_json is not None:
            out["forecast"] = fc_json
        emit(json.dumps(out, indent=2))
    else:
        forecast = [f"forecast: {words}"] if words is not None else []
        emit("\n".join([verdict_text(verdict, a.dir, notes), *forecast]))
    if a.junit is not None:
        report = junit_report(
            verdict,
            a.dir,
            kinds=_kinds(samples),
            fail_on=a.fail_on or "leak",
            notes=[f"series {a.dir}: {verdict.samples} samples", *notes],
            seconds=time.monotonic() - began,
        )
        try:
            a.junit.write_bytes(report)
        except OSError as exc:
            raise CliError(Exit.INPUT, f"--junit {a.junit}: {exc.strerror or exc}") from None
    return int(_gate(a.fail_on, verdict, a.dir))


def _notes(series: SeriesDir, config: DetectionConfig, preset: str) -> list[str]:
    notes = [f"warm-up: {config.warmup_seconds:g}s from {series.start_from}"]
    if preset != "default":
        notes.append(
            f"preset: {preset} (window {config.window_seconds:g}s, {config.min_samples} samples minimum)"
        )
    if series.skipped:
        notes.append(f"skipped {len(series.skipped)} file(s) that did not read (listed on stderr)")
    if series.missing:
        notes.append(f"{series.missing} profile(s) the recorder could not fetch (recording.json)")
    return notes


def _forecast(
    a: argparse.Namespace, samples: list[Sample], verdict: ReplayVerdict
) -> tuple[str | None, dict[str, Any] | None]:
    """A forecast is made only for a finding: a healthy series' noise is no rate toward OOM."""
    if not a.memory_limit:
        return None, None
    if verdict.verdict != "leak":
        words = f"none: no leak was found (a forecast is made only for a finding; verdict {verdict.verdict})"
        return words, {"limit": a.memory_limit, "message": words}
    fc = samples_forecast(samples, parse_quantity(a.memory_limit))
    words = "too few samples for a forecast" if fc is None else forecast_words(fc, a.memory_limit)
    return words, {"limit": a.memory_limit, "message": words, **(fc.to_json() if fc else {})}


def _kinds(samples: list[Sample]) -> list[SignalKind]:
    kinds = []
    if any(s.goroutine is not None for s in samples):
        kinds.append(SignalKind.GOROUTINES)
    if any(s.heap is not None for s in samples):
        kinds.append(SignalKind.HEAP)
    if any(s.goroutineleak is not None for s in samples):
        kinds.append(SignalKind.GOROUTINELEAK)
    return kinds


def _gate(fail_on: str | None, v: ReplayVerdict, source: str) -> Exit:
    """The exit code under `--fail-on`, said in one line on stderr when it is not 0."""
    if fail_on is None:
        return Exit.OK
    if v.verdict == "insufficient-data":
        print(
            f"leakpatrol: analyze --fail-on {fail_on}: {source}: too few samples for a verdict "
            f"({v.samples}): not a pass",
            file=sys.stderr,
        )
        return Exit.INSUFFICIENT
    found = v.signals or (v.suspected if fail_on == "suspected" else ())
    if not found:
        return Exit.OK
    word = "LEAK" if v.signals else "SUSPECTED leak"
    print(
        f"leakpatrol: analyze --fail-on {fail_on}: {word} in {source}: {signal_summary(found[0])}",
        file=sys.stderr,
    )
    return Exit.FINDING
