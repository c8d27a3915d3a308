"""Starting and stopping the whole sandbox: API server, control plane, kubelet, port-forward.

`Sandbox` is an async context manager for code that shares the sandbox's event loop (pytest-asyncio
tests, kopf in-process, the demo). `ThreadedSandbox` hosts one on its own thread and loop, for
synchronous clients (kubectl, the official `kubernetes` client and its threaded port-forward), which
would deadlock if they blocked inside the loop that serves them.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import functools
import shutil
import ssl
import tempfile
import threading
from collections.abc import Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, Self, cast

import aiohttp
import aiohttp.test_utils
import yaml
from kmock import ObjectsArray, Server

from . import memory, processes, tls, tokens
from .api import SandboxAPI
from .apiservice import ApiService
from .auth import Auth
from .controllers import ControlPlane
from .disruptions import Disruptions
from .images import IMAGES, Image
from .jobs import Jobs
from .kubelet import NODE, Backoff, Kubelet, pick_net
from .portforward import PortForwarder
from .registry import Kind
from .store import Obj
from .workloads import Workloads

MEMORY_ANNOTATION = memory.ANNOTATION


class _TLSServer(aiohttp.test_utils.RawTestServer):
    """kmock's server, serving HTTPS: kmock 0.8 has no TLS option, but takes the server class."""

    def __init__(self, *args: Any, ssl_context: ssl.SSLContext, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tls = ssl_context

    async def start_server(self, loop: asyncio.AbstractEventLoop | None = None, **kwargs: Any) -> None:
        await super().start_server(loop, ssl=self._tls, **kwargs)


class Sandbox:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        images: dict[str, Image] | None = None,
        kubeconfig_path: str | Path | None = None,
        namespaces: tuple[str, ...] = ("default",),
        memory_limits: str | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        """`memory_limits`: cgroup2, cgroup1, watchdog or off (default: $KUBESANDBOX_MEMORY, else
        the best this machine allows; `sb.limits.mechanism` says which). `backoff`: the
        CrashLoopBackOff base and cap (default the kubelet's 10 s doubling to 5 min)."""
        self.host, self.port = host, port
        self.memory_limits, self.backoff = memory_limits, backoff or Backoff()
        self.images = {**IMAGES, **(images or {})}
        self._kubeconfig_arg = Path(kubeconfig_path) if kubeconfig_path else None
        self.namespaces = namespaces
        self.api = SandboxAPI()
        self.store = self.api.store
        self.workdir = Path(tempfile.mkdtemp(prefix="kubesandbox-"))
        self.kubeconfig_path = self._kubeconfig_arg or self.workdir / "kubeconfig"
        self.server: Server | None = None
        # Pods reach the API as in a cluster: the `kubernetes` Service's ClusterIP (in the pods' net).
        self.pod_net = pick_net()
        self.api_service = ApiService(f"127.{self.pod_net}.0.1")
        self.certificates = tls.make((host, self.api_service.cluster_ip))
        self.tokens = tokens.Tokens(self._service_account_uid)

    @property
    def ca_pem(self) -> bytes:
        """The sandbox CA's certificate (PEM): what a client must trust."""
        return self.certificates.ca_pem

    @property
    def ca_path(self) -> Path:
        return self.workdir / "ca.crt"

    @property
    def token(self) -> str:
        """The admin's bearer token (system:masters), the one in the kubeconfig."""
        return self.tokens.admin_token

    def ssl_context(self) -> ssl.SSLContext:
        """A client context trusting the sandbox's CA (and only it)."""
        return self.certificates.client_context()

    @property
    def service_host(self) -> str:
        """What KUBERNETES_SERVICE_HOST is in a pod: the address in-pod clients reach the API at."""
        assert self.server is not None, "the sandbox is not started"
        return str(self.server.host)

    @property
    def service_port(self) -> int:
        """KUBERNETES_SERVICE_PORT (HTTPS, verified against ca.crt)."""
        assert self.server is not None, "the sandbox is not started"
        return int(self.server.port)

    def _service_account_uid(self, namespace: str, name: str) -> str | None:
        found = self.store.find(self.kind("v1", "serviceaccounts"), namespace, name)
        return None if found is None else str(found["metadata"]["uid"])

    def service_account_files(
        self, namespace: str, name: str, expiration_seconds: int = tokens.DEFAULT_EXPIRATION
    ) -> dict[str, bytes]:
        """The files a pod of this ServiceAccount finds in /var/run/secrets/kubernetes.io/serviceaccount
        (`token`, `ca.crt`, `namespace`). Raises KeyError if the ServiceAccount does not exist (a real
        pod would not be admitted). Call it on the sandbox's loop (it reads the store)."""
        uid = self._service_account_uid(namespace, name)
        if uid is None:
            raise KeyError(f'serviceaccount "{name}" not found in namespace "{namespace}"')
        token, _ = self.tokens.issue(namespace, name, uid, expiration_seconds)
        return {"token": token.encode(), "ca.crt": self.ca_pem, "namespace": namespace.encode()}

    @property
    def objects(self) -> ObjectsArray:
        """kmock's view of every object's version history (`sb.objects["v1/pods", "default", "p"]`)."""
        return self.api.objects

    @property
    def url(self) -> str:
        assert self.server is not None, "the sandbox is not started"
        return f"https://{self.server.host}:{self.server.port}"

    async def __aenter__(self) -> Self:
        await self.api.__aenter__()
        self.ca_path.write_bytes(self.ca_pem)
        client = self.ssl_context()
        serving = functools.partial(_TLSServer, ssl_context=self.certificates.server_context())
        self.server = Server(
            self.api,
            host=self.host,
            port=self.port or None,
            user_agent="",
            server_cls=cast(Any, serving),
            # kmock's own client (sb.api.clients), trusting our CA and sending the admin token
            client_fct=lambda url: aiohttp.ClientSession(
                url,
                connector=aiohttp.TCPConnector(ssl=client),
                headers={"Authorization": f"Bearer {self.token}"},
            ),
        )
        await self.server.__aenter__()
        self.control_plane = ControlPlane(self.api)
        self.auth = Auth(self.control_plane, self.tokens)
        self.workloads = Workloads(self.control_plane)
        self.disruptions = Disruptions(self.control_plane)
        self.jobs = Jobs(self.control_plane)
        self.limits = memory.detect(self.memory_limits)
        self.kubelet = Kubelet(
            self.control_plane,
            self.images,
            self.workdir / "pods",
            limits=self.limits,
            backoff=self.backoff,
            service_account=self.service_account_files,
            api_service=self.api_service,
            net=self.pod_net,
        )
        await self.api_service.start((self.service_host, self.service_port))
        self.portforward = PortForwarder(self.kubelet)
        self.control_plane.start()
        self._bootstrap()
        self.write_kubeconfig(self.kubeconfig_path)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.api.closing.set()  # watch streams end within a second
        await self.kubelet.stop()
        await self.api_service.stop()
        await self.control_plane.stop()
        assert self.server is not None
        await self.server.__aexit__(None, None, None)
        await self.api.__aexit__(None, None, None)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _bootstrap(self) -> None:
        self.auth.bootstrap()
        namespaces = self.kind("v1", "namespaces")
        for name in {*self.namespaces, "default", "kube-system", "kube-public", "kube-node-lease"}:
            self.store.create(namespaces, None, {"metadata": {"name": name}})
        node = {
            "metadata": {
                "name": NODE,
                "labels": {"kubernetes.io/hostname": NODE},
                # How a container's memory limit is enforced here: cgroup v2, cgroup v1 or watchdog.
                "annotations": {MEMORY_ANNOTATION: self.limits.mechanism},
            },
            "status": {
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            },
        }
        self.store.create(self.kind("v1", "nodes"), None, node)
        self.store.update(self.kind("v1", "nodes"), None, NODE, lambda n: n.update(status=node["status"]))

    def write_kubeconfig(self, path: Path) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "kubesandbox",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": base64.b64encode(self.ca_pem).decode(),
                    },
                }
            ],
            "users": [{"name": "kubesandbox", "user": {"token": self.token}}],
            "contexts": [
                {
                    "name": "kubesandbox",
                    "context": {"cluster": "kubesandbox", "user": "kubesandbox", "namespace": "default"},
                }
            ],
            "current-context": "kubesandbox",
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    # -- in-process helpers (call them on the sandbox's loop) ----------------------------------------

    def kind(self, api_version: str, plural: str) -> Kind:
        group, _, version = api_version.rpartition("/")
        kind = self.store.registry.get(group, version, plural)
        if kind is None:
            raise KeyError(f"{plural}.{api_version} is not served")
        return kind

    def apply(self, obj: Obj) -> Obj:
        """Create or replace one object (an in-process `kubectl apply` without the three-way merge)."""
        kind = self.store.registry.by_kind(obj["apiVersion"], obj["kind"])
        if kind is None:
            raise KeyError(f"{obj['kind']}.{obj['apiVersion']} is not served")
        md = obj.get("metadata") or {}
        ns = md.get("namespace", "default") if kind.namespaced else None
        if self.store.find(kind, ns, md.get("name", "")) is None:
            return self.store.create(kind, ns, obj)
        return self.store.update(
            kind,
            ns,
            md["name"],
            lambda cur: cur.update({k: v for k, v in obj.items() if k not in ("metadata", "status")}),
        )

    def apply_yaml(self, text: str) -> list[Obj]:
        return [self.apply(doc) for doc in yaml.safe_load_all(text) if doc]

    async def wait_for(
        self,
        api_version: str,
        plural: str,
        namespace: str | None,
        name: str,
        condition: Any,
        *,
        within: float = 20.0,
    ) -> Obj:
        """Poll until `condition(obj)` holds (obj may be None when absent); returns the object."""
        kind = self.kind(api_version, plural)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            obj = self.store.find(kind, namespace, name)
            if condition(obj):
                return obj  # type: ignore[return-value]
            if loop.time() > deadline:
                raise TimeoutError(f"{plural}/{name} did not reach the condition in {within}s: {obj}")
            await asyncio.sleep(0.05)


class ThreadedSandbox:
    """A Sandbox served from its own thread and event loop; usable from sync code and subprocesses."""

    def __init__(self, **kwargs: Any) -> None:
        self.sandbox = Sandbox(**kwargs)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="kubesandbox", daemon=True)
        self._started = concurrent.futures.Future[None]()
        self._stop: asyncio.Event | None = None

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())
        self.loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            async with self.sandbox:
                self._started.set_result(None)
                await self._stop.wait()
        except BaseException as exc:
            if not self._started.done():
                self._started.set_exception(exc)
            raise
        finally:
            processes.kill_all()

    def start(self) -> Self:
        self._thread.start()
        self._started.result(timeout=30)
        return self

    def stop(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=30)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.sandbox.url

    @property
    def kubeconfig_path(self) -> Path:
        return self.sandbox.kubeconfig_path

    @property
    def ca_pem(self) -> bytes:
        return self.sandbox.ca_pem

    @property
    def ca_path(self) -> Path:
        return self.sandbox.ca_path

    @property
    def token(self) -> str:
        return self.sandbox.token

    def ssl_context(self) -> ssl.SSLContext:
        return self.sandbox.ssl_context()

    @property
    def service_host(self) -> str:
        return self.sandbox.service_host

    @property
    def service_port(self) -> int:
        return self.sandbox.service_port

    def service_account_files(self, namespace: str, name: str) -> dict[str, bytes]:
        return self.run(self.sandbox.service_account_files, namespace, name)  # type: ignore[no-any-return]

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
        """Run a coroutine on the sandbox's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def run(self, fn: Any, *args: Any, timeout: float = 60) -> Any:
        """Run a plain function on the sandbox's loop (store access must happen there)."""

        async def wrapper() -> Any:
            return fn(*args)

        return self.call(wrapper(), timeout)

    def apply_yaml(self, text: str) -> list[Obj]:
        return self.run(self.sandbox.apply_yaml, text)  # type: ignore[no-any-return]

    def pids(self) -> dict[str, list[int]]:
        return self.run(self.sandbox.kubelet.pids)  # type: ignore[no-any-return]
