"""`leakpatrol operator` and `leakpatrol release-finalizers`: the commands that talk to a cluster.

Their flags default to the environment: `--max-fetches` to `LEAKPATROL_MAX_FETCHES`, and so on.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
from pathlib import Path

import yaml

from leakpatrol.cli.args import duration
from leakpatrol.cli.exits import CliError, Exit
from leakpatrol.cli.flags import env_option, evidence_flags, operator_ha_flags, operator_remediation_flags
from leakpatrol.core import GLOBAL_FETCHES, PER_NAMESPACE_FETCHES, PER_POLICY_FETCHES
from leakpatrol.inflight import PROFILE_BUFFER_BYTES
from leakpatrol.kube.errors import KubeError
from leakpatrol.profiles.parser import MAX_DECOMPRESSED, MAX_STACKS, ParseLimits

_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def own_namespace() -> str:
    """In a pod, the service account's namespace (the chart also passes POD_NAMESPACE); else default."""
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    sa = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    return sa.read_text().strip() if sa.is_file() else "default"


def _cluster_flags(p: argparse.ArgumentParser, every: str, only: str) -> None:
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--all-namespaces", action="store_true", help=every)
    scope.add_argument("--namespace", action="append", default=[], help=only)
    p.add_argument(
        "--kubeconfig",
        default=os.environ.get("KUBECONFIG"),
        help="kubeconfig file(s), ':'-separated (default: $KUBECONFIG, else ~/.kube/config, or the pod's "
        "service account in a cluster)",
    )
    p.add_argument("--context", help="the kubeconfig context (default: its current-context)")


def kubeconfig_checked(kubeconfig: str | None, context: str | None) -> None:
    """Fail in one line, naming the path, when no kubeconfig can be read: the official loader
    would say "Invalid kube-config file. No configuration found." without saying which."""
    from leakpatrol.kube.connection import SERVICE_ACCOUNT_DIR  # noqa: PLC0415 - aiohttp is heavy

    in_pod = bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and (SERVICE_ACCOUNT_DIR / "token").is_file()
    if kubeconfig is None and context is None and in_pod:
        return  # the service account
    paths = [p for p in (kubeconfig or "~/.kube/config").split(os.pathsep) if p]
    readable = []
    for path in paths:
        full = Path(path).expanduser()
        if not full.exists():
            continue
        if not full.is_file() or not os.access(full, os.R_OK):
            raise CliError(Exit.CLUSTER, f"kubeconfig {path}: not a readable file")
        readable.append(full)
    if not readable:
        which = "--kubeconfig/$KUBECONFIG" if kubeconfig else "the default ~/.kube/config"
        raise CliError(
            Exit.CLUSTER,
            f"kubeconfig {':'.join(paths)}: no such file ({which}; not in a pod either)",
        )


def _cluster_failure(exc: BaseException, kubeconfig: str | None) -> CliError | None:
    """An expected failure to reach the cluster, in one line; None for anything else (a bug)."""
    where = kubeconfig or "~/.kube/config"
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        where = "in-cluster service account"  # what connect() used in a pod
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return CliError(Exit.CLUSTER, f"cannot serve /metrics: {exc}")
    if type(exc).__name__ == "ConfigException":  # the official loader's: bad file, no context, ...
        return CliError(Exit.CLUSTER, f"kubeconfig {where}: {exc}")
    if isinstance(exc, yaml.YAMLError):
        return CliError(Exit.CLUSTER, f"kubeconfig {where}: not YAML: {exc}")
    if isinstance(exc, KubeError):
        return CliError(Exit.CLUSTER, f"the API server (kubeconfig {where}): {exc}")
    if isinstance(exc, OSError) and exc.filename is None:  # TLS files load errors name theirs
        return CliError(Exit.CLUSTER, f"the API server (kubeconfig {where}): {exc}")
    return None


def configure_operator(op: argparse.ArgumentParser) -> None:
    _cluster_flags(op, "watch every namespace (the default)", "watch this namespace (repeatable)")
    env_option(op, "--metrics-port", "8080", int, "serve /metrics, /healthz and /readyz here (0: off)")
    env_option(op, "--metrics-host", "0.0.0.0", help="the address to serve them on (default: every one)")
    op.add_argument("--log-http", action="store_true", help="log every HTTP request (httpx at --log-level)")
    env_option(
        op,
        "--home-namespace",
        "",
        help="the operator's own namespace, where checkpoints live (default: its pod's namespace)",
    )
    env_option(op, "--max-fetches", str(GLOBAL_FETCHES), int, "global fetch cap")
    env_option(op, "--per-policy", str(PER_POLICY_FETCHES), int, "fetch cap per policy")
    env_option(
        op,
        "--per-namespace-fetches",
        str(PER_NAMESPACE_FETCHES),
        int,
        "fetches one namespace may have in flight, every policy there together (its share of"
        " --max-fetches; less while other namespaces want slots too)",
    )
    env_option(
        op,
        "--max-target-timeout",
        "1m",
        duration,
        "the longest spec.target.timeouts a LeakPolicy may ask; one asking more is refused"
        " (InvalidSpec, naming the field) (default 1m)",
    )
    operator_ha_flags(op)
    operator_remediation_flags(op)
    evidence_flags(op)
    env_option(
        op,
        "--max-profile-stacks",
        str(MAX_STACKS),
        int,
        "refuse a profile with more distinct stacks than this (ProfileTooLarge)",
    )
    env_option(
        op,
        "--max-profile-mb",
        str(MAX_DECOMPRESSED >> 20),
        int,
        "refuse a profile that decompresses to more MiB than this (ProfileTooLarge)",
    )
    env_option(
        op,
        "--parse-workers",
        "2",
        int,
        "worker processes parsing profiles too big to parse inline (0: parse everything inline)",
    )
    env_option(
        op,
        "--profile-buffer-mb",
        str(PROFILE_BUFFER_BYTES >> 20),
        int,
        "MiB of profile bodies held at once across every policy; a fetch over it is retried later",
    )
    env_option(
        op,
        "--log-level",
        "info",
        help="the operator's log level",
        choices=["debug", "info", "warning", "error"],
    )
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
        metrics_host=a.metrics_host,
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
        remediation_namespaces=a.remediation_namespace_selector,
        remediation_actions_per_hour=a.remediation_actions_per_hour,
        remediation_namespace_actions_per_hour=a.remediation_namespace_actions_per_hour,
        remediation_min_cooldown=a.remediation_min_cooldown,
        remediation_min_window=a.remediation_min_window,
        remediation_min_confirmations=a.remediation_min_confirmations,
        remediation_min_escalate_after=a.remediation_min_escalate_after,
        remediation_min_samples=a.remediation_min_samples,
        remediation_max_p_value=a.remediation_max_p_value,
        remediation_min_growth_goroutines=a.remediation_min_growth_goroutines,
        remediation_min_growth_heap=a.remediation_min_growth_heap,
        remediation_tenant_resume=a.remediation_tenant_resume,
    )
    try:  # the admin's settings are checked before anything is dialled: a usage error
        opts.admin()
    except ValueError as exc:
        raise CliError(Exit.USAGE, str(exc)) from None
    kubeconfig_checked(a.kubeconfig, a.context)
    try:
        asyncio.run(run_operator(opts))
    except Exception as exc:
        failure = _cluster_failure(exc, a.kubeconfig)
        if failure is None:
            raise
        raise failure from None
    return 0


def configure_release(rf: argparse.ArgumentParser) -> None:
    _cluster_flags(rf, "every namespace (the default)", "only this namespace (repeatable)")
    env_option(rf, "--home-namespace", "", help="the operator's namespace")
    rf.add_argument("--deployment", default="", help="the operator's Deployment, scaled to 0 first")
    rf.set_defaults(run=cmd_release_finalizers)


def cmd_release_finalizers(a: argparse.Namespace) -> int:
    from leakpatrol.runtime.uninstall import Release, run_release  # noqa: PLC0415 - kube client

    logging.basicConfig(level="INFO", format=_LOG_FORMAT)
    home = a.home_namespace or own_namespace()
    # In the chart's hook Job, POD_NAME (downward API) keeps the hook from waiting for its own pod.
    own_pod = os.environ.get("POD_NAME", "")
    release = Release(home, a.deployment or None, tuple(a.namespace), own_pod=own_pod)
    kubeconfig_checked(a.kubeconfig, a.context)
    try:
        asyncio.run(run_release(release, a.kubeconfig, a.context))
    except Exception as exc:
        failure = _cluster_failure(exc, a.kubeconfig)
        if failure is None:
            raise
        raise failure from None
    return 0
