"""The Istio router (`routing.router: istio`): a Route as a `networking.istio.io`
VirtualService, and the split and request rules a stored VirtualService applies.

    http, in the order of `ruleplan.plan` (Istio takes the first route that matches):
      `tag-<tag>`             header `rollout-tag` exact → that revision
      `header-<name>`         the header route's matches → its revision
      `sticky`                `cookie` regex for NAME=VALUE → the sticky revision
      `mirror-<name>`         the mirror's matches → the weighted revisions, `mirror`
                              + `mirrorPercentage`
      `weighted`              → the revision Services by cluster DNS name (`+mirror-M`:
                              with a mirror of every request)
      or `no-traffic`         (a 100% abort, 503, when no target carries traffic)
    and `<S>+copy-<M>` before a route S whose requests mirror M copies elsewhere.

Decisions:
- Istio takes routes in order, so the list is our precedence as it stands: no boosts,
  and only what a match cannot hold at all is refused (two conditions on one header,
  a mirror to a revision with weight — see `ruleplan`).
- Istio requires lower-case header names (`rollout-tag`; HTTP header names are
  case-insensitive, so clients may send `Rollout-Tag`); matches use its StringMatch
  `exact`, `prefix` and `regex` (whole-value RE2) directly, cookies a regex on the
  `cookie` header (`matchers`).
- Sticky sessions: the sticky revision's destinations add the Set-Cookie with
  `headers.response.add`; the `sticky` route sends the cookie back. (Istio's own
  consistent-hash affinity lives in a DestinationRule and hashes, it does not pin a
  client to a revision across weight changes: not used.)
- Istio requires a destination on every route: with no traffic the catch-all aborts
  every request (503) and names the stable Service as its never-reached destination,
  rather than letting requests fall through to another route on the same host.
- Hosts default to the stable Service's cluster DNS name; gateways are passed as
  given (none: the mesh's sidecars only).
- Read-back: the routes' names give their roles; the weighted route (without our
  names, the first route without a `rollout-tag` match) gives the weights (none when
  it aborts every request), each tag route a tag, the header-route, mirror and sticky
  routes the request rules as their matches, destinations and mirror say; a revision
  is the first label of a destination host. URL: the first concrete host.
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

from rollout.api import names, route, routing, ruleplan, split
from rollout.platforms import ports
from rollout.platforms.kubernetes import matchers, owned, refs, traffic

__all__ = ["REF", "applied", "build", "in_effect", "plan", "rules", "url"]

Obj = owned.Obj

REF = refs.Ref("networking.istio.io", "v1beta1", "virtualservices")


def plan(rt: route.Route) -> ruleplan.Plan:
    """The rules of `rt` in order (Istio takes the first that matches), with what
    cannot be expressed."""
    return ruleplan.plan(
        rt.spec.traffic,
        rt.spec.header_routes,
        rt.spec.mirrors,
        rt.spec.session_affinity,
        by_specificity=False,
    )


def build(
    rt: route.Route,
    *,
    backend_port: int = owned.SERVICE_PORT,
    cluster_domain: str = names.CLUSTER_DOMAIN,
) -> Obj:
    """An Istio VirtualService: the planned routes (tags, header routes, the sticky
    cookie, mirrors), then the weighted route. Raises ValueError when the route's
    rules cannot be expressed (`plan(rt).problems`).

    Hosts default to the stable Service's cluster DNS name; gateways are passed as
    given (none: the mesh's sidecars only)."""
    spec_routing = rt.spec.routing or routing.Routing()
    namespace = owned.namespace_of(rt)
    planned = plan(rt)
    if planned.problems:
        raise ValueError("; ".join(planned.problems))
    sticky = rt.spec.session_affinity

    def host(name: str) -> str:
        return owned.service_host(name, namespace, cluster_domain)

    def destination(name: str, weight: int) -> Obj:
        out: Obj = {"destination": {"host": host(name), "port": {"number": backend_port}}}
        out["weight"] = weight
        if sticky is not None and name == sticky.revision_name:
            out["headers"] = {"response": {"add": {"set-cookie": matchers.set_cookie(sticky)}}}
        return out

    weighted = traffic.weighted(rt)
    http: list[Obj] = []
    for planned_rule in planned.rules:
        entry: Obj = {"name": planned_rule.label}
        if planned_rule.entries != [()]:
            entry["match"] = [_match(e) for e in planned_rule.entries]
        if planned_rule.revision is not None:
            entry["route"] = [destination(planned_rule.revision, 100)]
        elif weighted:
            entry["route"] = [destination(t.revision_name, t.percent) for t in weighted]
        elif planned_rule.role == "weighted":  # every route needs a destination: never reached
            entry = {
                "name": "no-traffic",
                "fault": {"abort": {"httpStatus": 503, "percentage": {"value": 100.0}}},
                "route": [destination(rt.spec.service, 100)],
            }
            http.append(entry)
            continue
        else:  # a mirror's rule without traffic to copy from: nothing is served anyway
            continue
        if planned_rule.mirror is not None:
            mirror = planned_rule.mirror
            entry["mirror"] = {"host": host(mirror.revision_name), "port": {"number": backend_port}}
            entry["mirrorPercentage"] = {"value": float(mirror.percent)}
        http.append(entry)
    spec: Obj = {"hosts": list(spec_routing.hosts) or [host(rt.spec.service)]}
    if spec_routing.gateways:
        spec["gateways"] = list(spec_routing.gateways)
    spec["http"] = http
    return {
        "apiVersion": REF.api_version,
        "kind": "VirtualService",
        "metadata": owned.metadata(rt.spec.service, rt, traffic.labels(rt)),
        "spec": spec,
    }


def _match(entry: ruleplan.Entry) -> Obj:
    headers: Obj = {}
    for c in entry:
        if c.cookie:
            headers["cookie"] = {"regex": matchers.cookie_regex(c.name, c.kind, c.value)}
        else:
            headers[c.name] = {c.kind: c.value}
    return {"headers": headers}


def url(obj: Obj) -> str | None:
    """`http://<first host>` of a stored VirtualService; None without a concrete one."""
    return traffic.url((obj.get("spec") or {}).get("hosts") or [])


def applied(obj: Obj) -> list[split.TrafficStatus]:
    """The split a stored VirtualService applies: the weighted route (by its name;
    without our names, the first route without a `rollout-tag` match) gives the
    weights (none when it aborts every request), each tag route gives a tag.
    Revisions are the first label of destination hosts."""
    weights: list[tuple[str, int]] = []
    tags: list[tuple[str, str]] = []
    found_weighted = False
    for http in (obj.get("spec") or {}).get("http") or []:
        destinations = http.get("route") or []
        single = len(destinations) == 1
        refs_ = [
            (
                _revision(d.get("destination") or {}),
                owned.count(d.get("weight"), 100 if single else 0),
            )
            for d in destinations
        ]
        role, _, _, combo = ruleplan.parse_label(_label(http))
        tag = _tag(http.get("match") or []) if role in ("tag", "") else None
        if tag is not None:
            if refs_ and not combo:
                tags.append((tag, max(refs_, key=lambda r: r[1])[0]))
        elif not found_weighted and role in ("weighted", "no", ""):
            found_weighted = True
            weights = [] if _aborts_all(http) else refs_
    return traffic.assemble(weights, tags, url(obj))


_ROLES = ("tag", "header", "sticky", "mirror", "weighted", "no")


def _label(http: Obj) -> str:
    name = str(http.get("name") or "")
    return name if ruleplan.parse_label(name)[0] in _ROLES else ""


def _revision(destination: Obj) -> str:
    return str(destination.get("host", "")).split(".", 1)[0]


def rules(obj: Obj) -> traffic.Rules:
    """The header routes, mirrors and sticky session a stored VirtualService holds:
    read from its routes' matches, destinations and mirrors; names label the routes."""
    read: list[traffic.ReadRule] = []
    for http in (obj.get("spec") or {}).get("http") or []:
        label = _label(http)
        if not label:
            continue
        destinations = http.get("route") or []
        entries = [_entry(m) for m in http.get("match") or []] or [()]
        mirror = None
        if isinstance(http.get("mirror"), dict):
            share = (http.get("mirrorPercentage") or {}).get("value", 100)
            percent = round(share) if isinstance(share, int | float) else 100
            mirror = (_revision(http["mirror"]), percent)
        cookies = {}
        for d in destinations:
            added = ((d.get("headers") or {}).get("response") or {}).get("add") or {}
            for key, value in added.items():
                if str(key).lower() == "set-cookie":
                    cookies[_revision(d.get("destination") or {})] = str(value)
        read.append(
            traffic.ReadRule(
                label=label,
                entries=[e for e in entries if e is not None],
                revision=_revision(destinations[0].get("destination") or {})
                if len(destinations) == 1
                else None,
                mirror=mirror,
                set_cookies=cookies,
            )
        )
    return traffic.read_rules(read)


def _entry(match: Obj) -> ruleplan.Entry | None:
    conds = []
    for name, said in (match.get("headers") or {}).items():
        if not isinstance(said, dict) or len(said) != 1:
            return None
        ((kind, value),) = said.items()
        if kind not in ("exact", "prefix", "regex"):
            return None
        if str(name).lower() == "cookie" and kind == "regex":
            cookie = matchers.parse_cookie_regex(str(value))
            if cookie is None:
                return None
            conds.append(cookie)
        else:
            conds.append(ruleplan.Cond(False, str(name).lower(), kind, str(value)))
    return tuple(sorted(conds))


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
