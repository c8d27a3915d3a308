"""The Job controller (batch/v1): pods from the template until enough succeed, or the Job fails.

What Helm's hook Jobs and `helm install --wait` rely on, as kube-controller-manager does it:
defaults and the generated selector (`batch.kubernetes.io/controller-uid`, `job-name` labels on the
template), pods named `<job>-xxxxx` owned by the Job, `restartPolicy` Never (a failed pod is
replaced) or OnFailure (the kubelet restarts the container; restarts count against the limit),
`backoffLimit`, `activeDeadlineSeconds`, `status` (active/ready/succeeded/failed, startTime,
completionTime, the SuccessCriteriaMet/Complete and FailureTarget/Failed conditions) and
`ttlSecondsAfterFinished`. Not emulated: the exponential delay before a failed pod is replaced
(here at once), Indexed completion, podFailurePolicy, successPolicy, suspend, pod tracking
finalizers.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from . import defaults, events, meta
from .controllers import ControlPlane, owned_by, owner_ref
from .registry import Kind
from .store import Obj
from .workloads import pod_ready

CONTROLLER = "job-controller"


class Jobs:
    def __init__(self, cp: ControlPlane) -> None:
        self.cp, self.store = cp, cp.store
        self.jobs = cp.kind("batch", "v1", "jobs")
        self.pods = cp.kind("", "v1", "pods")
        self._timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        cp.reconcilers["jobs"] = self.sync
        cp.watchers.append(self._on_change)
        self.store.admissions.append(self._admit)

    def _admit(self, kind: Kind, old: Obj | None, new: Obj) -> None:
        if kind.key() != self.jobs.key():
            return
        spec = new.setdefault("spec", {})
        spec.setdefault("parallelism", 1)
        spec.setdefault("completions", 1)
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
        template = spec.setdefault("template", {})
        defaults.pod_spec(template.setdefault("spec", {}))
        if old is None and not spec.get("manualSelector"):
            md = new["metadata"]
            uid, name = md["uid"], md["name"]
            generated = {
                "batch.kubernetes.io/controller-uid": uid,
                "batch.kubernetes.io/job-name": name,
                "controller-uid": uid,
                "job-name": name,
            }
            if not md.get("labels"):  # a Job without labels takes its template's, as on a real server
                md["labels"] = dict(generated)
            labels = template.setdefault("metadata", {}).setdefault("labels", {})
            labels.update(generated)
            spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}

    def _on_change(self, kind: Kind, etype: str, old: Obj | None, new: Obj) -> None:
        ns = new["metadata"].get("namespace")
        if kind.key() == self.jobs.key() and etype != "DELETED":
            self.cp.enqueue("jobs", ns, new["metadata"]["name"])
        elif kind.plural == "pods" and kind.group == "":
            for ref in new["metadata"].get("ownerReferences") or []:
                if ref.get("kind") == "Job" and ref.get("apiVersion") == "batch/v1":
                    self.cp.enqueue("jobs", ns, ref["name"])

    def _later(self, ns: str, name: str, delay: float) -> None:
        """Look at the Job again after `delay` s (its deadline, its TTL): nothing else would wake it."""
        key = (ns, name)
        if key in self._timers:
            self._timers[key].cancel()
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(max(0.0, delay) + 0.05, self.cp.enqueue, "jobs", ns, name)

    async def sync(self, ns: str | None, name: str) -> None:
        job = self.store.find(self.jobs, ns, name)
        if job is None or ns is None or job["metadata"].get("deletionTimestamp"):
            return
        spec, status = job.get("spec") or {}, copy.deepcopy(job.get("status") or {})
        if _finished(status):
            self._expire(job, status)
            return
        pods = [p for p in self.store.list(self.pods, ns) if owned_by(p, job["metadata"]["uid"])]
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        active = [p for p in live if _phase(p) not in ("Succeeded", "Failed")]
        succeeded = sum(1 for p in pods if _phase(p) == "Succeeded")
        failed = sum(1 for p in pods if _phase(p) == "Failed")
        restarts = 0
        if (spec.get("template") or {}).get("spec", {}).get("restartPolicy") == "OnFailure":
            restarts = sum(
                s.get("restartCount", 0)
                for p in pods
                for s in (p.get("status") or {}).get("containerStatuses") or []
            )
        now = meta.now()
        status.setdefault("startTime", now)
        started = meta.parse_time(status["startTime"])
        elapsed = (meta.parse_time(now) - started).total_seconds() if started else 0.0  # type: ignore[operator]
        deadline = spec.get("activeDeadlineSeconds")
        verdict: tuple[str, str, str] | None = None
        if succeeded >= spec.get("completions", 1):
            verdict = ("Complete", "CompletionsReached", "Reached expected number of succeeded pods")
        elif failed + restarts > spec.get("backoffLimit", 6):
            verdict = ("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
        elif deadline is not None and elapsed >= deadline:
            verdict = ("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
        if verdict is None:
            want = min(spec.get("parallelism", 1), spec.get("completions", 1) - succeeded) - len(active)
            for _ in range(max(0, want)):
                active.append(self._create_pod(job))
            if deadline is not None:
                self._later(ns, name, deadline - elapsed)
        else:
            for pod in active:  # a finished Job leaves no pod running
                self.store.delete_quietly(self.pods, ns, pod["metadata"]["name"])
            active = []
        status.update(
            active=len(active),
            ready=sum(1 for p in active if pod_ready(p)),
            succeeded=succeeded,
            failed=failed,
            terminating=0,
            uncountedTerminatedPods={},
        )
        for key in ("active", "succeeded", "failed"):
            if not status[key]:
                del status[key]  # the real controller omits zero counts
        if verdict is not None:
            self._finish(job, status, verdict, now)
        if status != (job.get("status") or {}):
            self.store.update(self.jobs, ns, name, lambda j: j.update(status=status))
        if verdict is not None:
            self._expire(job, status)

    def _finish(self, job: Obj, status: Obj, verdict: tuple[str, str, str], now: str) -> None:
        ctype, reason, message = verdict
        # Since 1.31 the controller first says SuccessCriteriaMet / FailureTarget, then the final one.
        interim = "SuccessCriteriaMet" if ctype == "Complete" else "FailureTarget"
        status["conditions"] = [
            {
                "type": t,
                "status": "True",
                "reason": reason,
                "message": message,
                "lastProbeTime": now,
                "lastTransitionTime": now,
            }
            for t in (interim, ctype)
        ]
        if ctype == "Complete":
            status["completionTime"] = now
            events.record(self.store, job, "Completed", "Job completed", component=CONTROLLER)
        else:
            events.record(self.store, job, reason, message, component=CONTROLLER, etype="Warning")

    def _expire(self, job: Obj, status: Obj) -> None:
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        if ttl is None:
            return
        ns, name = job["metadata"]["namespace"], job["metadata"]["name"]
        done = [
            c["lastTransitionTime"]
            for c in status.get("conditions") or []
            if c["type"] in ("Complete", "Failed")
        ]
        finished_at = meta.parse_time(done[0]) if done else None
        current = meta.parse_time(meta.now())
        left = ttl - (current - finished_at).total_seconds() if finished_at and current else 0.0
        if left > 0:
            self._later(ns, name, left)
        else:
            self.store.delete_quietly(self.jobs, ns, name)  # its pods go with it (garbage collection)

    def _create_pod(self, job: Obj) -> Obj:
        template = copy.deepcopy((job.get("spec") or {}).get("template") or {})
        md = template.get("metadata") or {}
        pod = {
            "metadata": {
                **md,
                "generateName": f"{job['metadata']['name']}-",
                "ownerReferences": [owner_ref(job)],
            },
            "spec": template.get("spec") or {},
        }
        pod["metadata"].pop("name", None)
        created = self.store.create(self.pods, job["metadata"]["namespace"], pod)
        message = f"Created pod: {created['metadata']['name']}"
        events.record(self.store, job, "SuccessfulCreate", message, component=CONTROLLER)
        return created


def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def _finished(status: dict[str, Any]) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
