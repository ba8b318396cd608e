"""The Istio router (`routing.router: istio`): a Route as a `networking.istio.io`
VirtualService, and the split a stored VirtualService applies.

    http: one route per tag  (`tag-<tag>`: header `rollout-tag` exact → that revision)
          then `weighted`    (→ the revision Services by cluster DNS name)
          or `no-traffic`    (a 100% abort, 503, when no target carries traffic)

Decisions:
- Istio takes routes in order and requires lower-case header names (`rollout-tag`;
  HTTP header names are case-insensitive, so clients may send `Rollout-Tag`).
- Istio requires a destination on every route: with no traffic the catch-all aborts
  every request (503) and names the stable Service as its never-reached destination,
  rather than letting requests fall through to another route on the same host.
- Hosts default to the stable Service's cluster DNS name; gateways are passed as
  given (none: the mesh's sidecars only).
- Read-back: the first route without a `rollout-tag` match gives the weights (none
  when it aborts every request), each route matching it gives a tag; a revision is
  the first label of a destination host. URL: the first concrete host.
- In effect (`in_effect`): Istio reports on a VirtualService only when istiod writes
  status (`PILOT_ENABLE_STATUS`, off by default): `status.observedGeneration`, a
  `Reconciled` condition (False while the config still propagates to the proxies,
  True once every proxy has it) and the analyzers' `validationMessages` (informational:
  they do not stop the config from being applied). When that status is there, the
  split counts only once `Reconciled` is True for the current generation (until then
  `RoutePending`, with the first Error of `validationMessages` in the message). With
  no status at all, a VirtualService stored is counted as applied: nothing on the
  cluster says more.

Implements `traffic.Router`. Pure; no I/O, no client import. Called by `router.py`;
table-tested in tests/unit/kubernetes/test_builders.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from rollout.api import names, route, routing, split
from rollout.platforms import ports
from rollout.platforms.kubernetes import owned, refs, traffic

__all__ = ["REF", "applied", "build", "in_effect", "url"]

Obj = owned.Obj

REF = refs.Ref("networking.istio.io", "v1beta1", "virtualservices")


def build(
    rt: route.Route,
    *,
    backend_port: int = owned.SERVICE_PORT,
    cluster_domain: str = names.CLUSTER_DOMAIN,
) -> Obj:
    """An Istio VirtualService: a route per tag, then the weighted route.

    Hosts default to the stable Service's cluster DNS name; gateways are passed as
    given (none: the mesh's sidecars only)."""
    spec_routing = rt.spec.routing or routing.Routing()
    namespace = owned.namespace_of(rt)

    def destination(name: str, weight: int) -> Obj:
        host = owned.service_host(name, namespace, cluster_domain)
        return {"destination": {"host": host, "port": {"number": backend_port}}, "weight": weight}

    http: list[Obj] = [
        {
            "name": f"tag-{tag}",
            "match": [{"headers": {names.TAG_HEADER.lower(): {"exact": tag}}}],
            "route": [destination(name, 100)],
        }
        for tag, name in traffic.tagged(rt)
    ]
    weighted = traffic.weighted(rt)
    if weighted:
        http.append(
            {
                "name": "weighted",
                "route": [destination(t.revision_name, t.percent) for t in weighted],
            }
        )
    else:  # every route needs a destination: this one is never reached
        http.append(
            {
                "name": "no-traffic",
                "fault": {"abort": {"httpStatus": 503, "percentage": {"value": 100.0}}},
                "route": [destination(rt.spec.service, 100)],
            }
        )
    spec: Obj = {
        "hosts": list(spec_routing.hosts)
        or [owned.service_host(rt.spec.service, namespace, cluster_domain)]
    }
    if spec_routing.gateways:
        spec["gateways"] = list(spec_routing.gateways)
    spec["http"] = http
    return {
        "apiVersion": REF.api_version,
        "kind": "VirtualService",
        "metadata": owned.metadata(rt.spec.service, rt, traffic.labels(rt)),
        "spec": spec,
    }


def url(obj: Obj) -> str | None:
    """`http://<first host>` of a stored VirtualService; None without a concrete one."""
    return traffic.url((obj.get("spec") or {}).get("hosts") or [])


def applied(obj: Obj) -> list[split.TrafficStatus]:
    """The split a stored VirtualService applies: the first route without a
    `rollout-tag` match gives the weights (none when it aborts every request), each
    route matching it gives a tag. Revisions are the first label of destination hosts."""
    weights: list[tuple[str, int]] = []
    tags: list[tuple[str, str]] = []
    found_weighted = False
    for http in (obj.get("spec") or {}).get("http") or []:
        destinations = http.get("route") or []
        single = len(destinations) == 1
        refs_ = [
            (
                str((d.get("destination") or {}).get("host", "")).split(".", 1)[0],
                owned.count(d.get("weight"), 100 if single else 0),
            )
            for d in destinations
        ]
        tag = _tag(http.get("match") or [])
        if tag is not None:
            if refs_:
                tags.append((tag, max(refs_, key=lambda r: r[1])[0]))
        elif not found_weighted:
            found_weighted = True
            weights = [] if _aborts_all(http) else refs_
    return traffic.assemble(weights, tags, url(obj))


def _tag(matches: Sequence[Obj]) -> str | None:
    for match in matches:
        for name, value in (match.get("headers") or {}).items():
            if str(name).lower() == names.TAG_HEADER.lower() and isinstance(value, dict):
                return str(value["exact"]) if "exact" in value else None
    return None


def _aborts_all(http: Obj) -> bool:
    abort = (http.get("fault") or {}).get("abort")
    if not isinstance(abort, dict):
        return False
    share = (abort.get("percentage") or {}).get("value", 100)
    return isinstance(share, int | float) and share >= 100


def in_effect(obj: Obj) -> ports.RouteProblem | None:
    """None when istiod reports the current generation Reconciled, or reports nothing
    (its status writing is off); else `RoutePending` with what it says."""
    status = obj.get("status") or {}
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    reconciled = next((c for c in conditions if c.get("type") == "Reconciled"), None)
    if reconciled is None:
        return None
    generation = (obj.get("metadata") or {}).get("generation")
    seen = status.get("observedGeneration")
    errors = [
        str(m.get("message") or (m.get("type") or {}).get("code") or m.get("code") or "")
        for m in status.get("validationMessages") or []
        if isinstance(m, dict) and str(m.get("level", "")).lower() == "error"
    ]
    note = f"; istio's analysis: {errors[0]}" if errors else ""
    if seen is not None and str(seen) != str(generation):
        return ports.RouteProblem(
            traffic.ROUTE_PENDING,
            f"istiod has not yet reconciled generation {generation} of the VirtualService"
            f" (it reports generation {seen}){note}",
        )
    if reconciled.get("status") != "True":
        said = ": ".join(str(x) for x in (reconciled.get("reason"), reconciled.get("message")) if x)
        return ports.RouteProblem(
            traffic.ROUTE_PENDING,
            f"istiod reports the VirtualService not yet Reconciled ({said or 'no reason'}){note}",
        )
    return None
