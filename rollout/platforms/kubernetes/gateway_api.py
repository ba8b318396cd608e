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

Implements `traffic.Router`. Pure; no I/O, no client import. Called by `router.py`;
table-tested in tests/unit/kubernetes/test_builders.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from rollout.api import names, route, routing, split
from rollout.platforms.kubernetes import owned, refs, traffic

__all__ = ["REF", "applied", "build", "url"]

Obj = owned.Obj

REF = refs.Ref("gateway.networking.k8s.io", "v1", "httproutes")


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
