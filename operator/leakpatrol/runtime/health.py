"""What the probes say, decided from facts the runtime records: pure, with `now` passed in.

Liveness (`/healthz`): a restart would help. That is a question about the operator itself, never
about what a tenant's pods do: it fails when the operator has heard nothing from the API server (no
answer to any of our calls) for `stall_after` seconds — the lease loop, the scan passes and the
heartbeat list call it every few seconds, so silence means a dead connection. The probes are
served on the operator's own event loop: a wedged loop answers none, and the kubelet's timeout
fails it. A policy whose pass is overdue is its tenant's problem: the pass
is cut at its deadline and the policy reads Degraded (controller.pacing); a restart would not make
those pods answer faster, and would take every other tenant's scans down with it. Overdue passes
are still listed in the `/healthz` text, for people, without failing it.

Readiness (`/readyz`): logged in, and the first list of LeakPolicies answered (the CRD is
installed and RBAC lets us read it), and nothing that no retry fixes keeps this replica from ever
scanning (its Lease's namespace missing, RBAC refusing the Lease). A standby replica is live and
ready, just not leading.
"""

from __future__ import annotations

from dataclasses import dataclass, field

STALL_AFTER = 300.0  # seconds without hearing from the API server
PASS_SLACK = 3.0  # a pass is listed as overdue after this many times its announced delay ...
PASS_GRACE = 120.0  # ... plus this, for a slow pass (timeouts, many targets) on top


@dataclass(frozen=True, slots=True)
class HealthReport:
    ok: bool
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # said, never failing the probe

    def text(self) -> str:
        return "\n".join(["ok" if self.ok else "\n".join(self.reasons), *self.notes])


@dataclass(slots=True)
class Health:
    started: float  # the clock at start-up: nothing heard yet is not a stall until stall_after
    stall_after: float = STALL_AFTER
    slack: float = PASS_SLACK
    grace: float = PASS_GRACE
    logged_in: bool = False
    listed: bool = False
    last_heard: float | None = None  # last answer from the API server
    due: dict[str, float] = field(default_factory=dict)  # policy -> clock by which its pass should end

    def heard(self, now: float) -> None:
        """An answer from the API server: the connection works."""
        self.last_heard = max(now, self.last_heard or now)

    def pass_started(self, policy: str, delay: float, now: float) -> None:
        """A pass begins (or a loop starts); it should end within slack x `delay` + grace."""
        self.due[policy] = now + self.slack * delay + self.grace

    def pass_done(self, policy: str, next_delay: float, now: float) -> None:
        """A pass ended (well or not); the next one starts after `next_delay` and should end in time."""
        self.pass_started(policy, next_delay, now)

    def forget(self, policy: str) -> None:
        """The policy is gone, suspended from our view, or we stopped leading: no pass is owed."""
        self.due.pop(policy, None)

    def overdue(self, now: float) -> list[str]:
        return sorted(p for p, by in self.due.items() if now > by)

    def live(self, now: float) -> HealthReport:
        reasons = []
        silent = now - (self.last_heard if self.last_heard is not None else self.started)
        if silent > self.stall_after:
            reasons.append(f"nothing heard from the API server for {silent:.0f}s")
        notes = [
            f"policy {p}: scan pass overdue (said on the policy, not a liveness failure)"
            for p in self.overdue(now)
        ]
        return HealthReport(not reasons, tuple(reasons), tuple(notes))

    def ready(self, *blocked: str | None) -> HealthReport:
        """`blocked`: why this replica can never scan as it stands (its Lease cannot be written)."""
        reasons = [b for b in blocked if b]
        if not self.logged_in:
            reasons.append("not logged in to the API server")
        if not self.listed:
            reasons.append("LeakPolicies not listed yet (is the CRD installed, may we list it?)")
        return HealthReport(not reasons, tuple(reasons))
