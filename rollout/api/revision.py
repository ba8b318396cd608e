"""Revision: an immutable snapshot of a Service's template.

Named `<service>-00001` from a per-service counter, owned by its Service. Its spec
never changes after creation; its status says whether it runs and is ready.

Pure data; no I/O.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field

from rollout.api import base, condition, durations, meta, workload

__all__ = ["Revision", "RevisionSpec", "RevisionStatus"]


class RevisionSpec(base.ApiModel):
    service: base.Name
    service_generation: base.Int | None = None
    template: workload.WorkloadTemplate
    progress_deadline: durations.PositiveDuration = timedelta(minutes=10)


class RevisionStatus(base.ApiModel):
    observed_generation: base.Int | None = None
    ready: base.Bool = False
    replicas: base.NonNegativeInt = 0
    ready_replicas: base.NonNegativeInt = 0
    restarts: base.NonNegativeInt = 0
    url: str | None = None
    conditions: list[condition.Condition] = Field(default_factory=list)


class Revision(base.ApiModel):
    """An immutable snapshot of a Service template, named `<service>-00001`."""

    api_version: Literal["rollout.dev/v1alpha1"] = "rollout.dev/v1alpha1"
    kind: Literal["Revision"] = "Revision"
    metadata: meta.ObjectMeta
    spec: RevisionSpec
    status: RevisionStatus = Field(default_factory=RevisionStatus)
