"""What the probes say, decided from facts the runtime records: pure, with `now` passed in.

Liveness (`/healthz`): a restart would help. It fails when the operator has heard nothing from the
API server (no answer to any of our calls) for `stall_after` seconds — the lease loop, the scan
passes and the heartbeat list call it every few seconds, so silence means a dead connection or a
wedged loop — or when a policy's scan loop has not finished a pass within `slack` times the delay it
announced (a hung pass). A pass that *fails* still finishes: failing targets are reported on the
policy, and a restart would not fix them.

Readiness (`/readyz`): logged in, and the first list of LeakPolicies answered (the CRD is
installed and RBAC lets us read it), and nothing that no retry fixes keeps this replica from ever
scanning (its Lease's namespace missing, RBAC refusing the Lease). A standby replica is live and
ready, just not leading.
"""

from __future__ import annotations

from dataclasses import dataclass, field

STALL_AFTER = 300.0  # seconds without hearing from the API server
PASS_SLACK = 3.0  # a pass is overdue after this many times its announced delay ...
PASS_GRACE = 120.0  # ... plus this, for a slow pass (timeouts, many targets) on top


@dataclass(frozen=True, slots=True)
class HealthReport:
    ok: bool
    reasons: tuple[str, ...] = ()

    def text(self) -> str:
        return "ok" if self.ok else "\n".join(self.reasons)


@dataclass(slots=True)
class Health:
    started: float  # the clock at start-up: nothing heard yet is not a stall until stall_after
    stall_after: float = STALL_AFTER
    slack: float = PASS_SLACK
    grace: float = PASS_GRACE
    logged_in: bool = False
    listed: bool = False
    last_heard: float | None = None  # last answer from the API server
    due: dict[str, float] = field(default_factory=dict)  # policy -> clock by which its pass must end

    def heard(self, now: float) -> None:
        """An answer from the API server: the connection works."""
        self.last_heard = max(now, self.last_heard or now)

    def pass_started(self, policy: str, delay: float, now: float) -> None:
        """A pass begins (or a loop starts); it must end within slack x `delay` + grace."""
        self.due[policy] = now + self.slack * delay + self.grace

    def pass_done(self, policy: str, next_delay: float, now: float) -> None:
        """A pass ended (well or not); the next one starts after `next_delay` and must end in time."""
        self.pass_started(policy, next_delay, now)

    def forget(self, policy: str) -> None:
        """The policy is gone, suspended from our view, or we stopped leading: no pass is owed."""
        self.due.pop(policy, None)

    def live(self, now: float) -> HealthReport:
        reasons = []
        silent = now - (self.last_heard if self.last_heard is not None else self.started)
        if silent > self.stall_after:
            reasons.append(f"nothing heard from the API server for {silent:.0f}s")
        late = sorted(p for p, by in self.due.items() if now > by)
        reasons += [f"policy {p}: scan pass overdue" for p in late]
        return HealthReport(not reasons, tuple(reasons))

    def ready(self, *blocked: str | None) -> HealthReport:
        """`blocked`: why this replica can never scan as it stands (its Lease cannot be written)."""
        reasons = [b for b in blocked if b]
        if not self.logged_in:
            reasons.append("not logged in to the API server")
        if not self.listed:
            reasons.append("LeakPolicies not listed yet (is the CRD installed, may we list it?)")
        return HealthReport(not reasons, tuple(reasons))
