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

from rollout.api import base, condition, meta, policyspec, problems, split

__all__ = [
    "TERMINAL_PHASES",
    "Command",
    "Evidence",
    "HistoryEntry",
    "MetricStatus",
    "NotificationStatus",
    "PauseReason",
    "Phase",
    "PromoteRequest",
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
    requested_by: str | None = None


class PromoteRequest(Command):
    """`rollout promote`: advance from `fromStep` (so repeating it never skips two)."""

    from_step: base.NonNegativeInt
    full: base.Bool = False
    force: base.Bool = False  # also over a confirm-* webhook gate that has not said yes


class ReleaseSpec(base.ApiModel):
    service: base.Name
    stable_revision: str | None = None
    canary_revision: str
    policy_name: base.Name | None = None
    policy: policyspec.RolloutPolicySpec
    paused: base.Bool = False
    abort: base.Bool = False
    promote: PromoteRequest | None = None
    resume: Command | None = None
    retry: Command | None = None


class Weights(base.ApiModel):
    stable: base.Percent
    canary: base.Percent

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
    canary_requests: base.NonNegativeInt = 0
    canary_errors: base.NonNegativeInt = 0
    stable_requests: base.NonNegativeInt = 0
    stable_errors: base.NonNegativeInt = 0
    baseline_requests: base.NonNegativeInt = 0
    baseline_errors: base.NonNegativeInt = 0
    guard: base.Float = 0.0
    trusted_canary_requests: base.NonNegativeInt = 0
    trusted_canary_errors: base.NonNegativeInt = 0
    pending_canary_requests: base.NonNegativeInt = 0
    pending_canary_errors: base.NonNegativeInt = 0


class MetricStatus(base.ApiModel):
    """The latest verdict of one metric, its counters in the current step, its evidence.

    `canaryRequests`: the canary requests behind the step's readings — the sum of the
    increments of a sequential comparison, else the most requests one reading's window
    held (`samples`); 0 for providers that report no counts (prometheus, web).
    """

    metric: str
    verdict: Verdict | None = None
    value: base.Float | None = None
    reason: str = ""
    failure_reason: str = ""
    at: datetime | None = None
    measured_until: datetime | None = None
    measurements: base.NonNegativeInt = 0
    passes: base.NonNegativeInt = 0
    failures: base.NonNegativeInt = 0
    inconclusive: base.NonNegativeInt = 0
    errors: base.NonNegativeInt = 0
    consecutive_errors: base.NonNegativeInt = 0
    canary_requests: base.NonNegativeInt = 0
    quiet: base.NonNegativeInt = 0  # Inconclusive readings on which the canary served nothing
    passed_early: base.Bool = False
    evidence: Evidence | None = None
    # a comparison of slow requests: the latency (seconds) above which a request was
    # slow, chosen at its first reading and kept for the release
    slower_than_seconds: base.Float | None = None
    # empty readings in a row (neither revision served a request since the last one);
    # the first few count in no counter (`assess.EMPTY_GRACE`)
    consecutive_empty: base.NonNegativeInt = 0


class StepEvidence(base.ApiModel):
    """What one gating metric had shown when a step ended: the readings of the step by
    verdict, the latest verdict, and the canary requests behind them (as far as the
    provider reports counts: the local provider does)."""

    metric: str
    verdict: Verdict | None = None
    measurements: base.NonNegativeInt = 0
    passes: base.NonNegativeInt = 0
    failures: base.NonNegativeInt = 0
    inconclusive: base.NonNegativeInt = 0
    errors: base.NonNegativeInt = 0
    quiet: base.NonNegativeInt = 0  # of the inconclusive: the canary served nothing
    canary_requests: base.NonNegativeInt = 0


class HistoryEntry(base.ApiModel):
    """One thing that happened to the release: a phase or weight change, a verdict, a command."""

    at: datetime
    event: str
    message: str = ""
    # The entry's number in the release (1, 2, …; 0 on entries written before numbers):
    # an `event` webhook delivers entries in this order and remembers the last one.
    seq: base.NonNegativeInt = 0
    phase: Phase | None = None
    step_index: base.Int | None = None
    weights: Weights | None = None
    by: str | None = None
    # On a step advance or a promotion: what the step's gating metrics had shown.
    evidence: list[StepEvidence] = Field(default_factory=list)


class WebhookStatus(base.ApiModel):
    """The calls of one of the policy's webhooks in this release: the last one's
    answer, and the counts that gate on it. Never the URL's secrets or the HMAC key."""

    name: str
    type: str
    # What the last call was asked for (`step 2`, `rollout`, `event 7`, …): an answer
    # counts only for what it was asked for (a 2xx for step 2 never opens step 3).
    basis: str = ""
    step_index: base.Int | None = None
    last_call_at: datetime | None = None
    http_status: base.Int | None = None
    error: str = ""
    attempts: base.NonNegativeInt = 0
    passed: base.Bool = False  # the last answer was a 2xx
    calls: base.NonNegativeInt = 0  # answers received in this release
    # Of the answers for the current `basis` (a gate's step, the step a check ran in):
    passes: base.NonNegativeInt = 0
    failures: base.NonNegativeInt = 0
    # `event` hooks: the `seq` of the last history entry delivered (or given up on);
    # `post-rollout`: 1 once the outcome was delivered (or given up on).
    delivered: base.NonNegativeInt = 0


class NotificationStatus(base.ApiModel):
    """What one of the release's notifications has sent: the moments sent (`sent`:
    `Paused/step 3`, `RolledBack`, …) so that none is sent twice — across retries and
    controller restarts — and the last history entry looked at (`delivered`, its seq)."""

    name: str
    delivered: base.NonNegativeInt = 0
    sent: list[str] = Field(default_factory=list)
    last_sent_at: datetime | None = None
    last_error: str = ""
    failures: base.NonNegativeInt = 0


class ReleaseStatus(base.ApiModel):
    observed_generation: base.Int | None = None
    phase: Phase = Phase.PENDING
    step_index: base.NonNegativeInt = 0
    weights: Weights | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    step_started_at: datetime | None = None
    next_decision_at: datetime | None = None
    analysis: list[MetricStatus] = Field(default_factory=list)
    history: list[HistoryEntry] = Field(default_factory=list)
    pause_reason: PauseReason | None = None
    last_command_at: datetime | None = None
    webhooks: list[WebhookStatus] = Field(default_factory=list)
    notifications: list[NotificationStatus] = Field(default_factory=list)
    message: str = ""
    conditions: list[condition.Condition] = Field(default_factory=list)


class Release(base.ApiModel):
    """One run of the release state machine from a stable to a canary revision."""

    api_version: Literal["rollout.dev/v1alpha1"] = "rollout.dev/v1alpha1"
    kind: Literal["Release"] = "Release"
    metadata: meta.ObjectMeta
    spec: ReleaseSpec
    status: ReleaseStatus = Field(default_factory=ReleaseStatus)

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
