"""Start the operator: connect, configure the handlers' runtime, serve /metrics, run kopf."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field

import kopf

from leakpatrol.controller.fairness import FairShare
from leakpatrol.controller.parsing import ParseLimits, ProfileParser
from leakpatrol.controller.scanner import Limits
from leakpatrol.core import GLOBAL_FETCHES, PER_POLICY_FETCHES
from leakpatrol.kube.connection import connect
from leakpatrol.runtime import handlers, web
from leakpatrol.runtime.cluster import KubeCluster

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OperatorOptions:
    namespaces: tuple[str, ...] = ()  # empty: every namespace
    kubeconfig: str | None = None
    context: str | None = None
    metrics_host: str = "0.0.0.0"  # the kubelet's probes and Prometheus reach the pod IP
    metrics_port: int = 8080
    home_namespace: str = "default"  # the operator's own: its checkpoints live there
    max_fetches: int = GLOBAL_FETCHES
    per_policy: int = PER_POLICY_FETCHES
    parse: ParseLimits = field(default_factory=ParseLimits)
    parse_workers: int = 2  # processes for profiles too big to parse inline


async def run_operator(opts: OperatorOptions, stop: asyncio.Event | None = None) -> None:
    if opts.kubeconfig:
        # kopf logs in through the official client's loader, which reads $KUBECONFIG: one source.
        os.environ["KUBECONFIG"] = opts.kubeconfig
    api = await connect(opts.kubeconfig, opts.context)
    cluster = KubeCluster(api, opts.home_namespace)
    handlers.RUNTIME.cluster = cluster
    parser = ProfileParser(opts.parse, workers=opts.parse_workers)
    handlers.RUNTIME.limits = Limits(FairShare(opts.max_fetches), opts.per_policy, parser)
    site = await web.start(opts.metrics_host, opts.metrics_port) if opts.metrics_port else None
    log.info(
        "leakpatrol operator started with namespaces=%s home=%s metrics_port=%s max_fetches=%d per_policy=%d",
        list(opts.namespaces) or "all",
        opts.home_namespace,
        opts.metrics_port,
        opts.max_fetches,
        opts.per_policy,
    )
    try:
        await kopf.operator(
            clusterwide=not opts.namespaces,
            namespaces=list(opts.namespaces),
            standalone=True,  # one replica (the chart's Recreate strategy); no peering CRD needed
            stop_flag=stop,
        )
    finally:
        handlers.RUNTIME.cluster = None
        parser.close()
        if site is not None:
            await site.cleanup()
        await cluster.aclose()
