"""The TrafficRouter port on Kubernetes: Gateway API or Istio, per service.

`apply(route)` writes, for the route's service:

- the stable `v1 Service` named after the service (what in-cluster clients call,
  `traffic.make_stable_service`),
- the object of the route's router — `ROUTERS[name]`, a module implementing
  `traffic.Router`: an `HTTPRoute` (`gateway-api`, `gateway_api.py`) or a
  `VirtualService` (`istio`, `istio.py`) with one weighted rule over the revision
  Services and a header-matched rule per tag,

then reads the split back from what the API server stored (`Router.applied`), never
from what it asked for. The router is `route.spec.routing.router`, else the cluster
default given to the controller (`--router`). A new router is one module and one
entry in `ROUTERS` (its RBAC use follows from the table).

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

from rollout.api import podspec, route, routing, split
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

__all__ = ["ROUTERS", "KubernetesRouter", "PortOf"]

PortOf = Callable[[str, str], int | None]  # (namespace, revision) → its serving port

ROUTERS: dict[routing.Router, traffic.Router] = {
    "gateway-api": gateway_api,
    "istio": istio,
}

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
    ) -> None:
        self.res = resources
        self.port_of = port_of  # a revision's serving port (from its template)
        self.default = default
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
        stored, drift = self._write(kind, namespace, kind.build(rt), rt.spec.traffic)
        with self._lock:
            previous = self._known.get((namespace, name))
            self._known[(namespace, name)] = chosen
        if previous != chosen:  # first time here, or the router changed: no leftovers
            for other in ROUTERS.values():
                if other is not kind:
                    self.res.delete(other.REF, namespace, name)
        return ports.AppliedRoute(traffic=kind.applied(stored), url=url_of(rt), drift=drift)

    def _write(
        self,
        kind: traffic.Router,
        namespace: str,
        body: dict[str, Any],
        wanted: list[split.TrafficTarget],
    ) -> tuple[dict[str, Any], str]:
        stored = runtime.converge(self.res, kind.REF, namespace, body)
        applied = kind.applied(stored)
        if split.same_split(applied, wanted):
            return stored, ""
        # ours by fingerprint, yet another split: edited by someone else — set it right
        name = body["metadata"]["name"]
        found = ", ".join(f"{t.revision_name}={t.percent}%" for t in applied) or "nothing"
        patch = {"spec": body["spec"]}
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


def url_of(rt: route.Route) -> str:
    """Where the service is reached: its first hostname, else the stable Service."""
    hosts = (rt.spec.routing.hostnames or rt.spec.routing.hosts) if rt.spec.routing else []
    if hosts:
        return f"http://{hosts[0]}"
    return f"http://{owned.service_host(rt.spec.service, rt.metadata.namespace or 'default')}"
