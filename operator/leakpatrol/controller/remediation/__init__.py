"""Remediation with rails (spec.remediation): pure rails and plan, one async `Remediator` per policy.

admin.py      what the cluster admin decides, no policy can change: where (a namespace selector),
              the floors under a policy's rails, the trend an action needs, who resumes
budget.py     the cluster-wide budget of actions per hour, kept in the API server
rails.py      one pure function per rail; each returns None (go) or a Block (reason, until)
timewindow.py allowed windows: inside? next opening?
plan.py       the decision for one workload: Wait | Skip | Suspend | Act
state.py      status.remediation as state (action times, cooldowns, suspensions)
evidence.py   the worst pod's profiles, saved before an action
actions.py    restart or evict through the port
pending.py    the write-ahead of an action, and whether one found pending happened
messages.py   Event texts and the RemediationSuspended condition
remediator.py the per-pass orchestration, called once by the scanner after findings are known;
              its steps: gate.py (the admin's namespace gate), claims.py (the cluster budget's
              claims), capture.py (the evidence step), telling.py (Events, metrics, skip records)
"""

from leakpatrol.controller.remediation.remediator import Remediator

__all__ = ["Remediator"]
