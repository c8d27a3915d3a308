"""`leakpatrol operator` and `leakpatrol release-finalizers`: the commands that talk to a cluster.

Their flags default to the environment: `--max-fetches` to `LEAKPATROL_MAX_FETCHES`, and so on.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from leakpatrol.cli.args import duration
from leakpatrol.core import GLOBAL_FETCHES, PER_NAMESPACE_FETCHES, PER_POLICY_FETCHES
from leakpatrol.inflight import PROFILE_BUFFER_BYTES
from leakpatrol.profiles.parser import MAX_DECOMPRESSED, MAX_STACKS, ParseLimits

_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def own_namespace() -> str:
    """In a pod, the service account's namespace (the chart also passes POD_NAMESPACE); else default."""
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    sa = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    return sa.read_text().strip() if sa.is_file() else "default"


def _env(flag: str, default: str) -> str:
    """The environment's default for `flag`: --max-fetches reads LEAKPATROL_MAX_FETCHES."""
    return os.environ.get("LEAKPATROL_" + flag.removeprefix("--").replace("-", "_").upper(), default)


def _env_option(
    p: argparse._ActionsContainer,
    flag: str,
    default: str,
    parse: Callable[[str], Any] = str,
    help: str | None = None,
    **kw: Any,
) -> None:
    """`flag`, parsed by `parse`, defaulting to its environment variable, else to `default`."""
    p.add_argument(flag, type=parse, default=parse(_env(flag, default)), help=help, **kw)


def _env_switch(p: argparse._ActionsContainer, flag: str, default: str, help: str) -> None:
    on = _env(flag, default).lower() in ("1", "true", "yes")
    p.add_argument(flag, action=argparse.BooleanOptionalAction, default=on, help=help)


def _cluster_flags(p: argparse.ArgumentParser, every: str, only: str) -> None:
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--all-namespaces", action="store_true", help=every)
    scope.add_argument("--namespace", action="append", default=[], help=only)
    p.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    p.add_argument("--context")


def _operator_ha_flags(op: argparse.ArgumentParser) -> None:
    g = op.add_argument_group("replicas and health")
    _env_option(
        g,
        "--identity",
        os.environ.get("POD_NAME", ""),
        help="this replica's name in the Lease (default: $POD_NAME, else host-pid)",
    )
    _env_switch(
        g,
        "--leader-election",
        "true",
        "scan only while holding a Lease in the home namespace, so replicas > 1 is safe (default on)",
    )
    _env_option(g, "--lease-name", "leakpatrol", help="the Lease's name")
    _env_switch(
        g,
        "--sharding",
        "false",
        "every replica scans its share (member Leases <lease-name>-member-*) instead of one leader",
    )
    _env_option(
        g,
        "--shards",
        "16",
        int,
        "with --sharding: shards per policy, the unit of hand-over and of checkpoints (default 16)",
    )
    _env_option(
        g,
        "--lease-duration",
        "15s",
        duration,
        "a standby takes over after the leader is silent this long (default 15s)",
    )
    _env_option(
        g,
        "--stall-after",
        "5m",
        duration,
        "/healthz fails after this long without an answer from the API server (default 5m)",
    )


def _evidence_flags(op: argparse.ArgumentParser) -> None:
    g = op.add_argument_group("remediation evidence (saved profiles)")
    _env_option(
        g,
        "--evidence-namespace",
        "home",
        help="where the profiles are kept: home (the operator's namespace) or policy (the policy's"
        " own, owned by it: its team reads them there; needs ConfigMap create/delete there)",
        choices=["home", "policy"],
    )
    _env_option(g, "--evidence-max-count", "50", int, "evidence ConfigMaps, every namespace together")
    _env_option(g, "--evidence-max-mb", "32", int, "MiB of evidence profiles, every namespace together")
    _env_option(
        g, "--evidence-namespace-count", "10", int, "evidence ConfigMaps of one namespace (its oldest go)"
    )
    _env_option(g, "--evidence-namespace-mb", "4", int, "MiB of one namespace's evidence (its oldest go)")


def configure_operator(op: argparse.ArgumentParser) -> None:
    _cluster_flags(op, "watch every namespace (the default)", "watch this namespace (repeatable)")
    _env_option(op, "--metrics-port", "8080", int)
    op.add_argument("--log-http", action="store_true", help="log every HTTP request (httpx at --log-level)")
    _env_option(
        op,
        "--home-namespace",
        "",
        help="the operator's own namespace, where checkpoints live (default: its pod's namespace)",
    )
    _env_option(op, "--max-fetches", str(GLOBAL_FETCHES), int, "global fetch cap")
    _env_option(op, "--per-policy", str(PER_POLICY_FETCHES), int, "fetch cap per policy")
    _env_option(
        op,
        "--per-namespace-fetches",
        str(PER_NAMESPACE_FETCHES),
        int,
        "fetches one namespace may have in flight, every policy there together (its share of"
        " --max-fetches; less while other namespaces want slots too)",
    )
    _env_option(
        op,
        "--max-target-timeout",
        "1m",
        duration,
        "the longest spec.target.timeouts a LeakPolicy may ask; one asking more is refused"
        " (InvalidSpec, naming the field) (default 1m)",
    )
    _operator_ha_flags(op)
    _evidence_flags(op)
    _env_option(
        op,
        "--max-profile-stacks",
        str(MAX_STACKS),
        int,
        "refuse a profile with more distinct stacks than this (ProfileTooLarge)",
    )
    _env_option(
        op,
        "--max-profile-mb",
        str(MAX_DECOMPRESSED >> 20),
        int,
        "refuse a profile that decompresses to more MiB than this (ProfileTooLarge)",
    )
    _env_option(
        op,
        "--parse-workers",
        "2",
        int,
        "worker processes parsing profiles too big to parse inline (0: parse everything inline)",
    )
    _env_option(
        op,
        "--profile-buffer-mb",
        str(PROFILE_BUFFER_BYTES >> 20),
        int,
        "MiB of profile bodies held at once across every policy; a fetch over it is retried later",
    )
    _env_option(op, "--log-level", "info", choices=["debug", "info", "warning", "error"])
    op.set_defaults(run=cmd_operator)


def cmd_operator(a: argparse.Namespace) -> int:
    from leakpatrol.kube.evidence import EvidenceLimits  # noqa: PLC0415 - with the rest of the kube layer
    from leakpatrol.runtime.main import OperatorOptions, run_operator  # noqa: PLC0415 - kopf is heavy

    logging.basicConfig(level=a.log_level.upper(), format=_LOG_FORMAT)
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
        per_namespace=a.per_namespace_fetches,
        max_target_timeout=a.max_target_timeout,
        evidence=EvidenceLimits(
            max_count=a.evidence_max_count,
            max_bytes=a.evidence_max_mb << 20,
            namespace_count=a.evidence_namespace_count,
            namespace_bytes=a.evidence_namespace_mb << 20,
            in_policy_namespace=a.evidence_namespace == "policy",
        ),
        parse=ParseLimits(a.max_profile_stacks, a.max_profile_mb << 20),
        parse_workers=a.parse_workers,
        profile_buffer=a.profile_buffer_mb << 20,
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
    _cluster_flags(rf, "every namespace (the default)", "only this namespace (repeatable)")
    _env_option(rf, "--home-namespace", "", help="the operator's namespace")
    rf.add_argument("--deployment", default="", help="the operator's Deployment, scaled to 0 first")
    rf.set_defaults(run=cmd_release_finalizers)


def cmd_release_finalizers(a: argparse.Namespace) -> int:
    from leakpatrol.runtime.uninstall import Release, run_release  # noqa: PLC0415 - kube client

    logging.basicConfig(level="INFO", format=_LOG_FORMAT)
    home = a.home_namespace or own_namespace()
    release = Release(home, a.deployment or None, tuple(a.namespace))
    asyncio.run(run_release(release, a.kubeconfig, a.context))
    return 0
