"""`leakpatrol` command line: diagnose one profile, record a live endpoint, analyze a series."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from leakpatrol.api.units import parse_duration, parse_quantity
from leakpatrol.core import GLOBAL_FETCHES, PER_POLICY_FETCHES
from leakpatrol.detect.config import DetectionConfig
from leakpatrol.detect.forecast import forecast_words, samples_forecast
from leakpatrol.detect.replay import replay
from leakpatrol.diagnose.rules import RuleError, RuleSet
from leakpatrol.profiles import ProfileError, ProfileKind, load
from leakpatrol.profiles.parser import MAX_DECOMPRESSED, MAX_STACKS, ParseLimits
from leakpatrol.record import record_series
from leakpatrol.render import diagnose_text, verdict_text
from leakpatrol.seriesdir import SeriesDir, SeriesError


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _quantity(text: str) -> str:
    try:
        parse_quantity(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text


def _threshold_flags(p: argparse.ArgumentParser) -> None:
    d = DetectionConfig()
    g = p.add_argument_group("detection thresholds (defaults = a LeakPolicy's defaults)")
    g.add_argument("--window", type=_duration, help=f"trend window (default {d.window_seconds:.0f}s)")
    g.add_argument(
        "--warmup", type=_duration, help=f"ignore samples this soon after start ({d.warmup_seconds:.0f}s)"
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


def _rules(path: Path | None) -> RuleSet:
    rules = RuleSet.default()
    if path is None:
        return rules
    return rules.extended(RuleSet.from_toml(path.read_text(), str(path)).rules)


def cmd_diagnose(a: argparse.Namespace) -> int:
    profile = load(Path(a.file).read_bytes())
    rules = _rules(a.rules)
    if not a.json:
        print(diagnose_text(profile, rules, a.top))
        return 0
    signal = {ProfileKind.HEAP: "heap", ProfileKind.GOROUTINELEAK: "goroutineleak"}.get(
        profile.kind, "goroutines"
    )
    groups = []
    for g in sorted(profile.groups, key=lambda g: g.size, reverse=True)[: a.top]:
        rule = rules.match(signal, g.wait_kind.value, [f.function for f in g.user_frames])
        # Keys only a tolerant read fills appear only when set: well-formed output is unchanged.
        ancestors = {"ancestors": [f.display() for f in g.ancestors]} if g.ancestors else {}
        groups.append(
            {
                "signature": g.signature,
                "count": g.count,
                "wait_kind": g.wait_kind.value,
                "wait_minutes_max": max(g.wait_minutes) if g.wait_minutes else None,
                "created_by": g.created_by,
                **ancestors,
                "frames": [f.display() for f in g.user_frames or g.frames],
                "inuse_space": g.heap.inuse_space if g.heap else None,
                "rule": None if rule is None else {"id": rule.id, "cause": rule.cause, "fix": rule.fix},
            }
        )
    warnings = {"warnings": list(profile.warnings)} if profile.warnings else {}
    print(
        json.dumps(
            {
                "kind": profile.kind.value,
                "format": profile.format.value,
                "total": profile.total,
                **warnings,
                "groups": groups,
            },
            indent=2,
        )
    )
    return 0


def cmd_analyze(a: argparse.Namespace) -> int:
    series = SeriesDir.open(Path(a.dir))
    samples = list(series.samples())
    verdict = replay(samples, series.pod, _config(a), _rules(a.rules))
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


def cmd_record(a: argparse.Namespace) -> int:
    asyncio.run(
        record_series(
            a.url.rstrip("/"), Path(a.dir), interval=a.interval, count=a.count, text=a.text, timeout=a.timeout
        )
    )
    return 0


def cmd_operator(a: argparse.Namespace) -> int:
    from leakpatrol.runtime.main import OperatorOptions, run_operator  # noqa: PLC0415 - kopf is heavy

    logging.basicConfig(level=a.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not a.log_http:  # one line per request (thousands a minute) would drown what happened
        for noisy in ("httpx", "httpcore"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    opts = OperatorOptions(
        namespaces=tuple(a.namespace),
        kubeconfig=a.kubeconfig,
        context=a.context,
        metrics_port=a.metrics_port,
        home_namespace=a.home_namespace or _own_namespace(),
        max_fetches=a.max_fetches,
        per_policy=a.per_policy,
        parse=ParseLimits(a.max_profile_stacks, a.max_profile_mb << 20),
        parse_workers=a.parse_workers,
        identity=a.identity,
        leader_election=a.leader_election,
        lease_name=a.lease_name,
        lease_duration=a.lease_duration,
        sharding=a.sharding,
        shards=a.shards,
        stall_after=a.stall_after,
    )
    asyncio.run(run_operator(opts))
    return 0


def cmd_release_finalizers(a: argparse.Namespace) -> int:
    from leakpatrol.runtime.uninstall import Release, run_release  # noqa: PLC0415 - kube client

    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    home = a.home_namespace or _own_namespace()
    release = Release(home, a.deployment or None, tuple(a.namespace))
    asyncio.run(run_release(release, a.kubeconfig, a.context))
    return 0


def _own_namespace() -> str:
    """In a pod, the service account's namespace (the chart also passes POD_NAMESPACE); else default."""
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    sa = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    return sa.read_text().strip() if sa.is_file() else "default"


def _env(name: str, default: str) -> str:
    return os.environ.get(f"LEAKPATROL_{name}", default)


def _operator_ha_flags(op: argparse.ArgumentParser) -> None:
    g = op.add_argument_group("replicas and health")
    g.add_argument(
        "--identity",
        default=_env("IDENTITY", os.environ.get("POD_NAME", "")),
        help="this replica's name in the Lease (default: $POD_NAME, else host-pid)",
    )
    g.add_argument(
        "--leader-election",
        action=argparse.BooleanOptionalAction,
        default=_env("LEADER_ELECTION", "true").lower() in ("1", "true", "yes"),
        help="scan only while holding a Lease in the home namespace, so replicas > 1 is safe (default on)",
    )
    g.add_argument("--lease-name", default=_env("LEASE_NAME", "leakpatrol"), help="the Lease's name")
    g.add_argument(
        "--sharding",
        action=argparse.BooleanOptionalAction,
        default=_env("SHARDING", "false").lower() in ("1", "true", "yes"),
        help="every replica scans its share (member Leases <lease-name>-member-*) instead of one leader",
    )
    g.add_argument(
        "--shards",
        type=int,
        default=int(_env("SHARDS", "16")),
        help="with --sharding: shards per policy, the unit of hand-over and of checkpoints (default 16)",
    )
    g.add_argument(
        "--lease-duration",
        type=_duration,
        default=_duration(_env("LEASE_DURATION", "15s")),
        help="a standby takes over after the leader is silent this long (default 15s)",
    )
    g.add_argument(
        "--stall-after",
        type=_duration,
        default=_duration(_env("STALL_AFTER", "5m")),
        help="/healthz fails after this long without an answer from the API server (default 5m)",
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="leakpatrol", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("diagnose", help="one saved profile -> top groups, wait kinds, matching rules")
    d.add_argument("file")
    d.add_argument("--json", action="store_true")
    d.add_argument("--top", type=int, default=10)
    d.add_argument("--rules", type=Path, help="extra rules (TOML)")
    d.set_defaults(run=cmd_diagnose)
    r = sub.add_parser("record", help="record a live pprof endpoint into a series directory")
    r.add_argument("--url", required=True, help="base URL of the service, e.g. http://127.0.0.1:6060")
    r.add_argument("--interval", type=_duration, default=60.0)
    r.add_argument("--count", type=int, default=120)
    r.add_argument("--timeout", type=_duration, default=10.0)
    r.add_argument("--text", action="store_true", help="record debug=1 text instead of debug=0")
    r.add_argument("dir")
    r.set_defaults(run=cmd_record)
    an = sub.add_parser("analyze", help="a series directory -> the verdict")
    an.add_argument("dir")
    an.add_argument("--json", action="store_true")
    an.add_argument(
        "--memory-limit",
        type=_quantity,
        help="the container's memory limit (e.g. 512Mi): also print when the leak reaches it",
    )
    _threshold_flags(an)
    an.set_defaults(run=cmd_analyze)
    op = sub.add_parser("operator", help="run the Kubernetes operator (flags default to LEAKPATROL_* env)")
    scope = op.add_mutually_exclusive_group()
    scope.add_argument("--all-namespaces", action="store_true", help="watch every namespace (the default)")
    scope.add_argument("--namespace", action="append", default=[], help="watch this namespace (repeatable)")
    op.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    op.add_argument("--context")
    op.add_argument("--metrics-port", type=int, default=int(_env("METRICS_PORT", "8080")))
    op.add_argument("--log-http", action="store_true", help="log every HTTP request (httpx at --log-level)")
    op.add_argument(
        "--home-namespace",
        default=_env("HOME_NAMESPACE", ""),
        help="the operator's own namespace, where checkpoints live (default: its pod's namespace)",
    )
    op.add_argument(
        "--max-fetches",
        type=int,
        default=int(_env("MAX_FETCHES", str(GLOBAL_FETCHES))),
        help="global fetch cap",
    )
    op.add_argument(
        "--per-policy",
        type=int,
        default=int(_env("PER_POLICY", str(PER_POLICY_FETCHES))),
        help="fetch cap per policy",
    )
    _operator_ha_flags(op)
    op.add_argument(
        "--max-profile-stacks",
        type=int,
        default=int(_env("MAX_PROFILE_STACKS", str(MAX_STACKS))),
        help="refuse a profile with more distinct stacks than this (ProfileTooLarge)",
    )
    op.add_argument(
        "--max-profile-mb",
        type=int,
        default=int(_env("MAX_PROFILE_MB", str(MAX_DECOMPRESSED >> 20))),
        help="refuse a profile that decompresses to more MiB than this (ProfileTooLarge)",
    )
    op.add_argument(
        "--parse-workers",
        type=int,
        default=int(_env("PARSE_WORKERS", "2")),
        help="worker processes parsing profiles too big to parse inline (0: parse everything inline)",
    )
    op.add_argument(
        "--log-level", default=_env("LOG_LEVEL", "info"), choices=["debug", "info", "warning", "error"]
    )
    op.set_defaults(run=cmd_operator)
    rf = sub.add_parser(
        "release-finalizers",
        help="before uninstall: stop the operator's Deployment, then remove its finalizer from LeakPolicies",
    )
    scope = rf.add_mutually_exclusive_group()
    scope.add_argument("--all-namespaces", action="store_true", help="every namespace (the default)")
    scope.add_argument("--namespace", action="append", default=[], help="only this namespace (repeatable)")
    rf.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    rf.add_argument("--context")
    rf.add_argument("--home-namespace", default=_env("HOME_NAMESPACE", ""), help="the operator's namespace")
    rf.add_argument("--deployment", default="", help="the operator's Deployment, scaled to 0 first")
    rf.set_defaults(run=cmd_release_finalizers)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except (ProfileError, SeriesError, RuleError, OSError, ValueError) as exc:
        print(f"leakpatrol: {exc}", file=sys.stderr)
        return 2
