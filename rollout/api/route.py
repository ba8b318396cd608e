"""Route: the traffic split of one service, as desired and as applied.

Owned by its Service. `spec.traffic` is what the Service (or a Release) wants;
`status.traffic` is what the traffic router reports it actually applied, with a URL
per tag and each target's readiness; `status.lastDrift` when and how the data plane
was last found changed by someone else (and set right).

The request rules — `headerRoutes`, `mirrors`, `sessionAffinity` (`rollout.api.matching`)
— are desired in spec and read back from the data plane into status, like the split;
`Rules` is the three of them as one value, compared as the data plane applies them
(header routes in order, since the first that matches wins; mirrors by name).

`traffic_ready` is the rule of the Route's Ready condition: True (`TrafficApplied`)
only when the data plane applies the split *and the request rules* asked for, and
every target with weight is ready there. Otherwise False, with the reason: the
router's own problem (`EndpointsPending`, `ProxyDown`, …), `TrafficNotApplied`
(another split, or other rules — the message names the first rule that differs —
are applied), or `TrafficNotServed` (targets with weight have no ready endpoint).

Pure data and rules; no I/O.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Literal, Protocol

from pydantic import Field, model_validator

from rollout.api import base, condition, matching, meta, problems, routing, ruleplan, split
from rollout.api.routing import Routing

__all__ = ["DriftCorrection", "Route", "RouteSpec", "RouteStatus", "Rules", "traffic_ready"]


class _HasRules(Protocol):
    @property
    def header_routes(self) -> list[matching.HeaderRoute]: ...
    @property
    def mirrors(self) -> list[matching.Mirror]: ...
    @property
    def session_affinity(self) -> matching.StickySession | None: ...


@dataclasses.dataclass(frozen=True)
class Rules:
    """The request rules a Route asks for or a data plane holds, compared as applied:
    header routes in order (the first that matches wins), mirrors by name."""

    header_routes: tuple[matching.HeaderRoute, ...] = ()
    mirrors: tuple[matching.Mirror, ...] = ()
    session_affinity: matching.StickySession | None = None

    @classmethod
    def of(cls, holder: _HasRules) -> Rules:
        """The rules of a RouteSpec, RouteStatus, ReleaseStatus or `AppliedRoute`."""
        return cls(
            header_routes=tuple(holder.header_routes),
            # A mirror at 0 % copies nothing: a data plane may hold it or not.
            mirrors=tuple(
                sorted((m for m in holder.mirrors if m.percent > 0), key=lambda m: m.name)
            ),
            session_affinity=holder.session_affinity,
        )

    def __bool__(self) -> bool:
        return bool(self.header_routes or self.mirrors or self.session_affinity)

    def difference(self, applied: Rules) -> str | None:
        """The first rule `applied` does not hold as asked here, in words; None when
        they are the same."""
        for what, wanted, got in (
            ("header route", self.header_routes, applied.header_routes),
            ("mirror", self.mirrors, applied.mirrors),
        ):
            have = {r.name: r for r in got}
            for rule in wanted:
                if rule.name not in have:
                    return f"{what} {rule.name} is not applied"
                if _rule_key(have[rule.name]) != _rule_key(rule):
                    return f"{what} {rule.name} is applied differently"
            for rule in got:
                if rule.name not in {r.name for r in wanted}:
                    return f"{what} {rule.name} is still applied"
            if [r.name for r in wanted] != [r.name for r in got]:
                return f"the {what}s are applied in another order"
        wanted_sticky, got_sticky = self.session_affinity, applied.session_affinity
        if wanted_sticky == got_sticky:
            return None
        if wanted_sticky is None:
            return "the sticky session is still applied"
        sticky = f"the sticky session (cookie {wanted_sticky.cookie_name})"
        if got_sticky is None:
            return f"{sticky} is not applied"
        return f"{sticky} is applied differently"


def _rule_key(rule: matching.HeaderRoute | matching.Mirror) -> tuple[object, ...]:
    """A rule as compared: its matches as a data plane may write them back (header names
    in lower case, each list of matches minimal and sorted: `ruleplan.rules_key`)."""
    if isinstance(rule, matching.HeaderRoute):
        return ruleplan.rules_key([rule], [], None)
    return ruleplan.rules_key([], [rule], None)


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
        rules: Rules | None = None,
    ) -> None:
        """Ready as `traffic_ready` says of `self.traffic` and the rules in this status
        (what the router applied) against `wanted` and `rules` (the spec's)."""
        ok, reason, message = traffic_ready(
            wanted,
            self.traffic,
            problem=problem,
            wanted_rules=rules or Rules(),
            applied_rules=Rules.of(self),
        )
        value = condition.ConditionStatus.TRUE if ok else condition.ConditionStatus.FALSE
        self.set_ready(value, reason, message, now=now, generation=generation)


def traffic_ready(
    wanted: list[split.TrafficTarget],
    applied: list[split.TrafficStatus],
    *,
    problem: tuple[str, str] | None = None,
    wanted_rules: Rules | None = None,
    applied_rules: Rules | None = None,
) -> tuple[bool, str, str]:
    """The Route's Ready condition as (status, reason, message); see the module docstring."""
    if problem is not None:
        return (False, *problem)
    if not split.same_split(applied, wanted):
        message = "the router reports a different split than the route asks for"
        return False, "TrafficNotApplied", message
    differs = (wanted_rules or Rules()).difference(applied_rules or Rules())
    if differs is not None:
        return False, "TrafficNotApplied", f"the router reports other request rules: {differs}"
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
