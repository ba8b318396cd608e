"""The Gateway API router (`routing.router: gateway-api`): a Route as a
`gateway.networking.k8s.io/v1` HTTPRoute, and the split a stored HTTPRoute applies.

    rules: one per tag  (PathPrefix /, header `Rollout-Tag: <tag>` Exact → that revision)
           then the catch-all (PathPrefix / → the weighted revision Services)

Decisions:
- Gateway API ranks header matches above plain ones anyway; tag rules still come
  first, each with its revision as the only backend (weight 1: all of its requests).
- With no target carrying traffic the catch-all stays with no backend: the gateway
  answers 500 instead of letting requests fall through to another route.
- Fields the API server would default are written out (matches, backend kinds,
  weights) so that the read-back compares like with like.
- Read-back: the first rule without a tag match gives the weights, each rule matching
  `Rollout-Tag` gives a tag; other rules are ignored. URL: the first concrete hostname.
- In effect (`in_effect`), not just stored: the split counts only when, for every
  `parentRef`, the gateway controllers' entries in `status.parents` say `Accepted=True`
  and `ResolvedRefs=True`, each with `observedGeneration` equal to the route's
  `metadata.generation`. A parent with no entry yet, or one about an older generation,
  is pending (`RoutePending`); `Accepted=False` is `RouteNotAccepted` and
  `ResolvedRefs=False` `RouteRefsNotResolved`, each with the gateway's own reason and
  message. A route without parentRefs attaches to nothing (`NoParentRefs`).

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

GROUP = "gateway.networking.k8s.io"
REF = refs.Ref(GROUP, "v1", "httproutes")


def build(rt: route.Route, *, backend_port: int = owned.SERVICE_PORT) -> Obj:
    """A Gateway API HTTPRoute: a rule per tag, then the weighted catch-all rule."""
    spec_routing = rt.spec.routing or routing.Routing()
    every_path = {"path": {"type": "PathPrefix", "value": "/"}}

    def backend(name: str, weight: int) -> Obj:
        return {
            "group": "",
            "kind": "Service",
            "name": name,
            "port": backend_port,
            "weight": weight,
        }

    rules: list[Obj] = [
        {
            "matches": [
                {
                    **every_path,
                    "headers": [{"type": "Exact", "name": names.TAG_HEADER, "value": tag}],
                }
            ],
            "backendRefs": [backend(name, 1)],  # the only backend: all of the tag's requests
        }
        for tag, name in traffic.tagged(rt)
    ]
    rules.append(
        {
            "matches": [every_path],
            "backendRefs": [backend(t.revision_name, t.percent) for t in traffic.weighted(rt)],
        }
    )
    spec: Obj = {}
    if spec_routing.parent_refs:
        spec["parentRefs"] = [_parent_ref(p) for p in spec_routing.parent_refs]
    if spec_routing.hostnames:
        spec["hostnames"] = list(spec_routing.hostnames)
    spec["rules"] = rules
    return {
        "apiVersion": REF.api_version,
        "kind": "HTTPRoute",
        "metadata": owned.metadata(rt.spec.service, rt, traffic.labels(rt)),
        "spec": spec,
    }


def _parent_ref(ref: routing.ParentRef) -> Obj:
    out: Obj = {"group": ref.group, "kind": ref.kind, "name": ref.name}
    if ref.namespace:
        out["namespace"] = ref.namespace
    if ref.section_name:
        out["sectionName"] = ref.section_name
    return out


def url(obj: Obj) -> str | None:
    """`http://<first hostname>` of a stored HTTPRoute; None without a concrete one."""
    return traffic.url((obj.get("spec") or {}).get("hostnames") or [])


def applied(obj: Obj) -> list[split.TrafficStatus]:
    """The split a stored HTTPRoute applies: the first rule without a tag match gives
    the weights, each rule matching `Rollout-Tag` gives a tag. Other rules are ignored."""
    weights: list[tuple[str, int]] = []
    tags: list[tuple[str, str]] = []
    found_weighted = False
    for rule in (obj.get("spec") or {}).get("rules") or []:
        refs_ = [
            (str(ref.get("name", "")), owned.count(ref.get("weight"), 1))
            for ref in rule.get("backendRefs") or []
            if ref.get("kind", "Service") == "Service"
        ]
        tag = _tag(rule.get("matches") or [])
        if tag is not None:
            if refs_:
                tags.append((tag, max(refs_, key=lambda r: r[1])[0]))
        elif not found_weighted:
            found_weighted = True
            weights = refs_
    return traffic.assemble(weights, tags, url(obj))


def _tag(matches: Sequence[Obj]) -> str | None:
    for match in matches:
        for header in match.get("headers") or []:
            if str(header.get("name", "")).lower() == names.TAG_HEADER.lower() and (
                header.get("type", "Exact") == "Exact"
            ):
                return str(header.get("value", ""))
    return None


def in_effect(obj: Obj) -> ports.RouteProblem | None:
    """None when every parent of a stored HTTPRoute has accepted its current generation
    with all references resolved; else why not (a rejection before a pending parent)."""
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    namespace, generation = str(meta.get("namespace") or "default"), meta.get("generation")
    wanted = spec.get("parentRefs") or []
    if not wanted:
        return ports.RouteProblem(traffic.NO_PARENT_REFS, _NO_PARENTS)
    reported = [p for p in (obj.get("status") or {}).get("parents") or [] if isinstance(p, dict)]
    pending: ports.RouteProblem | None = None
    for ref in wanted:
        key = _parent_key(ref, namespace)
        who = _describe(key)
        entries = [p for p in reported if _parent_key(p.get("parentRef") or {}, namespace) == key]
        if not entries:
            pending = pending or ports.RouteProblem(
                traffic.ROUTE_PENDING, f"no gateway controller has reported on {who} yet"
            )
        for entry in entries:
            found = _verdict(entry, who, generation)
            if found is not None and found.reason != traffic.ROUTE_PENDING:
                return found
            pending = pending or found
    return pending


_NO_PARENTS = (
    "the HTTPRoute has no parentRefs, so it attaches to no gateway: set"
    " spec.routing.parentRefs on the Service, or start the controller with"
    " --gateway NAMESPACE/NAME"
)


def _verdict(entry: Obj, who: str, generation: object) -> ports.RouteProblem | None:
    """What one controller's entry for a parent says about the current generation."""
    by_type = {c.get("type"): c for c in entry.get("conditions") or [] if isinstance(c, dict)}
    for type_, refused in (("Accepted", traffic.NOT_ACCEPTED), ("ResolvedRefs", traffic.REFS)):
        cond = by_type.get(type_)
        if cond is None or cond.get("observedGeneration") != generation:
            seen = cond.get("observedGeneration") if cond is not None else None
            return ports.RouteProblem(
                traffic.ROUTE_PENDING,
                f"{who} has not yet reported {type_} for generation {generation} of the"
                f" route" + (f" (it reports generation {seen})" if seen is not None else ""),
            )
        if cond.get("status") == "False":
            said = ": ".join(str(x) for x in (cond.get("reason"), cond.get("message")) if x)
            verb = "did not accept the route" if type_ == "Accepted" else "cannot resolve"
            if type_ == "ResolvedRefs":
                verb += " the route's references"
            return ports.RouteProblem(refused, f"{who} {verb}: {said or 'no reason given'}")
        if cond.get("status") != "True":
            return ports.RouteProblem(
                traffic.ROUTE_PENDING, f"{who} reports {type_}={cond.get('status')}"
            )
    return None


def _parent_key(ref: Obj, namespace: str) -> tuple[str, str, str, str, str, str]:
    """A parentRef with the API's defaults filled in, for comparing."""
    return (
        str(ref.get("group", GROUP)),
        str(ref.get("kind") or "Gateway"),
        str(ref.get("namespace") or namespace),
        str(ref.get("name", "")),
        str(ref.get("sectionName") or ""),
        str(ref.get("port") or ""),
    )


def _describe(key: tuple[str, str, str, str, str, str]) -> str:
    group, kind, namespace, name, section, port = key
    what = "gateway" if (group, kind) == (GROUP, "Gateway") else f"{kind}.{group}"
    where = f"{what} {namespace}/{name}"
    if section:
        where += f" (listener {section})"
    if port:
        where += f" (port {port})"
    return where
