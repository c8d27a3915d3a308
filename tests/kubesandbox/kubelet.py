"""The "kubelet": runs each Pod's containers as real local processes on the pod's own loopback IP.

Every pod gets 127.<net>.x.N (all of 127/8 routes to lo on Linux), so a process listens on
podIP:containerPort for real, exactly like a container in its network namespace, and Direct dials,
port-forward and `kubectl logs` all reach it. A container's `resources.limits.memory` is enforced
(memory.py: its own memory cgroup, else a watchdog), so a leak ends `OOMKilled` with exit code 137.
Exited processes are restarted per `restartPolicy` with CrashLoopBackOff's doubling back-off, and
deleting the pod kills its process groups (and removes their cgroups).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import random
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp.web
from kmock import KubernetesError

from . import errors, events, images, memory, meta, paths, podfs, processes
from .apiservice import ApiService
from .controllers import ControlPlane
from .images import Image, binary_for, image_id, resolve
from .probes import Prober
from .registry import Kind
from .store import Obj

NODE = "kubesandbox-node"
READY_TIMEOUT = 20.0  # seconds a process gets to listen on its declared ports before it counts as unready
# CrashLoopBackOff as the kubelet does it: 10 s after a container exits, doubling each time it exits
# again, at most 5 min; reset once a container ran for twice the cap. Tests pass a shorter base.
BACKOFF_BASE, BACKOFF_CAP = 10.0, 300.0
OOM_EXIT_CODE = 137  # 128 + SIGKILL: what the runtime reports for a container the OOM killer ended


def pick_net() -> int:
    pinned = os.environ.get("KUBESANDBOX_POD_NET")
    return int(pinned) if pinned else random.SystemRandom().randrange(2, 250)


@dataclass(frozen=True, slots=True)
class Backoff:
    base: float = BACKOFF_BASE
    cap: float = BACKOFF_CAP

    def delay(self, step: int) -> float:
        return min(self.cap, self.base * 2**step)


class Kubelet:
    def __init__(
        self,
        cp: ControlPlane,
        images: dict[str, Image],
        workdir: Path,
        *,
        limits: memory.Enforcer | None = None,
        backoff: Backoff | None = None,
        service_account: podfs.Files | None = None,
        api_service: ApiService | None = None,
        net: int | None = None,
    ) -> None:
        """`service_account(namespace, name)`: the files a pod of that ServiceAccount mounts;
        `api_service`: the `kubernetes` Service pods reach the API server through."""
        self.cp, self.store, self.images, self.workdir = cp, cp.store, images, workdir
        self.service_account, self.api_service = service_account, api_service
        self.limits = limits or memory.Enforcer()  # how memory limits are enforced (memory.detect())
        self.backoff = backoff or Backoff()
        self.pods = cp.kind("", "v1", "pods")
        self.runners: dict[str, PodRunner] = {}
        self._ips = 0
        # Pods get 127.<net>.x.y. A random <net> per sandbox: two sandboxes on one machine (two test
        # runs, a demo beside the tests) would otherwise hand out the same IPs and pods would fail
        # with "address already in use". KUBESANDBOX_POD_NET pins it (the scan benchmark uses 0).
        self.net = pick_net() if net is None else net
        self._stopping: set[asyncio.Task[None]] = set()
        cp.watchers.append(self._on_change)
        cp.api.subresources["pods/log"] = self.logs
        self.store.graceful = self._grace_period

    def allocate_ip(self) -> str:
        self._ips += 1
        return f"127.{self.net}.{1 + (self._ips - 1) // 254}.{1 + (self._ips - 1) % 254}"

    def _on_change(self, kind: Kind, etype: str, old: Obj | None, new: Obj) -> None:
        if kind.key() != self.pods.key():
            return
        uid = new["metadata"]["uid"]
        if etype == "DELETED" or new["metadata"].get("deletionTimestamp"):
            runner = self.runners.pop(uid, None)
            if runner is not None:
                task = asyncio.create_task(self._terminate(runner, etype != "DELETED"))
                self._stopping.add(task)
                task.add_done_callback(self._stopping.discard)
        elif uid not in self.runners:
            self.runners[uid] = PodRunner(self, new)
            self.runners[uid].start()

    def _grace_period(self, kind: Kind, obj: Obj) -> int | None:
        """A pod with containers still running terminates first (see Store.graceful)."""
        if kind.key() != self.pods.key():
            return None
        runner = self.runners.get(obj["metadata"]["uid"])
        if runner is None or not any(p.returncode is None for p in runner.procs.values()):
            return None
        return int((obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30))

    async def _terminate(self, runner: PodRunner, then_delete: bool) -> None:
        """Stop the pod's containers; then remove the Terminating pod, as the kubelet's final
        delete with a grace period of 0 does."""
        await runner.stop()
        if then_delete:
            with contextlib.suppress(KubernetesError):
                options = {"gracePeriodSeconds": 0, "preconditions": {"uid": runner.uid}}
                self.store.delete(self.pods, runner.namespace, runner.name, options)

    async def stop(self) -> None:
        runners, self.runners = list(self.runners.values()), {}
        await asyncio.gather(*(r.stop() for r in runners), *self._stopping, return_exceptions=True)
        self.limits.close()

    def pids(self) -> dict[str, list[int]]:
        """pod name -> pids of its running containers (for tests: did a rollout replace them?)."""
        return {
            r.name: [p.pid for p in r.procs.values() if p.returncode is None] for r in self.runners.values()
        }

    async def logs(
        self, raw: aiohttp.web.BaseRequest, kind: Kind, path: paths.ApiPath
    ) -> aiohttp.web.Response:
        pod = self.store.get(self.pods, path.namespace, path.name or "")
        names = [c["name"] for c in pod["spec"].get("containers") or []]
        container = raw.query.get("container") or (names[0] if len(names) == 1 else None)
        if container not in names:
            raise errors.bad_request(
                f"a container name must be specified for pod {path.name}, choose one of: [{' '.join(names)}]"
            )
        log = self.workdir / pod["metadata"]["uid"] / f"{container}.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        if raw.query.get("tailLines"):
            text = "".join(text.splitlines(keepends=True)[-int(raw.query["tailLines"]) :])
        return aiohttp.web.Response(text=text, content_type="text/plain")


class PodRunner:
    def __init__(self, kubelet: Kubelet, pod: Obj) -> None:
        self.kubelet, self.store = kubelet, kubelet.store
        self.namespace, self.name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        self.uid = pod["metadata"]["uid"]
        self.spec = pod.get("spec") or {}
        self.annotations = pod["metadata"].get("annotations") or {}
        self.ip = ""
        self.statuses: dict[str, dict[str, Any]] = {}
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.cells: dict[str, memory.Cell] = {}  # each running container's memory cgroup (or watch)
        self.exited: dict[str, int] = {}  # containers that will not restart (restartPolicy): exit code
        self.task: asyncio.Task[None] | None = None
        self.stopping = False

    def start(self) -> None:
        self.task = asyncio.create_task(self.run(), name=f"pod {self.namespace}/{self.name}")

    async def stop(self) -> None:
        self.stopping = True
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await asyncio.gather(*(processes.stop(p) for p in self.procs.values()), return_exceptions=True)
        for cell in list(self.cells.values()):
            cell.close()
        self.cells.clear()

    def _event(self, reason: str, message: str, etype: str = "Normal", component: str = "kubelet") -> None:
        pod = self.store.find(self.kubelet.pods, self.namespace, self.name)
        if pod is not None:
            events.record(self.store, pod, reason, message, component=component, etype=etype, host=NODE)

    def _publish(self) -> None:
        """Write the pod's status from the containers' states, like the kubelet's status manager."""
        containers = [c["name"] for c in self.spec.get("containers") or []]
        statuses = [self.statuses[c] for c in containers if c in self.statuses]
        running = len(statuses) == len(containers) and all("running" in s["state"] for s in statuses)
        ready = running and all(s["ready"] for s in statuses)
        done = bool(containers) and all(c in self.exited for c in containers)
        final = ("Failed" if any(self.exited.values()) else "Succeeded") if done else None
        stamp = meta.now()

        def condition(ctype: str, ok: bool) -> dict[str, Any]:
            return {
                "type": ctype,
                "status": "True" if ok else "False",
                "lastProbeTime": None,
                "lastTransitionTime": stamp,
            }

        def mutate(pod: Obj) -> None:
            old = {c["type"]: c for c in (pod.get("status") or {}).get("conditions") or []}
            conditions = [
                condition("PodReadyToStartContainers", True),
                condition("Initialized", True),
                condition("Ready", ready),
                condition("ContainersReady", ready),
                condition("PodScheduled", True),
            ]
            for cond in conditions:
                if cond["type"] in old and old[cond["type"]]["status"] == cond["status"]:
                    cond["lastTransitionTime"] = old[cond["type"]]["lastTransitionTime"]
            pod["spec"]["nodeName"] = NODE
            status = pod.setdefault("status", {})
            status.update(
                phase=final or ("Running" if running or status.get("phase") == "Running" else "Pending"),
                conditions=conditions,
                hostIP="127.0.0.1",
                hostIPs=[{"ip": "127.0.0.1"}],
                podIP=self.ip,
                podIPs=[{"ip": self.ip}],
                qosClass=self._qos_class(),
                containerStatuses=[dict(s) for s in statuses],
            )
            status.setdefault("startTime", stamp)

        with contextlib.suppress(KubernetesError):
            self.store.update(self.kubelet.pods, self.namespace, self.name, mutate)

    async def run(self) -> None:
        self.ip = self.kubelet.allocate_ip()
        for c in self.spec.get("containers") or []:
            self.statuses[c["name"]] = _status(c, waiting="ContainerCreating")
        self._publish()
        self._event(
            "Scheduled",
            f"Successfully assigned {self.namespace}/{self.name} to {NODE}",
            component="default-scheduler",
        )
        await asyncio.gather(*(self._container(c) for c in self.spec.get("containers") or []))

    async def _container(self, spec: dict[str, Any]) -> None:
        name, ref = spec["name"], spec.get("image", "")
        found = resolve(self.kubelet.images, ref)
        if found is None:
            await self._image_missing(spec)
            return
        image, tag = found
        binary = await asyncio.to_thread(binary_for, image)
        self._event("Pulled", f'Container image "{ref}" already present on machine')
        ports = [p["containerPort"] for p in spec.get("ports") or [] if "containerPort" in p]
        port = str(ports[0]) if ports else "8080"
        values = {"ip": self.ip, "port": port, "tag": tag, "pod": self.name, "namespace": self.namespace}
        argv = images.argv(image, binary, spec, **values)
        log_dir = self.kubelet.workdir / self.uid
        log_dir.mkdir(parents=True, exist_ok=True)
        prepared = await self._prepare(spec, log_dir)
        argv, env = (
            prepared.wrap(argv),
            self._env(spec, {**images.render_env(image, **values), **prepared.env}),
        )
        enforced = self.annotations.get(memory.ANNOTATION) != memory.OFF
        limit = memory.container_limit(spec) if enforced else None
        policy = self.spec.get("restartPolicy") or "Always"
        backoff, restarts, step = self.kubelet.backoff, 0, 0
        while not self.stopping:
            cell = self.kubelet.limits.cell(f"{self.uid}-{name}", limit) if limit else None
            if cell is not None:
                self.cells[name] = cell
            proc = await processes.spawn(argv, env, log_dir / f"{name}.log", cell.preexec if cell else None)
            self.procs[name] = proc
            if cell is not None:
                cell.watch(proc.pid)
            self._event("Created", f"Created container: {name}")
            self._event("Started", f"Started container {name}")
            status = _status(spec, restarts=restarts, image_id=image_id(ref, binary))
            started = meta.now()
            status["state"] = {"running": {"startedAt": started}}
            status["started"] = "startupProbe" not in spec
            self.statuses[name] = {**status, "lastState": self.statuses[name].get("lastState", {})}
            self._publish()
            began = asyncio.get_running_loop().time()
            prober = self._probe(spec, proc, env)
            try:
                # A declared readinessProbe decides readiness; without one, every declared port
                # accepting connections does (what a TCP probe on each would say).
                if "readinessProbe" not in spec and await _wait_listening(self.ip, ports, proc):
                    self.statuses[name]["ready"] = True
                    self._publish()
                code = await proc.wait()
            finally:
                if prober is not None:
                    prober.cancel()
                    await asyncio.gather(prober, return_exceptions=True)
            oom = cell is not None and cell.oom_killed()
            if cell is not None:
                cell.close()
                self.cells.pop(name, None)
            processes.forget(proc)
            if self.stopping:
                return
            terminated = _terminated(self.statuses[name], code, oom)
            if not (policy == "Always" or (policy == "OnFailure" and terminated["exitCode"] != 0)):
                self._finished(spec, terminated, restarts)
                return
            # A container that ran for twice the cap starts its back-off afresh, as the kubelet's does.
            if asyncio.get_running_loop().time() - began > 2 * backoff.cap:
                step = 0
            delay = backoff.delay(step)
            step += 1
            self._crashed(spec, terminated, restarts, delay)
            self._event(
                "BackOff", f"Back-off restarting failed container {name} in pod {self._pod()}", "Warning"
            )
            await asyncio.sleep(delay)
            restarts += 1

    async def _prepare(self, spec: dict[str, Any], pod_dir: Path) -> podfs.Prepared:
        """Mounts and in-cluster environment; a missing ServiceAccount, ConfigMap or Secret leaves
        the container waiting in CreateContainerConfigError until it appears, as the kubelet does."""
        kubelet = self.kubelet
        await asyncio.to_thread(podfs.mechanism)  # probed once per process (it runs `unshare`)
        while True:
            pod = self.store.find(kubelet.pods, self.namespace, self.name) or {
                "metadata": {"namespace": self.namespace},
                "spec": self.spec,
            }
            try:
                return podfs.prepare(
                    pod,
                    spec,
                    pod_dir,
                    service_account=kubelet.service_account,
                    service=(svc.cluster_ip, svc.port) if (svc := kubelet.api_service) else None,
                    config_data=self._config_data,
                    hosts=svc.hosts_file(pod_dir / "hosts", self.ip, self.name) if svc else None,
                )
            except LookupError as exc:
                message = str(exc.args[0])
                self.statuses[spec["name"]] = _status(
                    spec, waiting="CreateContainerConfigError", message=message
                )
                self._publish()
                self._event("Failed", f"Error: {message}", "Warning")
                await asyncio.sleep(0.5)

    def _config_data(self, kind: str, namespace: str, name: str) -> dict[str, bytes] | None:
        plural = {"configMap": "configmaps", "secret": "secrets"}[kind]
        obj = self.store.find(self.kubelet.cp.kind("", "v1", plural), namespace, name)
        if obj is None:
            return None
        if kind == "secret":
            return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        files = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
        files.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
        return files

    def _probe(
        self, spec: dict[str, Any], proc: asyncio.subprocess.Process, env: dict[str, str]
    ) -> asyncio.Task[None] | None:
        if not any(key in spec for key in ("livenessProbe", "readinessProbe", "startupProbe")):
            return None
        name = spec["name"]
        grace = min(float(self.spec.get("terminationGracePeriodSeconds", 30)), 10.0)

        def ready(ok: bool) -> None:
            if proc.returncode is None and self.statuses[name]["ready"] != ok:
                self.statuses[name]["ready"] = ok
                self._publish()

        def started() -> None:
            if proc.returncode is None and not self.statuses[name]["started"]:
                self.statuses[name]["started"] = True
                self._publish()

        def kill(_: str) -> None:
            task = asyncio.create_task(processes.stop(proc, grace))
            self.kubelet._stopping.add(task)
            task.add_done_callback(self.kubelet._stopping.discard)

        def event(reason: str, message: str, etype: str) -> None:
            self._event(reason, message, etype)

        prober = Prober(spec, self.ip, env, on_ready=ready, on_started=started, kill=kill, event=event)
        return asyncio.create_task(prober.run(), name=f"probes {self.namespace}/{self.name}/{name}")

    def _pod(self) -> str:
        """The kubelet's way of naming a pod in messages (format.Pod): name_namespace(uid)."""
        return f"{self.name}_{self.namespace}({self.uid})"

    def _qos_class(self) -> str:
        resources = [c.get("resources") or {} for c in self.spec.get("containers") or []]
        if not any(r.get("limits") or r.get("requests") for r in resources):
            return "BestEffort"
        guaranteed = all(
            (r.get("limits") or {}).get(k) is not None
            and (r.get("requests") or {}).get(k, (r.get("limits") or {}).get(k)) == r["limits"][k]
            for r in resources
            for k in ("cpu", "memory")
        )
        return "Guaranteed" if guaranteed else "Burstable"

    def _crashed(self, spec: dict[str, Any], terminated: dict[str, Any], restarts: int, delay: float) -> None:
        old = self.statuses[spec["name"]]
        status = _status(
            spec, restarts=restarts + 1, image_id=old.get("imageID", ""), waiting="CrashLoopBackOff"
        )
        status["state"]["waiting"]["message"] = (
            f"back-off {go_duration(delay)} restarting failed container={spec['name']} pod={self._pod()}"
        )
        status["lastState"] = {"terminated": terminated}
        self.statuses[spec["name"]] = status
        self._publish()

    def _finished(self, spec: dict[str, Any], terminated: dict[str, Any], restarts: int) -> None:
        """restartPolicy Never (or OnFailure after a success): the container stays terminated."""
        old = self.statuses[spec["name"]]
        status = _status(spec, restarts=restarts, image_id=old.get("imageID", ""))
        status["state"] = {"terminated": terminated}
        status["lastState"] = old.get("lastState", {})
        status["containerID"] = terminated.get("containerID")
        self.statuses[spec["name"]] = status
        self.exited[spec["name"]] = terminated["exitCode"]
        self._publish()

    async def _image_missing(self, spec: dict[str, Any]) -> None:
        ref = spec.get("image", "")
        message = (
            f'Failed to pull image "{ref}": rpc error: code = NotFound desc = failed to pull and unpack '
            f'image "{ref}": not found (kubesandbox: no program is mapped to this image)'
        )
        self.statuses[spec["name"]] = _status(spec, waiting="ErrImagePull", message=message)
        self._publish()
        self._event("Failed", message, "Warning")
        await asyncio.sleep(1.0)
        self.statuses[spec["name"]] = _status(
            spec, waiting="ImagePullBackOff", message=f'Back-off pulling image "{ref}"'
        )
        self._publish()
        self._event("BackOff", f'Back-off pulling image "{ref}"', "Warning")

    def _env(self, spec: dict[str, Any], base: dict[str, str]) -> dict[str, str]:
        """The image's environment and the in-cluster variables (`base`), then the container's own."""
        env = {
            k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR", "LANG", "SCENARIO_MINUTE")
        }
        env.update(base)
        fields = {
            "metadata.name": self.name,
            "metadata.namespace": self.namespace,
            "status.podIP": self.ip,
            "metadata.uid": self.uid,
            "spec.nodeName": NODE,
        }
        for var in spec.get("env") or []:
            ref = ((var.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
            env[var["name"]] = fields.get(ref, "") if ref else str(var.get("value", ""))
        return env


def _terminated(old: dict[str, Any], code: int, oom: bool) -> dict[str, Any]:
    """The runtime's account of an exited container: a signal's death is 128 + the signal (a
    SIGKILL is 137), and the OOM killer's kill is `OOMKilled`, whatever else it looks like."""
    exit_code = 128 - code if code < 0 else code
    return {
        "exitCode": OOM_EXIT_CODE if oom else exit_code,
        "reason": "OOMKilled" if oom else ("Error" if exit_code else "Completed"),
        "startedAt": ((old.get("state") or {}).get("running") or {}).get("startedAt"),
        "finishedAt": meta.now(),
        "containerID": old.get("containerID"),
    }


def go_duration(seconds: float) -> str:
    """A duration as Go's time.Duration.String() writes it (10s, 1m20s, 5m0s, 500ms)."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    minutes, secs = divmod(seconds, 60)
    text = f"{secs:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{text}" if minutes else text


def _status(
    spec: dict[str, Any],
    *,
    restarts: int = 0,
    image_id: str = "",
    waiting: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    state: dict[str, Any] = {}
    if waiting:
        state["waiting"] = {"reason": waiting, **({"message": message} if message else {})}
    status = {
        "name": spec["name"],
        "image": spec.get("image", ""),
        "imageID": image_id,
        "ready": False,
        "restartCount": restarts,
        "started": False,
        "state": state,
        "lastState": {},
    }
    if image_id:
        status["containerID"] = f"containerd://{secrets.token_hex(32)}"
    return status


async def _wait_listening(ip: str, ports: list[int], proc: asyncio.subprocess.Process) -> bool:
    """Ready = every declared port accepts connections (a TCP readiness probe); False if it exits first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT
    pending = list(ports)
    while pending and proc.returncode is None and loop.time() < deadline:
        try:
            _, writer = await asyncio.open_connection(ip, pending[0])
            writer.close()
            pending.pop(0)
        except OSError:
            await asyncio.sleep(0.05)
    return not pending and proc.returncode is None
