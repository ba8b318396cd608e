"""Route: the traffic split of one service, as desired and as applied.

Owned by its Service. `spec.traffic` is what the Service (or a Release) wants;
`status.traffic` is what the traffic router reports it actually applied, with a URL
per tag and each target's readiness; `status.lastDrift` when and how the data plane
was last found changed by someone else (and set right).

`traffic_ready` is the rule of the Route's Ready condition: True (`TrafficApplied`)
only when the data plane applies the split asked for — and the header routes, mirrors
and sticky session (read back, `rules_applied`) — *and* every target with weight
is ready there. Otherwise False, with the reason: the router's own problem
(`EndpointsPending`, `ProxyDown`, …), `TrafficNotApplied` (another split is
applied), or `TrafficNotServed` (targets with weight have no ready endpoint).

Pure data and rules; no I/O.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from rollout.api import base, condition, matching, meta, problems, routing, split
from rollout.api.routing import Routing

__all__ = ["DriftCorrection", "Route", "RouteSpec", "RouteStatus", "traffic_ready"]


class RouteSpec(base.ApiModel):
    service: base.Name
    """The Service whose traffic this route splits."""
    traffic: list[split.TrafficTarget] = Field(default_factory=list, max_length=split.MAX_TARGETS)
    """The desired split: which revision gets what percent, under which tag."""
    # Copied from the Service: which Kubernetes router applies this split, and where.
    routing: Routing | None = None
    """Copied from the Service: which Kubernetes router applies the split, and where."""
    header_routes: list[matching.HeaderRoute] = Field(
        default_factory=list, max_length=matching.MAX_MATCHES
    )
    """Requests matching a header route go to its revision, whatever the weights (a release's
    setHeaderRoute steps)."""
    mirrors: list[matching.Mirror] = Field(default_factory=list, max_length=matching.MAX_MATCHES)
    """Copies of requests sent to a revision; the client gets the first answer only (a
    release's setMirror steps)."""
    session_affinity: matching.StickySession | None = None
    """A client served by the revision gets a cookie that keeps it there (the policy's
    sessionAffinity, while a release runs)."""


class DriftCorrection(base.ApiModel):
    """The last time the data plane was found changed by someone else, and set right."""

    corrected_at: datetime
    """When the split was set right."""
    message: str
    """What was found changed."""


class RouteStatus(base.ApiModel, condition.ReadyConditions):
    observed_generation: base.Int | None = None
    """The generation of the spec this status was computed from."""
    traffic: list[split.TrafficStatus] = Field(default_factory=list)
    """The split as applied by the data plane."""
    url: str | None = None
    """Where the service is reached."""
    header_routes: list[matching.HeaderRoute] = Field(default_factory=list)
    """The header routes as applied by the data plane."""
    mirrors: list[matching.Mirror] = Field(default_factory=list)
    """The mirrors as applied by the data plane."""
    session_affinity: matching.StickySession | None = None
    """The sticky session as applied by the data plane."""
    last_drift: DriftCorrection | None = None
    """The last time the data plane was found changed by someone else, and set right."""
    conditions: list[condition.Condition] = Field(default_factory=list)
    """Ready: whether the split is applied, with its reason."""

    def mark_traffic(
        self,
        wanted: list[split.TrafficTarget],
        *,
        problem: tuple[str, str] | None,
        now: datetime,
        generation: int | None,
        rules_applied: bool = True,
    ) -> None:
        """Ready as `traffic_ready` says of `self.traffic` (what the router applied)."""
        ok, reason, message = traffic_ready(
            wanted, self.traffic, problem=problem, rules_applied=rules_applied
        )
        value = condition.ConditionStatus.TRUE if ok else condition.ConditionStatus.FALSE
        self.set_ready(value, reason, message, now=now, generation=generation)


def traffic_ready(
    wanted: list[split.TrafficTarget],
    applied: list[split.TrafficStatus],
    *,
    problem: tuple[str, str] | None = None,
    rules_applied: bool = True,
) -> tuple[bool, str, str]:
    """The Route's Ready condition as (status, reason, message); see the module docstring."""
    if problem is not None:
        return (False, *problem)
    if not split.same_split(applied, wanted):
        message = "the router reports a different split than the route asks for"
        return False, "TrafficNotApplied", message
    if not rules_applied:
        message = (
            "the router reports other header routes, mirrors or sticky session than the"
            " route asks for"
        )
        return False, "TrafficNotApplied", message
    down = split.unserved(applied)
    if down:
        names = ", ".join(f"{t.revision_name} ({t.percent}%)" for t in down)
        if len(down) == len([t for t in applied if t.percent > 0]):
            return False, "TrafficNotServed", f"no revision with traffic is ready: {names}"
        return (
            False,
            "TrafficNotServed",
            f"not ready: {names}; the ready revisions take their share",
        )
    return True, "TrafficApplied", ""


class Route(base.ApiModel):
    """The traffic split of one service: desired in spec, applied in status."""

    api_version: Literal["rollout.dev/v1alpha1"] = "rollout.dev/v1alpha1"
    kind: Literal["Route"] = "Route"
    metadata: meta.ObjectMeta
    spec: RouteSpec
    """The desired traffic split."""
    status: RouteStatus = Field(default_factory=RouteStatus)
    """The applied traffic split, written by the controller."""

    @model_validator(mode="after")
    def _rules(self) -> Route:
        problems.raise_problems(
            "Route",
            [
                *split.split_problems(
                    self.spec.traffic, ("spec", "traffic"), service=self.spec.service
                ),
                *routing.route_limits(self.spec.routing, self.spec.traffic, ("spec", "traffic")),
            ],
        )
        return self
