"""Release: one run of the release state machine, from a stable to a canary revision.

The spec holds what the release is about (service, the two revisions, a snapshot of
the policy taken when it started, so editing the policy never changes a running
release) and the user's intent (`paused`, `abort`, `promote`) written by the CLI.
The status is the engine's memory: everything needed to resume after a crash.

`Phase`, `PauseReason` and `Verdict` are defined here because they are part of the
resource; the transitions between phases live in `rollout.release`.

Pure data and rules; no I/O.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from rollout.api import base, condition, matching, meta, policyspec, problems, split

__all__ = [
    "RECENT_READINGS",
    "TERMINAL_PHASES",
    "Command",
    "Evidence",
    "HistoryEntry",
    "MetricStatus",
    "NotificationStatus",
    "PauseReason",
    "Phase",
    "PromoteRequest",
    "Reading",
    "Release",
    "ReleaseSpec",
    "ReleaseStatus",
    "StepEvidence",
    "Verdict",
    "WebhookStatus",
    "Weights",
]


class Phase(enum.StrEnum):
    PENDING = "Pending"
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    PROMOTING = "Promoting"
    SUCCEEDED = "Succeeded"
    ROLLING_BACK = "RollingBack"
    ROLLED_BACK = "RolledBack"
    ABORTED = "Aborted"
    SUPERSEDED = "Superseded"
    FAILED = "Failed"


TERMINAL_PHASES = frozenset(
    {Phase.SUCCEEDED, Phase.ROLLED_BACK, Phase.ABORTED, Phase.SUPERSEDED, Phase.FAILED}
)


class PauseReason(enum.StrEnum):
    """Why a Paused release waits (`status.pauseReason`), and so what moves it on."""

    USER = "user"  # `rollout pause`: until `rollout resume`
    PROMOTION = "promotion"  # at a `pause: {}` step: until `rollout promote`
    INCONCLUSIVE = "inconclusive"  # more than inconclusiveLimit readings without data
    ERRORS = "errors"  # consecutiveErrorLimit provider errors in a row
    FAILURE = "failure"  # failed analysis under `rollback.onFailure: pause`
    # A confirm-* webhook has not answered 2xx yet: until it does (or `promote --force`).
    # Which gate: `confirm-rollout` while no traffic moved, `confirm-promotion` at the
    # last step, `confirm-traffic-increase` otherwise (`rollout.release.hooks.waiting`).
    CONFIRMATION = "confirmation"


class Verdict(enum.StrEnum):
    PASSED = "Passed"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"  # no data, too few samples, NaN: never a rollback
    ERROR = "Error"  # provider unreachable or bad query: never a promotion


class Command(base.ApiModel):
    """An edge-triggered command (`resume`, `retry`): handled once per `requestedAt`."""

    requested_at: datetime
    """When the command was given; a command is handled once per requestedAt."""
    requested_by: str | None = None
    """Who gave the command."""


class PromoteRequest(Command):
    """`rollout promote`: advance from `fromStep` (so repeating it never skips two)."""

    from_step: base.NonNegativeInt | None = None
    """The step the promotion was asked at, counted from 0 as stepIndex is: it applies
    only while the release is at that step (repeating it never skips two). Absent (a
    hand-written patch, or a promote stored before the field): the step the release is
    at when the controller handles it."""
    full: base.Bool = False
    """Promote to 100% at once, skipping the remaining steps."""
    force: base.Bool = False  # also over a confirm-* webhook gate that has not said yes
    """Also pass a confirm-* webhook gate that has not said yes."""


class ReleaseSpec(base.ApiModel):
    service: base.Name
    """The Service released."""
    stable_revision: str | None = None
    """The revision that serves before the release (absent for the first)."""
    canary_revision: str
    """The revision being released."""
    policy_name: base.Name | None = None
    """The RolloutPolicy the plan was copied from."""
    policy: policyspec.RolloutPolicySpec
    """The plan, copied from the policy when the release was made."""
    paused: base.Bool = False
    """Hold the release where it is (`rollout pause`)."""
    abort: base.Bool = False
    """Stop the release and return all traffic to the stable revision (`rollout abort`)."""
    promote: PromoteRequest | None = None
    """`rollout promote`: advance past the current step (or to 100% with full)."""
    resume: Command | None = None
    """`rollout resume`: continue a paused release."""
    retry: Command | None = None
    """`rollout retry`: look again at a paused step, or run a failed release again."""


class Weights(base.ApiModel):
    stable: base.Percent
    """The stable revision's percent."""
    canary: base.Percent
    """The canary revision's percent."""

    @model_validator(mode="after")
    def _sum(self) -> Weights:
        if self.stable + self.canary != 100:
            problems.raise_problems(
                "Weights", [problems.Problem((), "stable + canary must be 100")]
            )
        return self


class Evidence(base.ApiModel):
    """Running state of a sequential comparison, kept for the whole release.

    `logLikelihood[j]` is the log-likelihood of the error split so far under the j-th
    ratio of the test's grid; the counts are totals over the measured increments.
    `baselineRequests`/`baselineErrors` are the stable's history before the release
    (`compare.history`; 0 requests: none), `guard` the CUSUM that watches the stable
    against that history, and `trustedCanaryRequests`/`trustedCanaryErrors` the
    canary's totals over the increments the guard let into the history comparison.
    """

    log_likelihood: list[base.Float] = Field(default_factory=list)
    """The log-likelihood of the error split so far under each ratio of the test's grid."""
    canary_requests: base.NonNegativeInt = 0
    """The canary's requests over the measured increments."""
    canary_errors: base.NonNegativeInt = 0
    """The canary's errors (or slow requests) over the measured increments."""
    stable_requests: base.NonNegativeInt = 0
    """The stable's requests over the measured increments."""
    stable_errors: base.NonNegativeInt = 0
    """The stable's errors (or slow requests) over the measured increments."""
    baseline_requests: base.NonNegativeInt = 0
    """The stable's requests before the release (compare.history; 0: none)."""
    baseline_errors: base.NonNegativeInt = 0
    """The stable's errors before the release (compare.history)."""
    guard: base.Float = 0.0
    """The CUSUM statistic that watches the stable against its history."""
    trusted_canary_requests: base.NonNegativeInt = 0
    """The canary's requests over the increments the guard let into the history comparison."""
    trusted_canary_errors: base.NonNegativeInt = 0
    """The canary's errors over the increments the guard let into the history comparison."""
    pending_canary_requests: base.NonNegativeInt = 0
    """The canary's requests not yet judged by the guard."""
    pending_canary_errors: base.NonNegativeInt = 0
    """The canary's errors not yet judged by the guard."""


#: The readings of a metric a release keeps (`MetricStatus.recent`): enough to chart
#: the last ten minutes at one reading every 10 s, small enough to write on every
#: reconcile (about 6 kB a metric).
RECENT_READINGS = 60


class Reading(base.ApiModel):
    """One reading of a metric, as kept in `MetricStatus.recent`: when, its verdict and
    its value — a sequential comparison's fail e-value, a threshold metric's measured
    value, a Mann-Whitney test's p-value. What it was judged against (1/alpha, the
    thresholds) is the release's policy snapshot, the same for all its readings, so it
    is not repeated here; the reason of the latest is `MetricStatus.reason`."""

    at: datetime
    """When the reading was taken."""
    verdict: Verdict
    """Its verdict: Passed, Failed, Inconclusive or Error."""
    value: base.Float | None = None
    """Its value: the e-value of a sequential comparison, the measured value of a
    threshold metric, the p-value of a Mann-Whitney test; absent without data."""


class MetricStatus(base.ApiModel):
    """The latest verdict of one metric, its counters in the current step, its evidence.

    `canaryRequests`: the canary requests behind the step's readings — the sum of the
    increments of a sequential comparison, else the most requests one reading's window
    held (`samples`); 0 for providers that report no counts (prometheus, web).
    """

    metric: str
    """The metric's name."""
    verdict: Verdict | None = None
    """The latest verdict: Passed, Failed, Inconclusive or Error."""
    value: base.Float | None = None
    """The latest measured value."""
    reason: str = ""
    """Why the latest verdict was given."""
    failure_reason: str = ""
    """Why the metric last failed."""
    at: datetime | None = None
    """When the latest measurement was taken."""
    measured_until: datetime | None = None
    """The end of the window the latest measurement covered."""
    measurements: base.NonNegativeInt = 0
    """Measurements in the current step."""
    passes: base.NonNegativeInt = 0
    """Passed measurements in the current step."""
    failures: base.NonNegativeInt = 0
    """Failed measurements in the current step."""
    inconclusive: base.NonNegativeInt = 0
    """Inconclusive measurements in the current step."""
    errors: base.NonNegativeInt = 0
    """Provider errors in the current step."""
    consecutive_errors: base.NonNegativeInt = 0
    """Provider errors in a row."""
    canary_requests: base.NonNegativeInt = 0
    """The canary's requests behind the measurements of the current step."""
    quiet: base.NonNegativeInt = 0  # Inconclusive readings on which the canary served nothing
    """Inconclusive readings on which the canary served nothing."""
    passed_early: base.Bool = False
    """The metric passed decisively (advanceEarly)."""
    evidence: Evidence | None = None
    """The running state of a sequential comparison, kept for the whole release."""
    recent: list[Reading] = Field(default_factory=list, max_length=RECENT_READINGS)
    """The metric's last readings in this release, oldest first (at most 60, across
    steps: the oldest are dropped)."""
    # a comparison of slow requests: the latency (seconds) above which a request was
    # slow, chosen at its first reading and kept for the release
    slower_than_seconds: base.Float | None = None
    """A comparison of slow requests: the latency (seconds) above which a request is slow."""
    # empty readings in a row (neither revision served a request since the last one);
    # the first few count in no counter (`assess.EMPTY_GRACE`)
    consecutive_empty: base.NonNegativeInt = 0
    """Readings in a row on which neither revision served a request."""


class StepEvidence(base.ApiModel):
    """What one gating metric had shown when a step ended: the readings of the step by
    verdict, the latest verdict, and the canary requests behind them (as far as the
    provider reports counts: the local provider does)."""

    metric: str
    """The metric's name."""
    verdict: Verdict | None = None
    """Its verdict when the step ended."""
    measurements: base.NonNegativeInt = 0
    """Measurements in the step."""
    passes: base.NonNegativeInt = 0
    """Passed measurements in the step."""
    failures: base.NonNegativeInt = 0
    """Failed measurements in the step."""
    inconclusive: base.NonNegativeInt = 0
    """Inconclusive measurements in the step."""
    errors: base.NonNegativeInt = 0
    """Provider errors in the step."""
    quiet: base.NonNegativeInt = 0  # of the inconclusive: the canary served nothing
    """Of the inconclusive: readings on which the canary served nothing."""
    canary_requests: base.NonNegativeInt = 0
    """The canary's requests in the step."""


class HistoryEntry(base.ApiModel):
    """One thing that happened to the release: a phase or weight change, a verdict, a command."""

    at: datetime
    """When it happened."""
    event: str
    """What happened (a reason such as StepAdvanced)."""
    message: str = ""
    """A human-readable account."""
    # The entry's number in the release (1, 2, …; 0 on entries written before numbers):
    # an `event` webhook delivers entries in this order and remembers the last one.
    seq: base.NonNegativeInt = 0
    """The entry's number in the release (1, 2, ...)."""
    phase: Phase | None = None
    """The phase after the event."""
    step_index: base.Int | None = None
    """The step after the event."""
    weights: Weights | None = None
    """The weights after the event."""
    by: str | None = None
    """Who gave the command, for a command."""
    # On a step advance or a promotion: what the step's gating metrics had shown.
    evidence: list[StepEvidence] = Field(default_factory=list)
    """On a step advance or a promotion: what the step's gating metrics had shown."""


class WebhookStatus(base.ApiModel):
    """The calls of one of the policy's webhooks in this release: the last one's
    answer, and the counts that gate on it. Never the URL's secrets or the HMAC key."""

    name: str
    """The webhook's name."""
    type: str
    """The webhook's type."""
    # What the last call was asked for (`step 2`, `rollout`, `event 7`, …): an answer
    # counts only for what it was asked for (a 2xx for step 2 never opens step 3).
    basis: str = ""
    """What the last call was asked for (step 2, rollout, event 7, ...)."""
    step_index: base.Int | None = None
    """The step of the last call."""
    last_call_at: datetime | None = None
    """When the last call was made."""
    http_status: base.Int | None = None
    """The HTTP status of the last answer."""
    error: str = ""
    """Why the last call failed, when it did."""
    attempts: base.NonNegativeInt = 0
    """Attempts of the last call."""
    passed: base.Bool = False  # the last answer was a 2xx
    """The last answer was a 2xx."""
    calls: base.NonNegativeInt = 0  # answers received in this release
    """Answers received in this release."""
    # Of the answers for the current `basis` (a gate's step, the step a check ran in):
    passes: base.NonNegativeInt = 0
    """2xx answers for the current basis."""
    failures: base.NonNegativeInt = 0
    """Other answers for the current basis."""
    # `event` hooks: the `seq` of the last history entry delivered (or given up on);
    # `post-rollout`: 1 once the outcome was delivered (or given up on).
    delivered: base.NonNegativeInt = 0
    """event hooks: the seq of the last history entry delivered; post-rollout: 1 once delivered."""


class NotificationStatus(base.ApiModel):
    """What one of the release's notifications has sent: the moments sent (`sent`:
    `Paused/step 3`, `RolledBack`, …) so that none is sent twice — across retries and
    controller restarts — and the last history entry looked at (`delivered`, its seq)."""

    name: str
    """The notification's name."""
    delivered: base.NonNegativeInt = 0
    """The seq of the last history entry looked at."""
    sent: list[str] = Field(default_factory=list)
    """The moments sent (so that none is sent twice across restarts)."""
    last_sent_at: datetime | None = None
    """When the last message was sent."""
    last_error: str = ""
    """Why the last send failed, when it did."""
    failures: base.NonNegativeInt = 0
    """Sends that failed."""


class ReleaseStatus(base.ApiModel):
    observed_generation: base.Int | None = None
    """The generation of the spec this status was computed from."""
    phase: Phase = Phase.PENDING
    """Pending, Progressing, Paused, Promoting, Succeeded, RollingBack, RolledBack, Aborted,
    Superseded or Failed."""
    step_index: base.NonNegativeInt = 0
    """The current step of the plan, counted from 0 (the API index, as Argo's
    currentStepIndex): `step` is the same step as people count it."""
    step: str = ""
    """The current step as people count it, from 1, out of the plan's steps: `2/6` (the
    `Step` column of `rollout get releases` and `kubectl get rrel`)."""
    weights: Weights | None = None
    """The stable and canary percents now applied."""
    header_routes: list[matching.HeaderRoute] = Field(default_factory=list)
    """The header routes the release asks the Route to carry: its setHeaderRoute steps in
    force, to the canary (none once it promotes, rolls back or ends)."""
    mirrors: list[matching.Mirror] = Field(default_factory=list)
    """The mirrors the release asks the Route to carry: its setMirror steps in force, to the
    canary (none once it promotes, rolls back or ends)."""
    session_affinity: matching.StickySession | None = None
    """The sticky session the release asks the Route to carry (the policy's
    sessionAffinity, its cookie's value naming this release and attempt) while it runs."""
    started_at: datetime | None = None
    """When the release started."""
    finished_at: datetime | None = None
    """When the release ended."""
    step_started_at: datetime | None = None
    """When the current step started."""
    next_decision_at: datetime | None = None
    """When the controller next looks at the release."""
    analysis: list[MetricStatus] = Field(default_factory=list)
    """The latest verdict and counters of each metric."""
    history: list[HistoryEntry] = Field(default_factory=list)
    """What happened to the release, in order."""
    pause_reason: PauseReason | None = None
    """Why a Paused release waits: user, promotion, inconclusive, errors, failure or
    confirmation."""
    last_command_at: datetime | None = None
    """The requestedAt of the last command handled."""
    webhooks: list[WebhookStatus] = Field(default_factory=list)
    """The calls of each of the policy's webhooks."""
    notifications: list[NotificationStatus] = Field(default_factory=list)
    """What each notification has sent."""
    message: str = ""
    """A human-readable summary of the phase."""
    conditions: list[condition.Condition] = Field(default_factory=list)
    """Observations of the release as Kubernetes conditions (type, status, reason)."""


class Release(base.ApiModel):
    """One run of the release state machine from a stable to a canary revision."""

    api_version: Literal["rollout.dev/v1alpha1"] = "rollout.dev/v1alpha1"
    kind: Literal["Release"] = "Release"
    metadata: meta.ObjectMeta
    spec: ReleaseSpec
    """What is released, under which plan, and the commands given to it."""
    status: ReleaseStatus = Field(default_factory=ReleaseStatus)
    """Where the release is, written by the controller."""

    @model_validator(mode="after")
    def _rules(self) -> Release:
        spec = self.spec
        found = []
        for field, value in (
            ("stableRevision", spec.stable_revision),
            ("canaryRevision", spec.canary_revision),
        ):
            if value is not None and not split.belongs_to(value, spec.service):
                found.append(
                    problems.Problem(
                        ("spec", field), f"{value!r} is not a revision of service {spec.service!r}"
                    )
                )
        if spec.stable_revision is not None and spec.stable_revision == spec.canary_revision:
            found.append(
                problems.Problem(("spec", "canaryRevision"), "must differ from stableRevision")
            )
        problems.raise_problems("Release", found)
        return self
