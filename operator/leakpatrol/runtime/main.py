"""Start the operator: connect, configure the handlers' runtime, serve /metrics, run kopf."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from dataclasses import dataclass, field

import kopf
from aiohttp.web import AppRunner

# kopf takes the identity as this NewType of str and exports it nowhere public; kopf is pinned exactly.
from kopf._core.engines.peering import Identity

from leakpatrol.controller.capacity import SharedCapacity
from leakpatrol.controller.collect.fairness import FairShare
from leakpatrol.controller.remediation.admin import (
    DEFAULT_ACTIONS_PER_HOUR,
    DEFAULT_NAMESPACE_ACTIONS_PER_HOUR,
    DEFAULT_NAMESPACE_SELECTOR,
    AdminPolicy,
    Floors,
)
from leakpatrol.controller.shards.assignment import DEFAULT_SHARDS
from leakpatrol.core import GLOBAL_FETCHES, MAX_TARGET_TIMEOUT, PER_NAMESPACE_FETCHES, PER_POLICY_FETCHES
from leakpatrol.inflight import PROFILE_BUFFER_BYTES, ByteBudget
from leakpatrol.kube.client import ApiClient
from leakpatrol.kube.connection import connect
from leakpatrol.kube.evidence import EvidenceLimits
from leakpatrol.profiles.parser import ParseLimits, ProfileParser
from leakpatrol.runtime import handlers, web
from leakpatrol.runtime.cluster import KubeCluster
from leakpatrol.runtime.health import STALL_AFTER, Health, HealthReport
from leakpatrol.runtime.heartbeat import heartbeat
from leakpatrol.runtime.leadership import Leadership
from leakpatrol.runtime.lease_loop import LeaseConfig
from leakpatrol.runtime.membership import Membership

log = logging.getLogger(__name__)
FLOORS = Floors()


def default_identity() -> str:
    """The pod's name (downward API, POD_NAME) or host and pid. Never the user name: kopf's own
    guess calls getpwuid(), which fails under a UID with no passwd entry (OpenShift, runAsUser)."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


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
    per_namespace: int = PER_NAMESPACE_FETCHES  # a tenant's most fetch slots (less under contention)
    max_target_timeout: float = MAX_TARGET_TIMEOUT  # the longest spec.target.timeouts accepted
    parse: ParseLimits = field(default_factory=ParseLimits)
    parse_workers: int = 2  # processes for profiles too big to parse inline
    profile_buffer: int = PROFILE_BUFFER_BYTES  # profile bytes held at once, every tenant together
    identity: str = ""  # empty: default_identity()
    leader_election: bool = True
    lease_name: str = "leakpatrol"
    lease_duration: float = 15.0
    sharding: bool = False  # every replica scans its shards (member Leases) instead of one leader
    shards: int = DEFAULT_SHARDS
    stall_after: float = STALL_AFTER
    # The cluster admin's say over spec.remediation (controller.remediation.admin): where, how much,
    # the floors under a policy's rails, and whether a policy may resume its own suspension.
    remediation_namespaces: str = DEFAULT_NAMESPACE_SELECTOR
    remediation_actions_per_hour: int = DEFAULT_ACTIONS_PER_HOUR
    remediation_namespace_actions_per_hour: int = DEFAULT_NAMESPACE_ACTIONS_PER_HOUR
    remediation_min_cooldown: float = FLOORS.cooldown
    remediation_min_window: float = FLOORS.window
    remediation_min_confirmations: int = FLOORS.confirmations
    remediation_min_escalate_after: float = FLOORS.escalate_after
    remediation_min_samples: int = FLOORS.min_samples
    remediation_max_p_value: float = FLOORS.significance
    remediation_min_growth_goroutines: int = int(FLOORS.growth_goroutines)
    remediation_min_growth_heap: int = int(FLOORS.growth_heap_bytes)  # bytes
    remediation_tenant_resume: bool = False

    def admin(self) -> AdminPolicy:
        """`ValueError` naming the setting when one is out of range (a selector that does not parse)."""
        floors = Floors(
            cooldown=self.remediation_min_cooldown,
            window=self.remediation_min_window,
            confirmations=self.remediation_min_confirmations,
            escalate_after=self.remediation_min_escalate_after,
            min_samples=self.remediation_min_samples,
            significance=self.remediation_max_p_value,
            growth_goroutines=self.remediation_min_growth_goroutines,
            growth_heap_bytes=self.remediation_min_growth_heap,
        )
        return AdminPolicy(
            self.remediation_namespaces,
            self.remediation_actions_per_hour,
            floors,
            self.remediation_tenant_resume,
            namespace_actions_per_hour=self.remediation_namespace_actions_per_hour,
        )

    evidence: EvidenceLimits = field(default_factory=EvidenceLimits)  # caps, and where it is kept


def leadership_for(opts: OperatorOptions, api: ApiClient, identity: str) -> Leadership | Membership:
    config = LeaseConfig.scaled(opts.home_namespace, opts.lease_name, identity, opts.lease_duration)
    if opts.sharding:
        return Membership(api, config, opts.shards)
    if not opts.leader_election:
        return Leadership.always()
    return Leadership(api, config)


async def run_operator(opts: OperatorOptions, stop: asyncio.Event | None = None) -> None:
    if opts.kubeconfig:
        # kopf logs in through the official client's loader, which reads $KUBECONFIG: one source.
        os.environ["KUBECONFIG"] = opts.kubeconfig
    identity = opts.identity or default_identity()
    admin = opts.admin()  # a bad setting stops the start, before anything is connected
    api = await connect(opts.kubeconfig, opts.context)
    cluster = KubeCluster(
        api, opts.home_namespace, shards=opts.shards if opts.sharding else 0, evidence=opts.evidence
    )
    health = Health(started=time.monotonic(), stall_after=opts.stall_after)
    lead = leadership_for(opts, api, identity)
    handlers.RUNTIME.cluster, handlers.RUNTIME.health, handlers.RUNTIME.leadership = cluster, health, lead
    handlers.RUNTIME.shards = lead if isinstance(lead, Membership) else None
    parser = ProfileParser(opts.parse, workers=opts.parse_workers)
    buffer = ByteBudget(opts.profile_buffer)
    handlers.RUNTIME.limits = SharedCapacity(
        fetches=FairShare(opts.max_fetches, opts.per_namespace),
        per_policy=opts.per_policy,
        parser=parser,
        buffer=buffer,
        max_timeout=opts.max_target_timeout,
        admin=admin,
    )
    site = await _serve(opts, api, health, lead) if opts.metrics_port else None
    log.info(
        "leakpatrol operator started with namespaces=%s home=%s identity=%s leader_election=%s "
        "sharding=%s shards=%d metrics_port=%s max_fetches=%d per_policy=%d per_namespace=%d "
        "max_target_timeout=%gs remediation=%s",
        list(opts.namespaces) or "all",
        opts.home_namespace,
        identity,
        opts.leader_election,
        opts.sharding,
        opts.shards,
        opts.metrics_port,
        opts.max_fetches,
        opts.per_policy,
        opts.per_namespace,
        opts.max_target_timeout,
        admin,
    )
    done = asyncio.Event()
    background = [
        asyncio.create_task(lead.run(done)),
        asyncio.create_task(heartbeat(api, opts.namespaces, health, done)),
    ]
    try:
        await kopf.operator(
            clusterwide=not opts.namespaces,
            namespaces=list(opts.namespaces),
            # Our Lease decides who scans (leakpatrol.runtime.leadership), not kopf's peering, and
            # the identity is given: kopf's own guess would call getpwuid().
            standalone=True,
            identity=Identity(identity),
            stop_flag=stop,
        )
    finally:
        done.set()  # after kopf: the daemons have stopped, so giving the Lease up is safe
        await asyncio.gather(*background, return_exceptions=True)
        handlers.RUNTIME.cluster = None
        parser.close()
        if site is not None:
            await site.cleanup()
        await cluster.aclose()


async def _serve(
    opts: OperatorOptions, api: ApiClient, health: Health, lead: Leadership | Membership
) -> AppRunner:
    def live() -> HealthReport:
        if api.last_answer is not None:
            health.heard(api.last_answer)
        return health.live(time.monotonic())

    def role() -> str:
        if isinstance(lead, Membership):
            return "member" if lead.scans else "joining"
        return "leader" if lead.scans else "standby"

    def ready() -> HealthReport:
        return health.ready(lead.blocked)

    return await web.start(opts.metrics_host, opts.metrics_port, live, ready, role)
