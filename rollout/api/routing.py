"""Routing: how a service's traffic is split on Kubernetes.

`router` picks the data plane for one service — `gateway-api` (an HTTPRoute with
weighted backendRefs) or `istio` (a VirtualService with weighted destinations); left
out, the controller's cluster default applies (`rollout controller --router`). The
other fields are handed to that router: `parentRefs` and `hostnames` for Gateway API,
`hosts` and `gateways` for Istio. The local platform ignores this block (its proxy
splits traffic).

Upstream limits are checked here, so that `rollout validate` refuses what the
Gateway API CRDs would (the HTTPRoute schema, v1): at most 32 `parentRefs` and 16
`hostnames`, each hostname a lower-case DNS name, optionally `*.`-prefixed, of at most
253 characters (no port, no upper case); `route_limits` checks a split against an
HTTPRoute's at most 16 rules (one per tag, plus the weighted rule) and 16
backendRefs per rule — for the `gateway-api` router, and for a Service that names no
router (the controller's default router is `gateway-api` unless it is started with
`--router istio`). Given a route's header routes, mirrors and sticky session it
counts their rules too (`ruleplan`: 16 rules, 64 matches per rule, 128 in all, 16
headers per match) and names what the router cannot express faithfully, for either
router (the controller refuses such a route; `rollout validate` checks a Service's
policy through `routefit`). `parse_gateway` reads the controller's `--gateway [NAMESPACE/]NAME`.

Pure data and rules; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from pydantic import Field, model_validator

from rollout.api import base, matching, problems, ruleplan, split

__all__ = [
    "MAX_BACKENDS",
    "MAX_HOSTNAMES",
    "MAX_PARENT_REFS",
    "MAX_RULES",
    "ROUTERS",
    "ParentRef",
    "Router",
    "Routing",
    "parse_gateway",
    "route_limits",
]

# The HTTPRoute's limits (gateway.networking.k8s.io/v1).
MAX_PARENT_REFS = 32
MAX_HOSTNAMES = 16
MAX_RULES = 16
MAX_BACKENDS = 16  # backendRefs per rule
MAX_HOSTNAME = 253
HOSTNAME = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_GROUP = re.compile(r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_KIND = re.compile(r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")

Router = Literal["gateway-api", "istio"]
ROUTERS: tuple[Router, ...] = ("gateway-api", "istio")


class ParentRef(base.ApiModel):
    """A Gateway API parent (usually a Gateway) the HTTPRoute attaches to."""

    name: base.Name
    """The name of the parent (usually a Gateway)."""
    namespace: base.Name | None = None
    """The parent's namespace (default: the route's)."""
    section_name: base.Name | None = None
    """A listener of the parent to attach to (default: all of them)."""
    group: str = "gateway.networking.k8s.io"
    """The API group of the parent."""
    kind: str = "Gateway"
    """The kind of the parent."""

    @model_validator(mode="after")
    def _rules(self) -> ParentRef:
        found = []
        if len(self.group) > MAX_HOSTNAME or not _GROUP.match(self.group):
            found.append(
                problems.Problem(("group",), "must be an API group: a lower-case DNS name, or ''")
            )
        if len(self.kind) > 63 or not _KIND.match(self.kind):
            found.append(
                problems.Problem(
                    ("kind",), "must be a kind name: letters, digits and '-', at most 63"
                )
            )
        problems.raise_problems("ParentRef", found)
        return self


class Routing(base.ApiModel):
    router: Router | None = None
    """The data plane that splits traffic: gateway-api (an HTTPRoute) or istio (a VirtualService).
    Left out, the controller's --router default applies."""
    parent_refs: list[ParentRef] = Field(default_factory=list)
    """Gateway API: the parents (Gateways) the HTTPRoute attaches to."""
    hostnames: list[str] = Field(default_factory=list)
    """Gateway API: the hostnames the HTTPRoute matches."""
    hosts: list[str] = Field(default_factory=list)
    """Istio: the hosts of the VirtualService (default: the service's cluster host name)."""
    gateways: list[str] = Field(default_factory=list)
    """Istio: the gateways the VirtualService applies to (default: the mesh)."""

    @model_validator(mode="after")
    def _rules(self) -> Routing:
        problems.raise_problems("Routing", routing_problems(self))
        return self


def routing_problems(routing: Routing) -> list[problems.Problem]:
    """The Gateway API's limits on parentRefs and hostnames."""
    found = []
    if len(routing.parent_refs) > MAX_PARENT_REFS:
        found.append(
            problems.Problem(
                ("parentRefs",),
                f"at most {MAX_PARENT_REFS} (an HTTPRoute takes no more); got"
                f" {len(routing.parent_refs)}",
            )
        )
    if len(routing.hostnames) > MAX_HOSTNAMES:
        found.append(
            problems.Problem(
                ("hostnames",),
                f"at most {MAX_HOSTNAMES} (an HTTPRoute takes no more); got"
                f" {len(routing.hostnames)}",
            )
        )
    for i, host in enumerate(routing.hostnames):
        if len(host) > MAX_HOSTNAME or not HOSTNAME.match(host):
            found.append(problems.Problem(("hostnames", i), _hostname_problem(host)))
    return found


def _hostname_problem(host: str) -> str:
    why = (
        "a port is not part of a hostname"
        if ":" in host
        else "upper case is not allowed"
        if host != host.lower()
        else f"at most {MAX_HOSTNAME} characters"
        if len(host) > MAX_HOSTNAME
        else "labels of a-z, 0-9 and '-', not starting or ending with '-'"
    )
    return (
        f"{host!r} is not a Gateway API hostname ({why}): a lower-case DNS name,"
        " optionally starting with '*.', e.g. web.example.com or *.example.com"
    )


def route_limits(
    routing: Routing | None,
    traffic: Sequence[split.TrafficTarget],
    loc: problems.Loc,
    *,
    header_routes: Sequence[matching.HeaderRoute] = (),
    mirrors: Sequence[matching.Mirror] = (),
    sticky: matching.StickySession | None = None,
    router: Router | None = None,
) -> list[problems.Problem]:
    """A route as one HTTPRoute — a rule per tag plus the weighted rule, a backendRef per
    target with a percent above 0, and the rules of its header routes, mirrors and
    sticky session (`ruleplan`) — against the HTTPRoute's limits, and the request rules
    the router cannot express faithfully. `router` overrides `routing.router` (the
    controller's default applies when the Service names none; `gateway-api` here)."""
    chosen = router or (routing.router if routing is not None else None) or "gateway-api"
    has_rules = bool(header_routes or mirrors or sticky)
    found = []
    if has_rules:
        planned = ruleplan.plan(
            traffic, header_routes, mirrors, sticky, by_specificity=chosen == "gateway-api"
        )
        said = list(planned.problems)
        if chosen == "gateway-api" and not said:
            said += ruleplan.limits(planned.rules, sum(1 for t in traffic if t.percent > 0))
        return [problems.Problem(loc, f"{chosen}: {why}") for why in said]
    if chosen == "istio":
        return []
    tags = sum(1 for t in traffic if t.tag)
    backends = sum(1 for t in traffic if t.percent > 0)
    if tags + 1 > MAX_RULES:
        found.append(
            problems.Problem(
                loc,
                f"{tags} tags: an HTTPRoute has at most {MAX_RULES} rules, one per tag plus"
                f" the weighted one, so at most {MAX_RULES - 1} tags with the gateway-api"
                " router",
            )
        )
    if backends > MAX_BACKENDS:
        found.append(
            problems.Problem(
                loc,
                f"{backends} targets with traffic: an HTTPRoute rule has at most"
                f" {MAX_BACKENDS} backendRefs (one per target with a percent above 0)",
            )
        )
    return found


def parse_gateway(text: str) -> ParentRef:
    """`NAMESPACE/NAME` or `NAME` (the route's own namespace) as a Gateway parentRef;
    ValueError with the reason when it is not one."""
    namespace, slash, name = text.rpartition("/")
    for part in (namespace, name) if slash else (name,):
        if not base.DNS1123_LABEL.match(part):
            raise ValueError(
                f"{part!r} is not a Kubernetes name (lower-case letters, digits and '-',"
                " at most 63); give NAMESPACE/NAME or NAME"
            )
    return ParentRef(name=name, namespace=namespace or None)
