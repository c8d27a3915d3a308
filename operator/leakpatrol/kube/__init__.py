"""Kubernetes I/O for leakpatrol: small async functions, one verb per module, errors in `errors`.

- `connection.connect()`: an `ApiClient` from the service account or a kubeconfig.
- `pods.list_pods()`, `owners.resolve_workload()`: what to scan, and whose it is.
- `fetch.http_client_for()` + `fetch.fetch_profile()`: pprof bytes through `pods/portforward`
  (`transport.py` over `portforward.py`) or Direct to the pod IP.
- `events.post_event()`: aggregated, rate-limited Events; `configmaps.*_checkpoint()`: state.
"""

from leakpatrol.kube.client import ApiClient, PatchType
from leakpatrol.kube.configmaps import Checkpoint, read_checkpoint, write_checkpoint
from leakpatrol.kube.connection import connect
from leakpatrol.kube.events import default_limiter, post_event
from leakpatrol.kube.fetch import fetch_profile, http_client_for, target_url
from leakpatrol.kube.owners import resolve_workload, resolve_workload_ref
from leakpatrol.kube.pods import list_pods, selector_string
from leakpatrol.kube.ratelimit import KeyedRateLimiter

__all__ = [
    "ApiClient",
    "Checkpoint",
    "KeyedRateLimiter",
    "PatchType",
    "connect",
    "default_limiter",
    "fetch_profile",
    "http_client_for",
    "list_pods",
    "post_event",
    "read_checkpoint",
    "resolve_workload",
    "resolve_workload_ref",
    "selector_string",
    "target_url",
    "write_checkpoint",
]
