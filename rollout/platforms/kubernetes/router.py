"""The TrafficRouter port on Kubernetes: Gateway API or Istio, per service.

`apply(route)` writes, for the route's service:

- the stable `v1 Service` named after the service (what in-cluster clients call,
  `traffic.make_stable_service`),
- the object of the route's router — `ROUTERS[name]`, a module implementing
  `traffic.Router`: an `HTTPRoute` (`gateway-api`, `gateway_api.py`) or a
  `VirtualService` (`istio`, `istio.py`) with one weighted rule over the revision
  Services, a header-matched rule per tag, and the route's header routes, mirrors and
  sticky session (`rollout.api.ruleplan`),

then reads the split back from what the API server stored (`Router.applied`), never
from what it asked for, and counts it only once it is in effect, not just stored
(`Router.in_effect`: the gateway accepted the route's current generation; Istio
reconciled it where istiod reports status). Until then the route has a problem
(`RoutePending`, `RouteNotAccepted`, `RouteRefsNotResolved`, with the gateway's own
message): Ready is False, the Route reconciler asks again soon, and a release does
not step on. The split reported meanwhile is the last one the Route reported in
effect (`route.status.traffic`: the gateway keeps serving what it last accepted),
or none when a gateway refused the current generation (a refused route is detached).
The router is `route.spec.routing.router`, else the cluster default given to the
controller (`--router`). A new router is one module and one entry in `ROUTERS` (its
RBAC use follows from the table).

Request rules the router cannot express faithfully (`routing.route_limits` with the
route's rules: a mirror to a revision with weight, two conditions on one header, an
order Gateway API's ranking would overturn, the HTTPRoute's limits) are refused whole:
nothing is written, the data plane keeps what it held, and the route reports
`RouteRulesUnsupported` with the reasons (Ready False) — never a partial route. The
rules are read back from the stored object (`Router.rules`) into `AppliedRoute`, and a
stored object whose rules differ from the route's is set right as drift.

Gateway API parents: a Route's `routing.parentRefs`, else the controller's
`--gateway` (`default_gateway`); with neither the HTTPRoute is not written (it would
attach to no gateway) and the route reports `NoParentRefs`.

Drift: when the stored split differs from the route's although the object still
carries the fingerprint of our last write, someone else edited it; the router writes
the route's split back and says so in `AppliedRoute.drift` (the Route reconciler turns
that into a condition and an event). Objects of the other routers left from a change
of `routing.router` are deleted.

I/O: the API server (`rest.Resources`). Called by the reconcilers through the
TrafficRouter port (`platform.make`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from rollout.api import podspec, route, routing, ruleplan, split
from rollout.platforms import ports
from rollout.platforms.kubernetes import (
    gateway_api,
    istio,
    owned,
    refs,
    rest,
    runtime,
    traffic,
)

__all__ = ["NO_PARENTS", "ROUTERS", "KubernetesRouter", "PortOf"]

PortOf = Callable[[str, str], int | None]  # (namespace, revision) → its serving port

ROUTERS: dict[routing.Router, traffic.Router] = {
    "gateway-api": gateway_api,
    "istio": istio,
}

NO_PARENTS = (
    "the route names no Gateway API parent and the controller has no default: an"
    " HTTPRoute without parentRefs attaches to no gateway, so none was written; set"
    " spec.routing.parentRefs on the Service, or start the controller with"
    " --gateway NAMESPACE/NAME"
)

_VERBS = ("get", "create", "patch", "delete")
USES: tuple[tuple[str, str, tuple[str, ...]], ...] = (  # for the RBAC rules (see store.USES)
    (refs.SERVICES.group, refs.SERVICES.plural, _VERBS),
    *((kind.REF.group, kind.REF.plural, _VERBS) for kind in ROUTERS.values()),
)


class KubernetesRouter:
    """TrafficRouter port: stable Service plus the route's router's object."""

    def __init__(
        self,
        resources: rest.Resources,
        port_of: PortOf,
        *,
        default: routing.Router = "gateway-api",
        default_gateway: routing.ParentRef | None = None,
    ) -> None:
        self.res = resources
        self.port_of = port_of  # a revision's serving port (from its template)
        self.default = default
        self.default_gateway = default_gateway  # parent of HTTPRoutes that name none
        self._known: dict[tuple[str, str], routing.Router] = {}
        self._lock = threading.Lock()

    def apply(self, rt: route.Route) -> ports.AppliedRoute:
        namespace = rt.metadata.namespace or "default"
        name = rt.spec.service
        chosen = (rt.spec.routing.router if rt.spec.routing else None) or self.default
        primary = traffic.primary_revision(rt)
        if primary is not None:
            port = self.port_of(namespace, primary) or podspec.DEFAULT_PORT
            stable = traffic.make_stable_service(rt, port=port)
            runtime.converge(self.res, refs.SERVICES, namespace, stable)
        kind = ROUTERS[chosen]
        if kind is gateway_api:
            rt = self._with_parents(rt)
            if not rt.spec.routing or not rt.spec.routing.parent_refs:
                missing = ports.RouteProblem(traffic.NO_PARENT_REFS, NO_PARENTS)
                return ports.AppliedRoute(list(rt.status.traffic), url_of(rt), problem=missing)
        refused = routing.route_limits(
            rt.spec.routing,
            rt.spec.traffic,
            (),
            header_routes=rt.spec.header_routes,
            mirrors=rt.spec.mirrors,
            sticky=rt.spec.session_affinity,
            router=chosen,
        )
        if refused:  # never a partial route: the data plane keeps what it holds
            message = f"the {chosen} router cannot apply this route: " + "; ".join(
                p.message for p in refused
            )
            unsupported = ports.RouteProblem(traffic.RULES_UNSUPPORTED, message)
            return ports.AppliedRoute(list(rt.status.traffic), url_of(rt), problem=unsupported)
        stored, drift = self._write(kind, namespace, kind.build(rt), rt)
        with self._lock:
            previous = self._known.get((namespace, name))
            self._known[(namespace, name)] = chosen
        if previous != chosen:  # first time here, or the router changed: no leftovers
            for other in ROUTERS.values():
                if other is not kind:
                    self.res.delete(other.REF, namespace, name)
        problem = kind.in_effect(stored)
        if problem is None:
            holds = kind.rules(stored)
            return ports.AppliedRoute(
                traffic=kind.applied(stored),
                url=url_of(rt),
                header_routes=holds.header_routes,
                mirrors=holds.mirrors,
                session_affinity=holds.session_affinity,
                drift=drift,
            )
        # stored, not in effect: what the data plane still serves is the last split in
        # effect, nothing once a gateway refused this generation (the route is detached)
        held = [] if problem.reason == traffic.NOT_ACCEPTED else list(rt.status.traffic)
        return ports.AppliedRoute(traffic=held, url=url_of(rt), drift=drift, problem=problem)

    def _with_parents(self, rt: route.Route) -> route.Route:
        """`rt` with the controller's `--gateway` as its parent when it names none."""
        given = rt.spec.routing or routing.Routing()
        if given.parent_refs or self.default_gateway is None:
            return rt
        filled = given.model_copy(update={"parent_refs": [self.default_gateway]})
        return rt.model_copy(update={"spec": rt.spec.model_copy(update={"routing": filled})})

    def _write(
        self,
        kind: traffic.Router,
        namespace: str,
        body: dict[str, Any],
        rt: route.Route,
    ) -> tuple[dict[str, Any], str]:
        stored = runtime.converge(self.res, kind.REF, namespace, body)
        applied = kind.applied(stored)
        if split.same_split(applied, rt.spec.traffic) and _same_rules(kind.rules(stored), rt):
            return stored, ""
        # ours by fingerprint, yet another split: edited by someone else — set it right
        name = body["metadata"]["name"]
        found = ", ".join(f"{t.revision_name}={t.percent}%" for t in applied) or "nothing"
        patch: dict[str, Any] = {"spec": body["spec"]}
        if body["metadata"].get("annotations"):  # the rules' labels, if they were edited too
            patch["metadata"] = {"annotations": body["metadata"]["annotations"]}
        stored = self.res.patch(kind.REF, namespace, name, patch)
        return (
            stored,
            f"{kind.REF.plural}/{name} was changed outside rollout (it routed {found}); restored",
        )

    def remove(self, namespace: str, name: str) -> None:
        for ref in (*(kind.REF for kind in ROUTERS.values()), refs.SERVICES):
            self.res.delete(ref, namespace, name)
        with self._lock:
            self._known.pop((namespace, name), None)


def _same_rules(held: traffic.Rules, rt: route.Route) -> bool:
    """Whether a stored object holds the route's header routes, mirrors and sticky session."""
    spec = rt.spec
    return ruleplan.rules_key(
        held.header_routes, held.mirrors, held.session_affinity
    ) == ruleplan.rules_key(spec.header_routes, spec.mirrors, spec.session_affinity)


def url_of(rt: route.Route) -> str:
    """Where the service is reached: its first hostname, else the stable Service."""
    hosts = (rt.spec.routing.hostnames or rt.spec.routing.hosts) if rt.spec.routing else []
    if hosts:
        return f"http://{hosts[0]}"
    return f"http://{owned.service_host(rt.spec.service, rt.metadata.namespace or 'default')}"
