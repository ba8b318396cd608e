"""Revision: an immutable snapshot of a Service's template.

Named `<service>-00001` from a per-service counter, owned by its Service. Its spec
never changes after creation; its status says whether it runs and is ready.

Scaling (issue 17, Knative's routing states): what changes over a revision's life is
kept out of the spec — the Service reconciler marks the routing state in the labels
and annotations (`names.ROUTING_STATE_LABEL`, …), the Revision reconciler turns it
into `status.desiredReplicas` and two conditions:
- `Ready` is the revision's health: True once it served; kept as it was while the
  revision is scaled to zero by decision (a healthy revision scaled down stays
  Ready, a crash-looping one stays failed), and while a Ready revision scales up or
  down with replicas still ready;
- `Active` (Knative's) says whether replicas run for it: True `Active` (it has or may
  get traffic), True `Reserve` (no traffic, still running until its scale-down
  time), False `ScaledToZero` (0 replicas by decision: not a failure), Unknown
  `Activating` (asked to run again, not ready yet).
`serving()` — Ready and Active — is what a release and an immediate rollout need
before they send traffic; `scaling_of` is the one place that says where a
revision's replica bounds live.

Pure data; no I/O.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from rollout.api import base, condition, durations, meta, workload

__all__ = [
    "ActiveReason",
    "Revision",
    "RevisionSpec",
    "RevisionStatus",
    "RoutingState",
    "scaling_of",
]


class RoutingState(enum.StrEnum):
    """A revision's routing state (the Service reconciler's mark, Knative's names)."""

    ACTIVE = "active"  # it has traffic, a running release names it, or it rolls out
    RESERVE = "reserve"  # none of these: 0 replicas once its scaleDownDelay has passed


class ActiveReason(enum.StrEnum):
    """The reasons of a revision's `Active` condition."""

    ACTIVE = "Active"
    RESERVE = "Reserve"  # True: no traffic, running until its scale-down time
    SCALED_TO_ZERO = "ScaledToZero"  # False: 0 replicas by decision, not a failure
    ACTIVATING = "Activating"  # Unknown: asked to run again, not ready yet


class RevisionSpec(base.ApiModel):
    service: base.Name
    """The Service this revision belongs to."""
    service_generation: base.Int | None = None
    """The Service's generation the revision was made from."""
    template: workload.PodTemplate
    """The pod template, frozen from the Service."""
    scaling: workload.Scaling | None = None
    """The replica bounds, frozen from the Service."""
    progress_deadline: durations.PositiveDuration = timedelta(minutes=10)
    """How long the revision has to become ready before it fails with ProgressDeadlineExceeded."""


class RevisionStatus(base.ApiModel, condition.ReadyConditions):
    observed_generation: base.Int | None = None
    """The generation of the spec this status was computed from."""
    ready: base.Bool = False
    """Whether the revision can serve traffic."""
    # What the Revision reconciler asked the runtime for (0: scaled to zero).
    desired_replicas: base.NonNegativeInt | None = None
    """The replicas the controller asked for (0: scaled to zero)."""
    replicas: base.NonNegativeInt = 0
    """The replicas that exist."""
    ready_replicas: base.NonNegativeInt = 0
    """The replicas that are ready."""
    restarts: base.NonNegativeInt = 0
    """Container restarts seen across the revision's pods."""
    url: str | None = None
    """Where this revision alone is reached."""
    conditions: list[condition.Condition] = Field(default_factory=list)
    """Ready and Active, with their reasons."""

    def mark_ready(self, *, now: datetime, generation: int | None) -> None:
        self.set_ready(condition.ConditionStatus.TRUE, "Ready", "", now=now, generation=generation)

    def mark_starting(
        self, reason: str, message: str, *, now: datetime, generation: int | None
    ) -> None:
        """Not ready yet, and nothing says it will not be (the runtime's reason)."""
        self.set_ready(
            condition.ConditionStatus.UNKNOWN, reason, message, now=now, generation=generation
        )

    def mark_failed(
        self, reason: str, message: str, *, now: datetime, generation: int | None
    ) -> None:
        """A failure it will not recover from (the runtime's reason, e.g. CrashLoop)."""
        self.set_ready(
            condition.ConditionStatus.FALSE, reason, message, now=now, generation=generation
        )

    def not_ready_since(self, now: datetime) -> datetime | None:
        """Since when it has been trying to get ready, for a look that finds it not
        ready: `now` when nothing was said yet (the first look starts it) or its Ready
        is True (this look is the first not to find it ready); the transition time of
        an Unknown Ready (starting since then); None with a False one (a failure counts
        from its activation alone, so that it stays failed while nothing changes)."""
        ready = self.ready_condition()
        if ready is None or ready.status is condition.ConditionStatus.TRUE:
            return now
        if ready.status is condition.ConditionStatus.FALSE:
            return None
        return ready.last_transition_time

    def active_condition(self) -> condition.Condition | None:
        return condition.get_condition(self.conditions, condition.ConditionType.ACTIVE)

    def scaled_to_zero(self) -> bool:
        """0 replicas by decision (Active False): its Ready is its last verdict, not now."""
        active = self.active_condition()
        return active is not None and active.status is condition.ConditionStatus.FALSE

    def serving(self) -> bool:
        """Ready, and replicas run for it (a status written before the Active condition
        existed counts as running): what traffic needs."""
        active = self.active_condition()
        return self.ready and (active is None or active.status is condition.ConditionStatus.TRUE)

    def failure(self) -> str | None:
        """Why it failed (`reason: message`, the message's first line: the last lines
        of its output stay on the revision), when its Ready is False and it runs or was
        asked to: the failure of a revision scaled to zero is not news (it restarts
        afresh when activated)."""
        ready = self.ready_condition()
        if ready is None or ready.status is not condition.ConditionStatus.FALSE:
            return None
        if self.scaled_to_zero():
            return None
        summary = ready.message.split("\n", 1)[0]
        return f"{ready.reason}: {summary}" if summary else ready.reason

    def mark_active(
        self, reason: ActiveReason, message: str, *, now: datetime, generation: int | None
    ) -> None:
        """Replicas run for it: `Active`, or `Reserve` (until its scale-down time)."""
        self._set_active(condition.ConditionStatus.TRUE, reason, message, now, generation)

    def mark_activating(self, message: str, *, now: datetime, generation: int | None) -> None:
        """Asked to run (again), not ready yet."""
        self._set_active(
            condition.ConditionStatus.UNKNOWN, ActiveReason.ACTIVATING, message, now, generation
        )

    def mark_scaled_to_zero(self, message: str, *, now: datetime, generation: int | None) -> None:
        """0 replicas by decision: not a failure (Ready is left as it was)."""
        self._set_active(
            condition.ConditionStatus.FALSE, ActiveReason.SCALED_TO_ZERO, message, now, generation
        )

    def _set_active(
        self,
        status: condition.ConditionStatus,
        reason: str,
        message: str,
        now: datetime,
        generation: int | None,
    ) -> None:
        self.conditions = condition.set_condition(
            self.conditions,
            type_=condition.ConditionType.ACTIVE,
            status=status,
            reason=reason,
            message=message,
            now=now,
            observed_generation=generation,
        )

    def mark_notice(
        self, type_: str, reason: str, message: str, *, now: datetime, generation: int | None
    ) -> bool:
        """A lasting fact the runtime reports (e.g. IgnoredOnLocal), as a True condition
        of its own type; True when it is new or says something new."""
        old = condition.get_condition(self.conditions, type_)
        self.conditions = condition.set_condition(
            self.conditions,
            type_=type_,
            status=condition.ConditionStatus.TRUE,
            reason=reason,
            message=message,
            now=now,
            observed_generation=generation,
        )
        return old is None or (old.reason, old.message) != (reason, message)

    def mark_deadline_exceeded(
        self,
        deadline: timedelta,
        detail: str,
        *,
        cause: str = "",
        now: datetime,
        generation: int | None,
    ) -> None:
        """Not ready for `progressDeadline` since its last progress: `not ready for 10m
        (killed by SIGKILL, restarted 3 times): <the runtime's detail>`."""
        message = f"not ready for {durations.format_duration(deadline)}"
        if cause:
            message += f" ({cause})"
        if detail:
            message += f": {detail}"
        self.set_ready(
            condition.ConditionStatus.FALSE,
            "ProgressDeadlineExceeded",
            message,
            now=now,
            generation=generation,
        )


class Revision(base.ApiModel):
    """An immutable snapshot of a Service template, named `<service>-00001`."""

    api_version: Literal["rollout.dev/v1alpha1"] = "rollout.dev/v1alpha1"
    kind: Literal["Revision"] = "Revision"
    metadata: meta.ObjectMeta
    spec: RevisionSpec
    """What the revision runs: a snapshot of its Service's template."""
    status: RevisionStatus = Field(default_factory=RevisionStatus)
    """Readiness and replicas, written by the controller."""


def scaling_of(rev: Revision) -> workload.Scaling:
    """The revision's replica bounds: its `spec.scaling` (the Service's, frozen), else
    the defaults (one replica). The one place that says where they live."""
    return rev.spec.scaling or workload.Scaling()
