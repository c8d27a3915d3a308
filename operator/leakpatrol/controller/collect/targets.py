"""Which pods a policy scans, and on which port. Pure: pod JSON in, targets and reasons out.

Each target carries its container's identity (uid, start, restart count) and the kubelet's account
of its previous life (`lastState.terminated`): how a life ended, OOMKilled or not, is read here.
A pod whose container is between lives (it died and waits out its back-off, not Ready) is not a
target, but it is *resting*: its series are kept and its lives still speak.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from leakpatrol.controller.ports import ScanTarget, Unscannable
from leakpatrol.detect.evaluator import PodIdentity
from leakpatrol.detect.lives import LastLife
from leakpatrol.reasons import Reason, Termination


def _ready(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") != "Running" or (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def _resolve_port(pod: Mapping[str, Any], port: int | str) -> tuple[int, str] | None:
    """(port number, container name). A number needs no declaration: pprof often sits on a side port."""
    containers = (pod.get("spec") or {}).get("containers") or []
    for c in containers:
        for p in c.get("ports") or []:
            if p.get("name") == port or p.get("containerPort") == port:
                return int(p["containerPort"]), str(c.get("name", ""))
    if isinstance(port, int):
        return port, str(containers[0].get("name", "")) if containers else ""
    return None


def _memory_limit(pod: Mapping[str, Any], container: str) -> str | None:
    for c in (pod.get("spec") or {}).get("containers") or []:
        if c.get("name") == container:
            limit = ((c.get("resources") or {}).get("limits") or {}).get("memory")
            return None if limit is None else str(limit)
    return None


def _images(pod: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(c.get("image", "")) for c in (pod.get("spec") or {}).get("containers") or [])


def _started(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _identity(pod: Mapping[str, Any], container: str) -> PodIdentity:
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    cs = _container_status(pod, container)
    running = (cs.get("state") or {}).get("running") or {}
    return PodIdentity(
        uid=str(meta.get("uid", "")),
        started_at=_started(running.get("startedAt") or status.get("startTime")),
        restarts=int(cs.get("restartCount", 0)),
        last=_last_life(cs),
    )


def _container_status(pod: Mapping[str, Any], container: str) -> Mapping[str, Any]:
    statuses: list[dict[str, Any]] = (pod.get("status") or {}).get("containerStatuses") or []
    return next((c for c in statuses if c.get("name") == container), {})


def _last_life(cs: Mapping[str, Any]) -> LastLife | None:
    """`lastState.terminated`: the kubelet's OOMKilled, else Error or Completed by the exit code."""
    terminated = (cs.get("lastState") or {}).get("terminated")
    if not isinstance(terminated, Mapping):
        return None
    code = terminated.get("exitCode")
    exit_code = code if isinstance(code, int) and not isinstance(code, bool) else None
    told = str(terminated.get("reason") or "")
    if told in Termination._value2member_map_:
        end = Termination(told)
    else:  # ContainerCannotRun, StartError, a runtime's own word: the exit code says the rest
        end = Termination.COMPLETED if exit_code == 0 else Termination.ERROR
    try:
        started, finished = _started(terminated.get("startedAt")), _started(terminated.get("finishedAt"))
    except (TypeError, ValueError):
        started = finished = None
    return LastLife(end, exit_code, started, finished)


def _between_lives(pod: Mapping[str, Any], container: str) -> bool:
    """Not Ready because the container died and waits to start again (CrashLoopBackOff), or has
    just died: the kubelet tells of the life that ended."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    cs = _container_status(pod, container)
    state = cs.get("state") or {}
    if "running" in state and (cs.get("ready") or _ready(pod)):
        return False
    return _last_life(cs) is not None or "terminated" in state


def _owner_ref(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    refs = (pod.get("metadata") or {}).get("ownerReferences") or []
    return next((r for r in refs if r.get("controller")), refs[0] if refs else None)


def _owner(pod: Mapping[str, Any]) -> tuple[str, str] | None:
    ref = _owner_ref(pod)
    return (str(ref["kind"]), str(ref["name"])) if ref else None


def resting_targets(pods: Iterable[Mapping[str, Any]], port: int | str) -> list[ScanTarget]:
    """Pods whose profiled container is between lives: not scanned (nothing answers), but their
    series and lives are kept, and the life that ended is judged from the kubelet's account."""
    out = []
    for pod in pods:
        resolved = _resolve_port(pod, port)
        if _ready(pod) or resolved is None or not _between_lives(pod, resolved[1]):
            continue
        meta = pod.get("metadata") or {}
        number, container = resolved
        cs = _container_status(pod, container)
        out.append(
            ScanTarget(
                namespace=str(meta.get("namespace", "")),
                name=str(meta.get("name", "")),
                uid=str(meta.get("uid", "")),
                ip=str((pod.get("status") or {}).get("podIP") or ""),
                port=number,
                identity=PodIdentity(
                    str(meta.get("uid", "")), None, int(cs.get("restartCount", 0)), _last_life(cs)
                ),
                owner=_owner(pod),
                owner_uid=str((_owner_ref(pod) or {}).get("uid", "")),
                memory_limit=_memory_limit(pod, container),
                images=_images(pod),
            )
        )
    return out


def select_targets(
    pods: Iterable[Mapping[str, Any]], port: int | str
) -> tuple[list[ScanTarget], list[Unscannable]]:
    """Running and Ready pods with the port resolved; the rest explained (only the ones that matter:
    a pod that is merely starting is not a problem worth an Event)."""
    targets: list[ScanTarget] = []
    problems: list[Unscannable] = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        if not _ready(pod):
            continue
        resolved = _resolve_port(pod, port)
        if resolved is None:
            problems.append(
                Unscannable(
                    meta.get("name", "?"),
                    Reason.PORT_NOT_FOUND,
                    f"no container of pod {meta.get('name')} declares a port named {port!r}",
                )
            )
            continue
        ip = (pod.get("status") or {}).get("podIP")
        if not ip:
            continue
        number, container = resolved
        targets.append(
            ScanTarget(
                namespace=str(meta.get("namespace", "")),
                name=str(meta.get("name", "")),
                uid=str(meta.get("uid", "")),
                ip=str(ip),
                port=number,
                identity=_identity(pod, container),
                owner=_owner(pod),
                owner_uid=str((_owner_ref(pod) or {}).get("uid", "")),
                memory_limit=_memory_limit(pod, container),
                images=_images(pod),
                labels=tuple(sorted((str(k), str(v)) for k, v in (meta.get("labels") or {}).items())),
            )
        )
    return targets, problems
