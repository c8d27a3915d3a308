"""`connect()`: an `ApiClient` from the pod's service account or from a kubeconfig.

The kubeconfig is read by the official client's loader (in a thread: it reads files and may run
exec plugins), which already knows every auth flavour (token, tokenFile, client certificates,
exec plugins, basic auth, CA data or file, insecure-skip-tls-verify). We take the result apart into
a TLS context and an `Authorization` header source; the official client never makes a request.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from leakpatrol.kube.auth import HeaderSource, RefreshingHeader, StaticHeader, bearer_file
from leakpatrol.kube.client import DEFAULT_TIMEOUT, ApiClient

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# Bound tokens rotate hourly (and the kubelet refreshes at 80% of their life): a minute is plenty.
TOKEN_REFRESH_SECONDS = 60.0


@dataclass(frozen=True)
class _Endpoint:
    server: str
    auth: HeaderSource
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify: bool = True


async def connect(
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - the ApiClient's per-request deadline
    max_connections: int = 100,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
) -> ApiClient:
    """In-cluster when running in a pod and no kubeconfig is named; else the kubeconfig.

    `max_connections` bounds the session's pool; every open port-forward holds one connection.
    """
    if kubeconfig is None and context is None and _in_cluster(service_account_dir):
        endpoint = _in_cluster_endpoint(service_account_dir)
    else:
        endpoint = await _kubeconfig_endpoint(kubeconfig, context)
    tls = await asyncio.to_thread(_tls, endpoint)  # reads the CA and key files
    connector = aiohttp.TCPConnector(ssl=tls, limit=max_connections)
    # trust_env=False: an HTTPS_PROXY meant for the internet must not see our API server traffic.
    session = aiohttp.ClientSession(connector=connector, trust_env=False)
    return ApiClient(endpoint.server, session, endpoint.auth, timeout=timeout)


def _in_cluster(sa_dir: Path) -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and (sa_dir / "token").is_file()


def _in_cluster_endpoint(sa_dir: Path) -> _Endpoint:
    host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if ":" in host:  # an IPv6 service IP
        host = f"[{host}]"
    ca = sa_dir / "ca.crt"
    return _Endpoint(
        server=f"https://{host}:{port}",
        auth=RefreshingHeader(bearer_file(sa_dir / "token"), TOKEN_REFRESH_SECONDS),
        ca_file=str(ca) if ca.is_file() else None,
    )


async def _kubeconfig_endpoint(kubeconfig: str | None, context: str | None) -> _Endpoint:
    cfg = await asyncio.to_thread(_load_kubeconfig, kubeconfig, context)
    auth: HeaderSource
    if cfg.refresh_api_key_hook is not None:
        # The loader's hook re-runs exec plugins / re-reads tokens only once they have expired.
        auth = RefreshingHeader(lambda: cfg.get_api_key_with_prefix("BearerToken"), TOKEN_REFRESH_SECONDS)
    else:
        auth = StaticHeader(cfg.api_key.get("BearerToken"))
    return _Endpoint(
        server=cfg.host,
        auth=auth,
        ca_file=cfg.ssl_ca_cert,
        cert_file=cfg.cert_file,
        key_file=cfg.key_file,
        verify=bool(cfg.verify_ssl),
    )


def _load_kubeconfig(kubeconfig: str | None, context: str | None) -> Any:
    # Imported here: the official client takes a moment to import, and this runs in a thread.
    from kubernetes import client, config  # noqa: PLC0415

    # The loader reads $KUBECONFIG once, when it is first imported; read it now instead. It may
    # be a list of files (a:b), which the loader merges as kubectl does.
    path = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
    cfg = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=path, context=context, client_configuration=cfg, persist_config=False
    )
    return cfg


def _tls(endpoint: _Endpoint) -> ssl.SSLContext | bool:
    if not endpoint.server.startswith("https:"):
        return True  # plain http (the sandbox): no TLS involved; True is aiohttp's default
    context = ssl.create_default_context(cafile=endpoint.ca_file if endpoint.verify else None)
    if not endpoint.verify:  # insecure-skip-tls-verify: still present a client certificate if any
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if endpoint.cert_file:
        context.load_cert_chain(endpoint.cert_file, endpoint.key_file)
    return context
