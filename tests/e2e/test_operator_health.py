"""/healthz tells the truth, end to end: the real operator reaches the sandbox through a TCP proxy;
cut the proxy and liveness fails (503, with the reason) after --stall-after; restore it and it
recovers. Readiness stays true: it is about the login and the first list, not the network now."""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid
from pathlib import Path

import httpx
import yaml
from harness import Kubectl, OperatorProcess, wait_until

from kubesandbox import ThreadedSandbox


class CuttableProxy:
    """A TCP proxy to `upstream` that can be cut (every connection closed, new ones refused)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.open = True
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            self.conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        self.open = False
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        self.conns.clear()

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


def test_liveness_fails_while_the_api_server_is_unreachable_and_recovers(
    sandbox: ThreadedSandbox, kubectl: Kubectl, tmp_path: Path
) -> None:
    host, port = sandbox.url.removeprefix("https://").split(":")
    proxy = CuttableProxy((host, int(port)))
    config = yaml.safe_load(Path(sandbox.kubeconfig_path).read_text())
    # A TCP proxy: TLS passes through it, and 127.0.0.1 is in the serving certificate.
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{proxy.port}"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        metrics_port = s.getsockname()[1]
    lease = f"health-{uuid.uuid4().hex[:5]}"
    op = OperatorProcess(
        kubeconfig, metrics_port=metrics_port, args=["--stall-after=4s", "--lease-name", lease]
    )

    def get(path: str) -> httpx.Response:
        try:
            return httpx.get(f"http://127.0.0.1:{metrics_port}{path}", timeout=5)
        except httpx.HTTPError:
            return httpx.Response(599)

    try:
        with op:
            wait_until(lambda: get("/readyz").status_code == 200, within=60, what="ready")
            assert get("/healthz").status_code == 200
            proxy.cut()
            dead = wait_until(lambda: (r := get("/healthz")).status_code == 503 and r, within=30, what="503")
            assert "nothing heard from the API server" in dead.text
            assert get("/readyz").status_code == 200  # logged in and listed: still ready
            proxy.restore()
            wait_until(lambda: get("/healthz").status_code == 200, within=30, what="recovered")
    finally:
        proxy.close()
