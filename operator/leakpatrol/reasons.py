"""Every word leakpatrol says as a reason: in status conditions, in Events, in `status.remediation`
records, in metrics labels. The one place they are written; code anywhere uses `Reason.X`.

The very bottom of the package: it imports nothing of ours (`leakpatrol.core` builds its error root
on it), and `tests/test_vocabulary.py` holds that no reason is written anywhere else.

A member that is posted as an Event carries its Event type (`Reason.LEAK_DETECTED.event_type` is
Warning), so code decides Normal or Warning from the word, never by comparing strings. A member
with no type is a condition's or a record's word only. Words of failures are Warnings: any
`Permanent` error's reason can end up `Ready=False` with one Warning Event.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

EventType = Literal["Normal", "Warning"]
NORMAL: EventType = "Normal"
WARNING: EventType = "Warning"


class Reason(StrEnum):
    """`REASON = "Word", event type[, the type when a remediation skip repeats it]`."""

    _event_type: EventType | None
    _skip_type: EventType | None

    def __new__(
        cls, word: str, event_type: EventType | None = None, skip_type: EventType | None = None
    ) -> Reason:
        member = str.__new__(cls, word)
        member._value_ = word
        member._event_type = event_type
        member._skip_type = skip_type or event_type
        return member

    @property
    def event_type(self) -> EventType:
        """The type of the Events that say this word. A condition's word has none: a bug to post."""
        if self._event_type is None:
            raise ValueError(f"{self.value} is a condition's or a record's reason, never an Event's")
        return self._event_type

    @property
    def skip_type(self) -> EventType:
        """The type of a remediation skip Event with this word: its `event_type`, except where a
        later pass only repeats it (a suspended workload's skips are Normal; the suspension warned)."""
        if self._skip_type is None:
            raise ValueError(f"{self.value} is never a remediation skip's reason")
        return self._skip_type

    # --- the scan pass: conditions Ready, LeakDetected, Degraded ---------------------------------
    SCANNED = "Scanned"  # Ready=True: a pass scanned some of the selected targets
    NO_TARGETS = "NoTargets"  # Ready=False, LeakDetected=Unknown: no Running and Ready pod matches
    NO_TARGETS_SCANNED = "NoTargetsScanned"  # Ready=False, LeakDetected=Unknown: none could be scanned
    SUSPENDED = "Suspended"  # Ready=False, LeakDetected and Degraded Unknown: spec.suspend, no scans
    INVALID_SPEC = "InvalidSpec", WARNING  # Ready=False and an Event: the spec fails validation
    LEAK_DETECTED = "LeakDetected", WARNING  # LeakDetected=True; Event on policy, workload, pods
    LEAK_SUSPECTED = "LeakSuspected", NORMAL  # LeakDetected=False; Event: growth flagged once
    LEAK_RESOLVED = "LeakResolved", NORMAL  # Event: a confirmed leak stopped growing
    NO_LEAK = "NoLeak"  # LeakDetected=False: nothing grows in the evaluated targets
    INSUFFICIENT_DATA = "InsufficientData"  # LeakDetected=Unknown: too few samples for a verdict
    ALL_TARGETS_SCANNED = "AllTargetsScanned"  # Degraded=False: every selected target answered
    TARGETS_FAILING = "TargetsFailing"  # Degraded=True: targets fail for more than one reason
    PASSES_OVERRUN = "PassesOverrun"  # Degraded=True: passes keep taking longer than the interval
    SCAN_FAILED = "ScanFailed", WARNING  # Event: a pass failed on a Temporary error (first of a run)
    INTERNAL_ERROR = "InternalError", WARNING  # Event: a pass failed on a bug; also the API's 500

    # --- one target failing (Degraded=True with the word, a Warning Event on policy and pod) -----
    PORT_NOT_FOUND = "PortNotFound", WARNING  # no container declares the named pprof port
    PPROF_NOT_EXPOSED = "PprofNotExposed", WARNING  # the port answers 404 at the pprof path
    PPROF_UNAUTHORIZED = "PprofUnauthorized", WARNING  # the pprof endpoint wants credentials
    SCRAPE_FAILED = "ScrapeFailed", WARNING  # a fetch from the pod failed (unreachable, 5xx, 4xx)
    SCRAPE_TIMEOUT = "ScrapeTimeout", WARNING  # a fetch passed its connect, read or total deadline
    PORT_FORWARD_FAILED = "PortForwardFailed", WARNING  # the kubelet could not reach the pod's port
    POD_GONE = "PodGone", WARNING  # the pod went away mid-fetch (skipped quietly, not a failure)
    PROFILE_TOO_LARGE = "ProfileTooLarge", WARNING  # the body or the parse is over a size cap
    PROFILE_BUFFER_FULL = "ProfileBufferFull", WARNING  # the operator holds its budget of profile bytes
    MALFORMED_PROFILE = "MalformedProfile", WARNING  # the bytes are not a profile we can parse

    # --- other failures, each an error class's word (Ready=False when one fails a pass) ----------
    ERROR = "Error", WARNING  # a LeakpatrolError naming no word of its own (the grouping bases)
    CHECKPOINT_CORRUPT = "CheckpointCorrupt", WARNING  # a stored checkpoint does not decode
    CHECKPOINT_TOO_LARGE = "CheckpointTooLarge", WARNING  # a checkpoint is over its ConfigMap cap
    ACTION_LEDGER_CORRUPT = "ActionLedgerCorrupt", WARNING  # the cluster's action ledger does not decode
    INVALID_RULE = "InvalidRule", WARNING  # a rule file or a spec's extra rule is invalid
    INVALID_PATTERN = "InvalidPattern", WARNING  # a rule's regular expression does not compile in RE2
    INVALID_SERIES = "InvalidSeries", WARNING  # a recorded series directory does not read (CLI)

    # --- remediation: Events on policy and workload, status.remediation records ------------------
    ROLLOUT_RESTARTED = "RolloutRestarted", NORMAL  # a RolloutRestart was done
    POD_EVICTED = "PodEvicted", NORMAL  # an EvictPod was done
    REMEDIATION_DRY_RUN = "RemediationDryRun", NORMAL  # dryRun: the action the API server accepted
    EVIDENCE_SAVED = "EvidenceSaved", NORMAL  # the worst pod's profiles are in a ConfigMap
    # A Warning when remediation of a workload stops (its leak came back after an action), and the
    # reason of every later pass's skip of it, as Normal Events.
    REMEDIATION_SUSPENDED = "RemediationSuspended", WARNING, NORMAL
    RESTARTS_MASK_A_BUG = "RestartsMaskABug"  # RemediationSuspended=True: some workload is suspended
    NOT_SUSPENDED = "NotSuspended"  # RemediationSuspended=False
    NOT_CONFIRMED = "NotConfirmed"  # a wait, said in the status message: the leak is only Suspected
    AWAITING_CONFIRMATIONS = "AwaitingConfirmations"  # a wait: confirmed in too few passes yet
    UNSUPPORTED_WORKLOAD = "UnsupportedWorkload", NORMAL  # a skip: the action does not apply to it
    # A skip (a wait while a trend may yet build): the finding was not raised by a trend over the
    # cluster's minimum samples and p-value (a ceiling, an early rise, the goroutineleak profile).
    TREND_NOT_CONFIRMED = "TrendNotConfirmed", NORMAL
    # A skip: the namespace does not match the admin's selector (or could not be read); the policy
    # says what it would have done.
    REMEDIATION_NOT_ENABLED = "RemediationNotEnabled", NORMAL
    CLUSTER_BUDGET_EXHAUSTED = "ClusterBudgetExhausted", NORMAL  # a skip: the cluster's actions per hour
    NAMESPACE_BUDGET_EXHAUSTED = "NamespaceBudgetExhausted", NORMAL  # a skip: the namespace's share of them
    # A skip: the action would take more than one pod of the workload down at once, or its last
    # available one (its update strategy, its replicas, what is available now).
    AVAILABILITY_AT_RISK = "AvailabilityAtRisk", NORMAL
    OWNER_MISMATCH = "OwnerMismatch", WARNING  # the workload by that name is not the pods' owner
    COOLDOWN = "Cooldown", NORMAL  # a skip: acted on this workload within spec cooldown
    OUTSIDE_ALLOWED_WINDOW = "OutsideAllowedWindow", NORMAL  # a skip: outside allowedWindows
    ACTION_BUDGET_EXHAUSTED = "ActionBudgetExhausted", NORMAL  # a skip: maxActions per window reached
    ANOTHER_WORKLOAD_IN_ACTION = "AnotherWorkloadInAction", NORMAL  # a skip: one workload at a time
    ROLLOUT_IN_PROGRESS = "RolloutInProgress", NORMAL  # a skip: the workload is mid-rollout
    WORKLOAD_NOT_AVAILABLE = "WorkloadNotAvailable", NORMAL  # a skip: not every replica available
    DISRUPTION_BUDGET_EXHAUSTED = "DisruptionBudgetExhausted", NORMAL  # a skip: a PDB allows none
    EVICTION_BLOCKED = "EvictionBlocked", NORMAL  # a skip: the Eviction API answered 429 (a PDB)
    DECISION_FAILED = "DecisionFailed", WARNING  # a skip: an API error or doubt while deciding
    EVIDENCE_NOT_SAVED = "EvidenceNotSaved", WARNING  # a skip: the evidence could not be saved
    # A skip: the workload is already restarting on its own (OOMKilled within the finding's
    # window): a restart from us would only hide the leak once more; the fix is in the code.
    OOM_LOOP = "OOMLoop", WARNING
    EVIDENCE_STORE_FULL = "EvidenceStoreFull", WARNING  # why: at the namespace's or operator's cap
    # A skip: an action written ahead (status.remediation.pending) is unresolved: whether it happened
    # is not known yet (its workload could not be read, or a request may be in flight), or it is not
    # recorded yet. Nothing acts until it is.
    PENDING_ACTION_UNRESOLVED = "PendingActionUnresolved", WARNING

    # --- the API server's words (metav1.StatusReason), passed on as an ApiError's reason ---------
    UNAUTHORIZED = "Unauthorized", WARNING  # 401: credentials refused
    FORBIDDEN = "Forbidden", WARNING  # 403: RBAC refuses the request
    NOT_FOUND = "NotFound", WARNING  # 404: no such object (any more)
    ALREADY_EXISTS = "AlreadyExists", WARNING  # 409: a create of an existing object
    CONFLICT = "Conflict", WARNING  # 409: a stale resourceVersion
    GONE = "Gone", WARNING  # 410: the resource is gone
    EXPIRED = "Expired", WARNING  # 410: a watch or list continue token expired
    INVALID = "Invalid", WARNING  # 422: the object fails the server's validation
    BAD_REQUEST = "BadRequest", WARNING  # 400
    METHOD_NOT_ALLOWED = "MethodNotAllowed", WARNING  # 405
    NOT_ACCEPTABLE = "NotAcceptable", WARNING  # 406
    REQUEST_ENTITY_TOO_LARGE = "RequestEntityTooLarge", WARNING  # 413
    UNSUPPORTED_MEDIA_TYPE = "UnsupportedMediaType", WARNING  # 415
    TOO_MANY_REQUESTS = "TooManyRequests", WARNING  # 429: API priority and fairness
    SERVICE_UNAVAILABLE = "ServiceUnavailable", WARNING  # 503
    SERVER_TIMEOUT = "ServerTimeout", WARNING  # 500: the server could not finish in time
    TIMEOUT = "Timeout", WARNING  # 504: the request's own timeout passed
    # ... and our client's, where the server said none
    UNAVAILABLE = "Unavailable", WARNING  # no answer at all: refused, reset, timed out
    INVALID_RESPONSE = "InvalidResponse", WARNING  # a 2xx answer that is not a JSON object
    RESPONSE_TOO_LARGE = "ResponseTooLarge", WARNING  # an answer over the client's size cap
    UPGRADE_FAILED = "UpgradeFailed", WARNING  # a refused websocket upgrade (port-forward)


class Termination(StrEnum):
    """How a container life ended: the kubelet's words (`containerStatuses[].lastState.terminated
    .reason`), read from pods, and two of ours for ends the kubelet does not word."""

    OOM_KILLED = "OOMKilled"  # the kernel's OOM killer, at the container's memory limit (exit 137)
    ERROR = "Error"  # exited with a non-zero status (or a signal other than the OOM kill)
    COMPLETED = "Completed"  # exited with status 0
    DELETED = "Deleted"  # ours: the pod went away (a rollout, an eviction, a scale-down)
    UNKNOWN = "Unknown"  # ours: it ended while nobody looked (several restarts between two passes)
