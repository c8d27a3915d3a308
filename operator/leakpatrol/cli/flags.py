"""The operator's flags, each defaulting to its environment variable (`--max-fetches` to
`LEAKPATROL_MAX_FETCHES`), and its groups of them: replicas and health, the admin's say over
remediation, the evidence kept. cluster.py puts them together."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from leakpatrol.api.units import parse_quantity
from leakpatrol.cli.args import duration


def _env(flag: str, default: str) -> str:
    """The environment's default for `flag`: --max-fetches reads LEAKPATROL_MAX_FETCHES."""
    return os.environ.get("LEAKPATROL_" + flag.removeprefix("--").replace("-", "_").upper(), default)


def env_option(
    p: argparse._ActionsContainer,
    flag: str,
    default: str,
    parse: Callable[[str], Any] = str,
    help: str | None = None,
    **kw: Any,
) -> None:
    """`flag`, parsed by `parse`, defaulting to its environment variable, else to `default`."""
    p.add_argument(flag, type=parse, default=parse(_env(flag, default)), help=help, **kw)


def env_switch(p: argparse._ActionsContainer, flag: str, default: str, help: str) -> None:
    on = _env(flag, default).lower() in ("1", "true", "yes")
    p.add_argument(flag, action=argparse.BooleanOptionalAction, default=on, help=help)


def operator_ha_flags(op: argparse.ArgumentParser) -> None:
    g = op.add_argument_group("replicas and health")
    env_option(
        g,
        "--identity",
        os.environ.get("POD_NAME", ""),
        help="this replica's name in the Lease (default: $POD_NAME, else host-pid)",
    )
    env_switch(
        g,
        "--leader-election",
        "true",
        "scan only while holding a Lease in the home namespace, so replicas > 1 is safe (default on)",
    )
    env_option(g, "--lease-name", "leakpatrol", help="the Lease's name")
    env_switch(
        g,
        "--sharding",
        "false",
        "every replica scans its share (member Leases <lease-name>-member-*) instead of one leader",
    )
    env_option(
        g,
        "--shards",
        "16",
        int,
        "with --sharding: shards per policy, the unit of hand-over and of checkpoints (default 16)",
    )
    env_option(
        g,
        "--lease-duration",
        "15s",
        duration,
        "a standby takes over after the leader is silent this long (default 15s)",
    )
    env_option(
        g,
        "--stall-after",
        "5m",
        duration,
        "/healthz fails after this long without an answer from the API server (default 5m)",
    )


def operator_remediation_flags(op: argparse.ArgumentParser) -> None:
    """The cluster admin's say over spec.remediation: no LeakPolicy can change these."""
    g = op.add_argument_group("remediation: where, how much, and the floors under a policy's rails")
    env_option(
        g,
        "--remediation-namespace-selector",
        "leakpatrol.dev/remediation=enabled",
        help="act only in namespaces whose labels match (kubectl's syntax; '' = every namespace); "
        "elsewhere a policy reports what it would do (default leakpatrol.dev/remediation=enabled)",
    )
    env_option(
        g,
        "--remediation-actions-per-hour",
        "10",
        int,
        "actions across the cluster per hour, all policies (0: none)",
    )
    env_option(
        g,
        "--remediation-namespace-actions-per-hour",
        "5",
        int,
        "of those, the most one namespace's policies take together (default 5)",
    )
    env_option(
        g, "--remediation-min-cooldown", "15m", duration, "the least cooldown a policy gets (default 15m)"
    )
    env_option(g, "--remediation-min-window", "1h", duration, "the least window of maxActions (default 1h)")
    env_option(g, "--remediation-min-confirmations", "2", int, "the least minConfirmations (default 2)")
    env_option(
        g,
        "--remediation-min-escalate-after",
        "6h",
        duration,
        "the least escalateAfter; a policy's 0s (never) is raised to it too (default 6h)",
    )
    env_option(
        g, "--remediation-min-samples", "12", int, "an action needs a trend over at least this many samples"
    )
    env_option(
        g, "--remediation-max-p-value", "0.01", float, "an action needs a trend with a p-value at most this"
    )
    env_option(
        g, "--remediation-min-growth-goroutines", "50", int, "... rising by at least this many goroutines"
    )
    env_option(
        g, "--remediation-min-growth-heap", "16Mi", parse_quantity, "... or heap bytes (a quantity: 16Mi)"
    )
    env_switch(
        g,
        "--remediation-tenant-resume",
        "false",
        "honour a policy's own resume annotation too (default: only the Namespace's, the admin's)",
    )


def evidence_flags(op: argparse.ArgumentParser) -> None:
    g = op.add_argument_group("remediation evidence (saved profiles)")
    env_option(
        g,
        "--evidence-namespace",
        "home",
        help="where the profiles are kept: home (the operator's namespace) or policy (the policy's"
        " own, owned by it: its team reads them there; needs ConfigMap create/delete there)",
        choices=["home", "policy"],
    )
    env_option(g, "--evidence-max-count", "50", int, "evidence ConfigMaps, every namespace together")
    env_option(g, "--evidence-max-mb", "32", int, "MiB of evidence profiles, every namespace together")
    env_option(
        g, "--evidence-namespace-count", "10", int, "evidence ConfigMaps of one namespace (its oldest go)"
    )
    env_option(g, "--evidence-namespace-mb", "4", int, "MiB of one namespace's evidence (its oldest go)")
