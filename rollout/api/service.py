"""Service: what users declare — a workload template, a policy, optionally a split.

The workload is `spec.template` (a pod template), or `spec.workloadRef`: an existing
Deployment whose pod template the revisions are made from (`workloadref`; Kubernetes
only) — exactly one of the two.

A template change makes a new immutable Revision (`<service>-00001`, …). With
`policy`, a Release moves traffic to it step by step; without, traffic moves at once
when it is ready (Knative's immediate rollout); with `traffic`, the split is applied
as written (the manual path). `policy` and `traffic` exclude each other.

Its name is a DNS-1123 label that starts with a letter and has room for `-00001`: each
revision becomes a Kubernetes Service named after it, and those names are DNS-1035
labels (`1web` is refused here, not by the cluster).

Pure data and rules; no I/O.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field, model_validator

from rollout.api import (
    base,
    condition,
    durations,
    meta,
    problems,
    revision,
    route,
    routing,
    split,
    workload,
    workloadref,
)
from rollout.api.routing import Routing

__all__ = ["MAX_SERVICE_NAME", "Service", "ServiceSpec", "ServiceStatus"]

# Revision names append "-00001" and must stay valid 63-character DNS labels.
MAX_SERVICE_NAME = 57


class ServiceSpec(base.ApiModel):
    template: workload.PodTemplate | None = None
    """The pod template each revision runs (a Kubernetes PodTemplateSpec); a change to it makes a
    new Revision. Give this or workloadRef, not both."""
    # Or: the Deployment whose pod template revisions are made from (Kubernetes only).
    workload_ref: workloadref.WorkloadRef | None = None
    """An existing Deployment in this namespace whose pod template the revisions are made from
    (Kubernetes only). Give this or template, not both."""
    scaling: workload.Scaling | None = None
    """Replica bounds of each revision, and a CPU target for a HorizontalPodAutoscaler when
    maxReplicas is above minReplicas."""
    policy: base.Name | None = None
    """The name of a RolloutPolicy in this namespace: a new revision gets traffic step by step
    through a Release. Left out, traffic moves at once when the revision is ready. Excludes
    traffic."""
    traffic: list[split.TrafficTarget] | None = Field(default=None, max_length=split.MAX_TARGETS)
    """A manual traffic split, applied as written: percents sum to 100 and tags are unique.
    Excludes policy."""
    port: base.Port | None = None
    """Local platform: the port the proxy serves the service on (default: the one it had, else a
    free port). Ignored on Kubernetes."""
    # Kubernetes only: which router splits traffic and where the route attaches.
    routing: Routing | None = None
    """Kubernetes only: which router splits the traffic and where its route attaches."""
    revision_history_limit: base.Count = 10
    """How many revisions without traffic are kept; older ones are deleted."""
    # A new revision not ready within this long is not given traffic (ProgressDeadlineExceeded).
    progress_deadline: durations.PositiveDuration = timedelta(minutes=10)
    """A new revision not ready within this long is given no traffic (ProgressDeadlineExceeded). A
    duration such as 10m."""
    # A revision without traffic goes to 0 replicas after this long once no release
    # needs it (default 30s); wins over the policy's `scaleDownDelay`.
    scale_down_delay: durations.Duration | None = None
    """A revision without traffic goes to 0 replicas this long after no release needs it (default
    30s); wins over the policy's scaleDownDelay."""


class Reason(enum.StrEnum):
    """Why a Service is not ready (the reasons its reconciler decides; a revision's or a
    route's own reason is passed through)."""

    READY = "Ready"
    REVISION_PENDING = "RevisionPending"
    ROUTE_PENDING = "RoutePending"
    POLICY_NOT_FOUND = "PolicyNotFound"
    REVISION_MISSING = "RevisionMissing"
    # spec.workloadRef: the platform cannot adopt (local), the Deployment is missing,
    # or its pod template is not one a revision can run.
    WORKLOAD_REF_UNSUPPORTED = "WorkloadRefUnsupported"
    WORKLOAD_NOT_FOUND = "WorkloadNotFound"
    WORKLOAD_INVALID = "WorkloadInvalid"


class ServiceStatus(base.ApiModel, condition.ReadyConditions):
    observed_generation: base.Int | None = None
    """The generation of the spec this status was computed from."""
    latest_created_revision: str | None = None
    """The newest revision made from the template."""
    latest_ready_revision: str | None = None
    """The newest revision that became ready."""
    stable_revision: str | None = None
    """The revision that serves the stable share of traffic."""
    traffic: list[split.TrafficStatus] = Field(default_factory=list)
    """The traffic split as applied by the route."""
    current_release: str | None = None
    """The Release moving traffic to the latest revision, while one runs."""
    url: str | None = None
    """Where the service is reached."""
    conditions: list[condition.Condition] = Field(default_factory=list)
    """Ready, RevisionsReady and RoutesReady, with their reasons."""

    def mark_readiness(
        self,
        *,
        revisions: tuple[bool, str, str],
        routes: tuple[bool, str, str],
        now: datetime,
        generation: int | None,
    ) -> None:
        """RevisionsReady and RoutesReady as (ok, reason, message), and Ready: both, or
        the first one's problem (Knative's Service conditions)."""
        for type_, (ok, reason, message) in (
            (condition.ConditionType.REVISIONS_READY, revisions),
            (condition.ConditionType.ROUTES_READY, routes),
        ):
            self.conditions = condition.set_condition(
                self.conditions,
                type_=type_,
                status=condition.ConditionStatus.TRUE if ok else condition.ConditionStatus.FALSE,
                reason=reason,
                message=message,
                now=now,
                observed_generation=generation,
            )
        failing = next((c for c in (revisions, routes) if not c[0]), None)
        if failing is None:
            self.set_ready(
                condition.ConditionStatus.TRUE, Reason.READY, "", now=now, generation=generation
            )
        else:
            _, reason, message = failing
            self.set_ready(
                condition.ConditionStatus.FALSE, reason, message, now=now, generation=generation
            )

    def mark_workload_problem(
        self, reason: Reason, message: str, *, now: datetime, generation: int | None
    ) -> None:
        """RevisionsReady and Ready False: the workload named by `spec.workloadRef`
        cannot be used (the route's condition is left as it is)."""
        self.conditions = condition.set_condition(
            self.conditions,
            type_=condition.ConditionType.REVISIONS_READY,
            status=condition.ConditionStatus.FALSE,
            reason=reason,
            message=message,
            now=now,
            observed_generation=generation,
        )
        self.set_ready(
            condition.ConditionStatus.FALSE, reason, message, now=now, generation=generation
        )

    def propagate(
        self,
        latest: revision.Revision,
        rt: route.Route,
        *,
        problem: tuple[Reason, str] | None,
        now: datetime,
        generation: int | None,
    ) -> None:
        """The conditions from the latest revision (or a `problem` of the Service's own)
        and from the Route's Ready condition (Knative's Propagate*Status)."""
        self.mark_readiness(
            revisions=_revisions_ready(latest, problem),
            routes=_routes_ready(rt),
            now=now,
            generation=generation,
        )


def _revisions_ready(
    latest: revision.Revision, problem: tuple[Reason, str] | None
) -> tuple[bool, str, str]:
    if problem is not None:
        return (False, *problem)
    ready = latest.status.ready_condition()
    if latest.status.ready:
        return (True, Reason.READY, "")
    # Retired and scaled to zero before it ever became ready (a release aborted while it
    # started): nothing is broken, the Service serves from its stable revision. A
    # failure (Ready False) is kept: the latest template is broken.
    failed = ready is not None and ready.status is condition.ConditionStatus.FALSE
    if latest.status.scaled_to_zero() and not failed:
        return (True, Reason.READY, "")
    if ready is None:
        return (False, Reason.REVISION_PENDING, f"{latest.metadata.name} is starting")
    return (False, ready.reason, f"{latest.metadata.name}: {ready.message}")


def _routes_ready(rt: route.Route) -> tuple[bool, str, str]:
    applied = rt.status.ready_condition()
    if applied is None:
        return (False, Reason.ROUTE_PENDING, "the traffic split is not applied yet")
    return (applied.status is condition.ConditionStatus.TRUE, applied.reason, applied.message)


class Service(base.ApiModel):
    """A service users declare: a workload template, and how new revisions get traffic."""

    api_version: Literal["rollout.dev/v1alpha1"] = "rollout.dev/v1alpha1"
    kind: Literal["Service"] = "Service"
    metadata: meta.ObjectMeta
    spec: ServiceSpec
    """What the service runs and how new revisions get traffic."""
    status: ServiceStatus = Field(default_factory=ServiceStatus)
    """What the controller observed and did, written by the controller."""

    @model_validator(mode="after")
    def _rules(self) -> Service:
        problems.raise_problems("Service", service_problems(self))
        return self


def service_problems(service: Service) -> list[problems.Problem]:
    """Rules across fields, each apart (`problems.gather`): a type error in one field
    leaves the rules of the others to report."""
    return problems.gather(
        service, _name_problems, lambda s: _workload_problems(s.spec), _traffic_problems
    )


def _name_problems(service: Service) -> list[problems.Problem]:
    found = []
    name = service.metadata.name
    if name[:1].isdigit():
        found.append(
            problems.Problem(
                ("metadata", "name"),
                f"{name!r} must start with a letter: its revisions run behind Kubernetes"
                " Services, whose names are DNS-1035 labels",
            )
        )
    if len(name) > MAX_SERVICE_NAME:
        found.append(
            problems.Problem(
                ("metadata", "name"),
                f"must be at most {MAX_SERVICE_NAME} characters (revision names add -00001)",
            )
        )
    return found


def _traffic_problems(service: Service) -> list[problems.Problem]:
    """A manual split excludes a policy, has targets, and is a valid split of this
    service's revisions."""
    spec = service.spec
    if spec.traffic is None:
        return []
    found = []
    if spec.policy is not None:
        found.append(
            problems.Problem(
                ("spec", "traffic"),
                "a manual split cannot be combined with spec.policy: a policy moves"
                " traffic itself; remove one of them",
            )
        )
    if not spec.traffic:
        found.append(
            problems.Problem(("spec", "traffic"), "give at least one target, or leave it out")
        )
    found.extend(
        problems.gather(
            spec,
            lambda s: split.split_problems(
                s.traffic or [], ("spec", "traffic"), service=service.metadata.name
            ),
            lambda s: routing.route_limits(s.routing, s.traffic or [], ("spec", "traffic")),
        )
    )
    return found


def _workload_problems(spec: ServiceSpec) -> list[problems.Problem]:
    """Exactly one of `template` and `workloadRef`."""
    if spec.template is None and spec.workload_ref is None:
        return [
            problems.Problem(
                ("spec", "template"),
                "give the pod template to run, or spec.workloadRef to adopt an existing"
                " Deployment's",
            )
        ]
    if spec.template is not None and spec.workload_ref is not None:
        return [
            problems.Problem(
                ("spec", "workloadRef"),
                "cannot be combined with spec.template: the revisions are made from the"
                f" pod template of Deployment {spec.workload_ref.name}; remove one of them",
            )
        ]
    return []
