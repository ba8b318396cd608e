"""Revision: an immutable snapshot of a Service's template.

Named `<service>-00001` from a per-service counter, owned by its Service. Its spec
never changes after creation; its status says whether it runs and is ready.

Pure data; no I/O.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from rollout.api import base, condition, durations, meta, workload

__all__ = ["Revision", "RevisionSpec", "RevisionStatus"]


class RevisionSpec(base.ApiModel):
    service: base.Name
    service_generation: base.Int | None = None
    template: workload.PodTemplate
    scaling: workload.Scaling | None = None
    progress_deadline: durations.PositiveDuration = timedelta(minutes=10)


class RevisionStatus(base.ApiModel, condition.ReadyConditions):
    observed_generation: base.Int | None = None
    ready: base.Bool = False
    replicas: base.NonNegativeInt = 0
    ready_replicas: base.NonNegativeInt = 0
    restarts: base.NonNegativeInt = 0
    url: str | None = None
    conditions: list[condition.Condition] = Field(default_factory=list)

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
        self, deadline: timedelta, detail: str, *, now: datetime, generation: int | None
    ) -> None:
        """Not ready within `progressDeadline`."""
        self.set_ready(
            condition.ConditionStatus.FALSE,
            "ProgressDeadlineExceeded",
            f"not ready after {deadline}: {detail}",
            now=now,
            generation=generation,
        )


class Revision(base.ApiModel):
    """An immutable snapshot of a Service template, named `<service>-00001`."""

    api_version: Literal["rollout.dev/v1alpha1"] = "rollout.dev/v1alpha1"
    kind: Literal["Revision"] = "Revision"
    metadata: meta.ObjectMeta
    spec: RevisionSpec
    status: RevisionStatus = Field(default_factory=RevisionStatus)
