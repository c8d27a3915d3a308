"""`leakpatrol operator` and `leakpatrol release-finalizers`: the commands that talk to a cluster.

Their flags default to the environment: `--max-fetches` to `LEAKPATROL_MAX_FETCHES`, and so on.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path

from leakpatrol.cli.args import duration
from leakpatrol.core import GLOBAL_FETCHES, PER_POLICY_FETCHES
from leakpatrol.profiles.parser import MAX_DECOMPRESSED, MAX_STACKS, ParseLimits


def own_namespace() -> str:
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
        type=duration,
        default=duration(_env("LEASE_DURATION", "15s")),
        help="a standby takes over after the leader is silent this long (default 15s)",
    )
    g.add_argument(
        "--stall-after",
        type=duration,
        default=duration(_env("STALL_AFTER", "5m")),
        help="/healthz fails after this long without an answer from the API server (default 5m)",
    )


def configure_operator(op: argparse.ArgumentParser) -> None:
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
        home_namespace=a.home_namespace or own_namespace(),
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


def configure_release(rf: argparse.ArgumentParser) -> None:
    scope = rf.add_mutually_exclusive_group()
    scope.add_argument("--all-namespaces", action="store_true", help="every namespace (the default)")
    scope.add_argument("--namespace", action="append", default=[], help="only this namespace (repeatable)")
    rf.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    rf.add_argument("--context")
    rf.add_argument("--home-namespace", default=_env("HOME_NAMESPACE", ""), help="the operator's namespace")
    rf.add_argument("--deployment", default="", help="the operator's Deployment, scaled to 0 first")
    rf.set_defaults(run=cmd_release_finalizers)


def cmd_release_finalizers(a: argparse.Namespace) -> int:
    from leakpatrol.runtime.uninstall import Release, run_release  # noqa: PLC0415 - kube client

    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    home = a.home_namespace or own_namespace()
    release = Release(home, a.deployment or None, tuple(a.namespace))
    asyncio.run(run_release(release, a.kubeconfig, a.context))
    return 0
