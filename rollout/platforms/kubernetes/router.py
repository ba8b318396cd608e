"""The TrafficRouter port on Kubernetes: Gateway API or Istio, per service.

`apply(route)` writes, for the route's service:

- the stable `v1 Service` named after the service (what in-cluster clients call),
- an `HTTPRoute` (router `gateway-api`) or a `VirtualService` (router `istio`) with
  one weighted rule over the revision Services and a header-matched rule per tag,

then reads the split back from what the API server stored (`builders.applied_from_*`),
never from what it asked for. The router is `route.spec.routing.router`, else the
cluster default given to the controller (`--router`).

Drift: when the stored split differs from the route's although the object still
carries the fingerprint of our last write, someone else edited it; the router writes
the route's split back and says so in `AppliedRoute.drift` (the Route reconciler turns
that into a condition and an event). An object of the other router left from a
change of `routing.router` is deleted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from rollout.api import route, routing, split
from rollout.platforms import ports
from rollout.platforms.kubernetes import builders, rest, runtime

__all__ = ["KubernetesRouter", "PortOf"]

PortOf = Callable[[str, str], int | None]  # (namespace, revision) → its serving port

USES: tuple[tuple[str, str, tuple[str, ...]], ...] = (  # for the RBAC rules (see store.USES)
    ("", "services", ("get", "create", "patch", "delete")),
    ("gateway.networking.k8s.io", "httproutes", ("get", "create", "patch", "delete")),
    ("networking.istio.io", "virtualservices", ("get", "create", "patch", "delete")),
)


class KubernetesRouter:
    """TrafficRouter port: stable Service plus HTTPRoute or VirtualService."""

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
        primary = builders.primary_revision(rt)
        if primary is not None:
            port = self.port_of(namespace, primary) or builders.DEFAULT_PORT
            stable = builders.make_stable_service(rt, port=port)
            runtime.converge(self.res, rest.SERVICES, namespace, stable)
        ref, other = (
            (rest.HTTPROUTES, rest.VIRTUALSERVICES)
            if chosen == "gateway-api"
            else (rest.VIRTUALSERVICES, rest.HTTPROUTES)
        )
        body = (
            builders.make_httproute(rt)
            if chosen == "gateway-api"
            else builders.make_virtualservice(rt)
        )
        stored, drift = self._write(ref, namespace, body, rt.spec.traffic, chosen)
        with self._lock:
            previous = self._known.get((namespace, name))
            self._known[(namespace, name)] = chosen
        if previous != chosen:  # first time here, or the router changed: no leftovers
            self.res.delete(other, namespace, name)
        return ports.AppliedRoute(traffic=read_back(stored, chosen), url=url_of(rt), drift=drift)

    def _write(
        self,
        ref: rest.Ref,
        namespace: str,
        body: dict[str, Any],
        wanted: list[split.TrafficTarget],
        chosen: routing.Router,
    ) -> tuple[dict[str, Any], str]:
        stored = runtime.converge(self.res, ref, namespace, body)
        applied = read_back(stored, chosen)
        if split.same_split(applied, wanted):
            return stored, ""
        # ours by fingerprint, yet another split: edited by someone else — set it right
        name = body["metadata"]["name"]
        found = ", ".join(f"{t.revision_name}={t.percent}%" for t in applied) or "nothing"
        patch = {"spec": body["spec"]}
        stored = self.res.patch(ref, namespace, name, patch)
        return (
            stored,
            f"{ref.plural}/{name} was changed outside rollout (it routed {found}); restored",
        )

    def remove(self, namespace: str, name: str) -> None:
        for ref in (rest.HTTPROUTES, rest.VIRTUALSERVICES, rest.SERVICES):
            self.res.delete(ref, namespace, name)
        with self._lock:
            self._known.pop((namespace, name), None)


def url_of(rt: route.Route) -> str:
    """Where the service is reached: its first hostname, else the stable Service."""
    names = (rt.spec.routing.hostnames or rt.spec.routing.hosts) if rt.spec.routing else []
    if names:
        return f"http://{names[0]}"
    return f"http://{builders.service_host(rt.spec.service, rt.metadata.namespace or 'default')}"


def read_back(obj: dict[str, Any], chosen: routing.Router) -> list[split.TrafficStatus]:
    if chosen == "gateway-api":
        return builders.applied_from_httproute(obj)
    return builders.applied_from_virtualservice(obj)
