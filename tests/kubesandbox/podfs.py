"""What a container finds on its filesystem and in its environment besides its image.

A real pod sees its ServiceAccount's token, `ca.crt` and `namespace` at
/var/run/secrets/kubernetes.io/serviceaccount (unless `automountServiceAccountToken: false`),
KUBERNETES_SERVICE_HOST/PORT, and its volumes at their mount paths. Here each container runs in a
private mount namespace (`unshare --mount --propagation private`, which needs root or
CAP_SYS_ADMIN) where a per-pod directory is bind-mounted over each of those paths, so the code in
the container reads the real paths unchanged. Where that is not allowed ("env" mechanism) the
sandbox falls back to what an unprivileged process can be told through its environment: a
kubeconfig holding the same token and CA (KUBECONFIG), and TMPDIR for an emptyDir on /tmp; the
in-cluster code path is then not the one exercised, and other mount paths are not emulated.

Volumes emulated: emptyDir (a fresh directory per pod; sizeLimit not enforced), configMap and
secret (their data as files, written once when the container starts, never updated). Not
emulated: projected, downwardAPI, hostPath, PVCs (such mounts are left out), subPath.
"""

from __future__ import annotations

import base64
import functools
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# Binds each (source, target, mode) in order, then execs the program; run by `unshare` in the new
# mount namespace. Positional arguments: triples, then "--", then the program's argv.
_MOUNT_SCRIPT = (
    'while [ "$1" != "--" ]; do { [ -f "$1" ] || mkdir -p "$2"; } && mount --bind "$1" "$2" || exit 127; '
    'if [ "$3" = ro ]; then mount -o remount,bind,ro "$2" || exit 127; fi; shift 3; done; shift; exec "$@"'
)

Files = Callable[[str, str], dict[str, bytes]]  # (namespace, serviceaccount) -> file name -> content


@functools.cache
def mechanism() -> str:
    """`mount-namespace` where a private mount namespace with bind mounts works, else `env`.
    KUBESANDBOX_PODFS=env forces the fallback (to see what an unprivileged machine gets)."""
    if os.environ.get("KUBESANDBOX_PODFS") == "env":
        return "env"
    try:
        done = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "--", "mount", "--bind", "/", "/"],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "env"
    return "mount-namespace" if done.returncode == 0 else "env"


@dataclass
class Prepared:
    binds: list[tuple[Path, str, str]] = field(default_factory=list)  # host dir, container path, ro|rw
    env: dict[str, str] = field(default_factory=dict)

    def wrap(self, argv: list[str]) -> list[str]:
        if not self.binds or mechanism() != "mount-namespace":
            return argv
        # A bind over a directory that holds another bind's source (an emptyDir on /tmp while the
        # sandbox's own files are under /tmp) would hide that source: such targets go last.
        binds = sorted(self.binds, key=lambda b: any(_under(src, b[1]) for src, _, _ in self.binds))
        triples = [part for src, dst, mode in binds for part in (str(src), dst, mode)]
        unshare = ["unshare", "--mount", "--propagation", "private", "--"]
        return [*unshare, "/bin/sh", "-c", _MOUNT_SCRIPT, "sh", *triples, "--", *argv]


def _under(path: Path, directory: str) -> bool:
    return path == Path(directory) or Path(directory) in path.parents


def prepare(
    pod: dict[str, Any],
    container: dict[str, Any],
    pod_dir: Path,
    *,
    service_account: Files | None,
    service: tuple[str, int] | None,
    config_data: Callable[[str, str, str], dict[str, bytes] | None],
    hosts: Path | None = None,
) -> Prepared:
    """The container's mounts and environment. Raises LookupError (the kubelet's
    CreateContainerConfigError) when a ServiceAccount or a referenced object is missing."""
    spec, ns = pod.get("spec") or {}, pod["metadata"]["namespace"]
    out = Prepared()
    if service is not None:
        host, port = service
        out.env.update(
            KUBERNETES_SERVICE_HOST=host,
            KUBERNETES_SERVICE_PORT=str(port),
            KUBERNETES_SERVICE_PORT_HTTPS=str(port),
            KUBERNETES_PORT=f"tcp://{host}:{port}",
        )
    if hosts is not None and mechanism() == "mount-namespace":
        out.binds.append((hosts, "/etc/hosts", "ro"))  # cluster DNS for the API's in-cluster names
    automount = container_automount(spec)
    if automount and service_account is not None and service is not None:
        name = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        try:
            files = service_account(ns, name)
        except KeyError as exc:
            raise LookupError(f'serviceaccount "{name}" not found') from exc
        sa_dir = _write(pod_dir / "serviceaccount", files)
        if mechanism() == "mount-namespace":
            out.binds.append((sa_dir, SA_DIR, "ro"))
        else:
            out.env["KUBECONFIG"] = str(_kubeconfig(pod_dir / "kubeconfig", files, service))
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount.get("name", ""))
        if volume is None:
            continue
        source = _volume_dir(volume, pod_dir, ns, config_data)
        if source is None:
            continue
        target = mount["mountPath"]
        if mechanism() == "mount-namespace":
            out.binds.append((source, target, "ro" if mount.get("readOnly") else "rw"))
        elif target == "/tmp":
            out.env["TMPDIR"] = str(source)
    return out


def container_automount(spec: dict[str, Any]) -> bool:
    """The pod's automountServiceAccountToken (the ServiceAccount's own flag is not consulted)."""
    return spec.get("automountServiceAccountToken", True) is not False


def _volume_dir(
    volume: dict[str, Any],
    pod_dir: Path,
    ns: str,
    config_data: Callable[[str, str, str], dict[str, bytes] | None],
) -> Path | None:
    path = pod_dir / "volumes" / volume["name"]
    if "emptyDir" in volume:
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o1777)  # a non-root container user must be able to write there, as in a real emptyDir
        return path
    for kind, key in (("configMap", "name"), ("secret", "secretName")):
        if kind in volume:
            source = volume[kind]
            data = config_data(kind, ns, source.get(key, ""))
            if data is None:
                if source.get("optional"):
                    return _write(path, {})
                raise LookupError(f'{kind.lower()} "{source.get(key, "")}" not found')
            return _write(path, data)
    return None


def _write(directory: Path, files: dict[str, bytes]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (directory / name).write_bytes(content)
    return directory


def _kubeconfig(path: Path, files: dict[str, bytes], service: tuple[str, int]) -> Path:
    host, port = service
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "in-cluster",
                "cluster": {
                    "server": f"https://{host}:{port}",
                    "certificate-authority-data": base64.b64encode(files["ca.crt"]).decode(),
                },
            }
        ],
        "users": [{"name": "sa", "user": {"token": files["token"].decode()}}],
        "contexts": [
            {
                "name": "in-cluster",
                "context": {"cluster": "in-cluster", "user": "sa", "namespace": files["namespace"].decode()},
            }
        ],
        "current-context": "in-cluster",
    }
    path.write_text(yaml.safe_dump(config))
    return path
