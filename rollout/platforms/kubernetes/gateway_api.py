"""The Gateway API router (`routing.router: gateway-api`): a Route as a
`gateway.networking.k8s.io/v1` HTTPRoute, and the split and request rules a stored
HTTPRoute applies.

    rules, in the order of `ruleplan.plan` (all with path PathPrefix /):
      per tag            header `Rollout-Tag: <tag>` Exact → that revision
      per header route   its matches → its revision
      sticky session     Cookie header regex for NAME=VALUE → the sticky revision
      per mirror w/ match  its matches → the weighted revisions, RequestMirror filter
      the catch-all      every request → the weighted revision Services (RequestMirror
                         for a mirror of every request)
    plus "S ∧ M" rules (a rule S's matches with a mirror M's, S's revision, M's filter)
    where M copies what S sends to another revision, and `boosts` (see `ruleplan`).

Decisions:
- Gateway API ranks matches by their number of header matches, list order only
  breaking ties; `ruleplan` keeps our precedence by adding to an earlier rule the
  conjunction of its match with a later, more specific one (which matches nothing
  new), and refuses what no match can say (`RouteRulesUnsupported` in `router.py`).
- Header matches are Exact or RegularExpression only: a prefix is an anchored,
  escaped regex, a cookie a regex on the Cookie header (`matchers`, with its limits).
- Mirroring is the rule-level `RequestMirror` filter with `percent`: that field is in
  the standard channel since Gateway API v1.3.0 (experimental in v1.2, absent before).
  An older CRD prunes it silently and the gateway would mirror every request: the
  read-back then sees no percent (100%) and the Route is not Ready — install v1.3+.
  RequestMirror is "Extended" support: a gateway without it refuses the route
  (Accepted=False), which the Route reports.
- Sticky sessions the Flagger way: every backendRef to the sticky revision carries a
  `ResponseHeaderModifier` adding `Set-Cookie: NAME=VALUE; Max-Age=N; Path=/`
  (backendRef filters are Extended support), and the cookie's rule sends it back.
- With no target carrying traffic the catch-all stays with no backend: the gateway
  answers 500 instead of letting requests fall through to another route.
- Fields the API server would default are written out (matches, backend kinds,
  weights) so that the read-back compares like with like.
- Read-back: the annotation `rollout.dev/rules` names each rule's role (one label per
  rule, `ruleplan.PlannedRule.label`); what each rule matches, where it sends and what
  it copies is read from the rule itself — the weighted rule gives the weights, each
  tag rule a tag, the header-route, mirror and sticky rules the request rules (implied
  `boost` matches read as nothing). Without the annotation (an object of an older
  rollout), the first rule without a tag match gives the weights. URL: the first
  concrete hostname.
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

from rollout.api import matching, names, route, routing, ruleplan, split
from rollout.platforms import ports
from rollout.platforms.kubernetes import matchers, owned, refs, traffic

__all__ = [
    "REF",
    "RULES_ANNOTATION",
    "applied",
    "build",
    "header_match",
    "in_effect",
    "plan",
    "rules",
    "url",
]

Obj = owned.Obj

GROUP = "gateway.networking.k8s.io"
REF = refs.Ref(GROUP, "v1", "httproutes")


RULES_ANNOTATION = "rollout.dev/rules"  # the label of each rule, in order (read-back)


def plan(rt: route.Route) -> ruleplan.Plan:
    """The rules of `rt` in Gateway API order (boosted), with what cannot be expressed
    (the HTTPRoute's limits included)."""
    planned = ruleplan.plan(
        rt.spec.traffic,
        rt.spec.header_routes,
        rt.spec.mirrors,
        rt.spec.session_affinity,
        by_specificity=True,
    )
    if not planned.problems:
        backends = len(traffic.weighted(rt))
        planned.problems.extend(ruleplan.limits(planned.rules, backends))
    return planned


def build(rt: route.Route, *, backend_port: int = owned.SERVICE_PORT) -> Obj:
    """A Gateway API HTTPRoute: the planned rules (tags, header routes, the sticky
    cookie, mirrors), then the weighted catch-all rule. Raises ValueError when the
    route's rules cannot be expressed (`plan(rt).problems`)."""
    spec_routing = rt.spec.routing or routing.Routing()
    planned = plan(rt)
    if planned.problems:
        raise ValueError("; ".join(planned.problems))
    sticky = rt.spec.session_affinity

    def backend(name: str, weight: int) -> Obj:
        ref: Obj = {
            "group": "",
            "kind": "Service",
            "name": name,
            "port": backend_port,
            "weight": weight,
        }
        if sticky is not None and name == sticky.revision_name:
            cookie = {"name": "Set-Cookie", "value": matchers.set_cookie(sticky)}
            ref["filters"] = [
                {"type": "ResponseHeaderModifier", "responseHeaderModifier": {"add": [cookie]}}
            ]
        return ref

    rules: list[Obj] = []
    for planned_rule in planned.rules:
        if planned_rule.revision is not None:  # the only backend: all of its requests
            backends = [backend(planned_rule.revision, 1)]
        else:
            backends = [backend(t.revision_name, t.percent) for t in traffic.weighted(rt)]
        rule: Obj = {"matches": [_match(e) for e in planned_rule.all_entries()]}
        if planned_rule.mirror is not None:
            rule["filters"] = [_mirror_filter(planned_rule.mirror, backend_port)]
        rule["backendRefs"] = backends
        rules.append(rule)
    spec: Obj = {}
    if spec_routing.parent_refs:
        spec["parentRefs"] = [_parent_ref(p) for p in spec_routing.parent_refs]
    if spec_routing.hostnames:
        spec["hostnames"] = list(spec_routing.hostnames)
    spec["rules"] = rules
    metadata = owned.metadata(rt.spec.service, rt, traffic.labels(rt))
    metadata["annotations"] = {RULES_ANNOTATION: ",".join(r.label for r in planned.rules)}
    return {
        "apiVersion": REF.api_version,
        "kind": "HTTPRoute",
        "metadata": metadata,
        "spec": spec,
    }


_EVERY_PATH = {"path": {"type": "PathPrefix", "value": "/"}}


def _match(entry: ruleplan.Entry) -> Obj:
    if not entry:
        return dict(_EVERY_PATH)
    return {**_EVERY_PATH, "headers": [header_match(c) for c in entry]}


def header_match(c: ruleplan.Cond) -> Obj:
    """One condition as an HTTPRoute header match (`matchers` for the regexes)."""
    if c.cookie:
        value = matchers.cookie_regex(c.name, c.kind, c.value)
        return {"type": "RegularExpression", "name": matchers.COOKIE_HEADER, "value": value}
    name = names.TAG_HEADER if c.name == names.TAG_HEADER.lower() else c.name
    if c.kind == "exact" and c.value:
        return {"type": "Exact", "name": name, "value": c.value}
    return {
        "type": "RegularExpression",
        "name": name,
        "value": matchers.header_regex(c.kind, c.value),
    }


def _mirror_filter(mirror: matching.Mirror, port: int) -> Obj:
    target = {"group": "", "kind": "Service", "name": mirror.revision_name, "port": port}
    return {
        "type": "RequestMirror",
        "requestMirror": {"backendRef": target, "percent": mirror.percent},
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
    """The split a stored HTTPRoute applies: the weighted rule (by its label; without
    labels, the first rule without a tag match) gives the weights, each tag rule (a
    `Rollout-Tag` match; not one that only copies for a mirror) gives a tag."""
    weights: list[tuple[str, int]] = []
    tags: list[tuple[str, str]] = []
    found_weighted = False
    rules = (obj.get("spec") or {}).get("rules") or []
    labels = _labels(obj, len(rules))
    for rule, label in zip(rules, labels, strict=True):
        refs_ = [
            (str(ref.get("name", "")), owned.count(ref.get("weight"), 1))
            for ref in rule.get("backendRefs") or []
            if ref.get("kind", "Service") == "Service"
        ]
        role, _, _, combo = ruleplan.parse_label(label)
        tag = _tag(rule.get("matches") or []) if role in ("tag", "") else None
        if tag is not None:
            if refs_ and not combo:
                tags.append((tag, max(refs_, key=lambda r: r[1])[0]))
        elif not found_weighted and role in ("weighted", ""):
            found_weighted = True
            weights = refs_
    return traffic.assemble(weights, tags, url(obj))


def _labels(obj: Obj, count: int) -> list[str]:
    """The rules' labels from the annotation; "" each when absent or not one per rule."""
    said = ((obj.get("metadata") or {}).get("annotations") or {}).get(RULES_ANNOTATION)
    labels = str(said).split(",") if said else []
    return labels if len(labels) == count else [""] * count


def rules(obj: Obj) -> traffic.Rules:
    """The header routes, mirrors and sticky session a stored HTTPRoute holds: read from
    its rules' matches, backends and filters; the annotation only names the rules."""
    stored = (obj.get("spec") or {}).get("rules") or []
    read: list[traffic.ReadRule] = []
    for rule, label in zip(stored, _labels(obj, len(stored)), strict=True):
        if not label:
            continue
        services = [
            ref for ref in rule.get("backendRefs") or [] if ref.get("kind", "Service") == "Service"
        ]
        entries = [_entry(m) for m in rule.get("matches") or []]
        read.append(
            traffic.ReadRule(
                label=label,
                entries=[e for e in entries if e is not None],
                revision=str(services[0].get("name")) if len(services) == 1 else None,
                mirror=_mirror(rule.get("filters") or []),
                set_cookies=_set_cookies(services),
            )
        )
    return traffic.read_rules(read)


def _entry(match: Obj) -> ruleplan.Entry | None:
    conds = []
    for header in match.get("headers") or []:
        name, value = str(header.get("name", "")), str(header.get("value", ""))
        if header.get("type", "Exact") == "Exact":
            conds.append(ruleplan.Cond(False, name.lower(), "exact", value))
        elif name.lower() == matchers.COOKIE_HEADER.lower():
            cookie = matchers.parse_cookie_regex(value)
            if cookie is None:
                return None
            conds.append(cookie)
        else:
            kind, said = matchers.parse_header_regex(value)
            conds.append(ruleplan.Cond(False, name.lower(), kind, said))  # type: ignore[arg-type]
    return tuple(sorted(conds))


def _mirror(filters: list[Obj]) -> tuple[str, int] | None:
    for f in filters:
        if f.get("type") == "RequestMirror":
            mirror = f.get("requestMirror") or {}
            name = str((mirror.get("backendRef") or {}).get("name", ""))
            if "percent" in mirror:
                return name, owned.count(mirror.get("percent"), 100)
            fraction = mirror.get("fraction")
            if isinstance(fraction, dict):
                num = owned.count(fraction.get("numerator"), 0)
                den = owned.count(fraction.get("denominator"), 100) or 100
                return name, round(num * 100 / den)
            return name, 100
    return None


def _set_cookies(services: list[Obj]) -> dict[str, str]:
    out: dict[str, str] = {}
    for ref in services:
        for f in ref.get("filters") or []:
            if f.get("type") == "ResponseHeaderModifier":
                for added in (f.get("responseHeaderModifier") or {}).get("add") or []:
                    if str(added.get("name", "")).lower() == "set-cookie":
                        out[str(ref.get("name", ""))] = str(added.get("value", ""))
    return out


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
