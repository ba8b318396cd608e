"""What every traffic router shares: the `Router` interface its module implements,
the stable Service, and the pieces of a split both routers build and read back.

    Route → v1 Service named after the service (the stable Service)
            + one router's object (`gateway_api`: HTTPRoute, `istio`: VirtualService)

A router is a module with `REF` (where its object lives), `build(route)` (the object,
owned by the Route and labelled `rollout.dev/service` and
`app.kubernetes.io/managed-by: rollout`), `applied(stored)` (the split the stored
object asks for), `rules(stored)` (the header routes, mirrors and sticky session it
holds, through `read_rules`), `in_effect(stored)` (None once the data plane has taken
it, else why not: the reasons below) and `url(stored)` (its first concrete host). `router.py` picks
one from its table by `routing.router`; adding a router is one module and one entry.

Decisions:
- The stable Service selects the pods of the route's *primary* revision (highest
  percent, the first listed on a tie), not every pod of the service: selecting on
  `rollout.dev/service` would split in-cluster traffic by pod count, ignoring the
  weights. The weighted split applies to what passes through the gateway (or the
  mesh); in-cluster clients without a mesh reach the primary revision. With no
  traffic at all it selects nothing (a revision label of "" matches no pod).
- A target at 0% is not a weighted backend (a tag still reaches it). Each router
  keeps its catch-all rule when no target carries traffic, so that requests do not
  fall through to another route on the same hostname.
- Tag rules come first and match the header `Rollout-Tag: <tag>` exactly; header
  routes, the sticky cookie and mirrors follow, planned once for both routers
  (`rollout.api.ruleplan`). A route whose rules a router cannot express is not
  written (`RULES_UNSUPPORTED`).
- Read-back reports what a stored object splits, for drift detection: weights are
  turned into percents summing to 100 (largest remainder); a tag's URL is the
  object's first concrete hostname/host (send the header there), None without one.

Pure; no I/O, no client import. Called by the router adapter (`router.py`) and the
router modules; table-tested in tests/unit/kubernetes/test_builders.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from rollout.api import matching, names, route, ruleplan, split
from rollout.platforms import ports
from rollout.platforms.kubernetes import matchers, owned, refs

__all__ = [
    "NOT_ACCEPTED",
    "NO_PARENT_REFS",
    "REFS",
    "ROUTE_PENDING",
    "RULES_UNSUPPORTED",
    "ReadRule",
    "Router",
    "Rules",
    "assemble",
    "labels",
    "make_stable_service",
    "primary_revision",
    "read_rules",
    "tagged",
    "url",
    "weighted",
]

Obj = owned.Obj

# Why a stored route is not in effect (`Router.in_effect`; the Route's Ready reason).
ROUTE_PENDING = "RoutePending"  # its controller has not taken the current generation yet
NOT_ACCEPTED = "RouteNotAccepted"  # a gateway refused it (its reason and message follow)
REFS = "RouteRefsNotResolved"  # a gateway accepted it but cannot resolve a backend
NO_PARENT_REFS = "NoParentRefs"  # an HTTPRoute with no parent attaches to nothing
RULES_UNSUPPORTED = "RouteRulesUnsupported"  # request rules this router cannot express


class Router(Protocol):
    """One traffic router: a module with these names (see `gateway_api`, `istio`)."""

    REF: refs.Ref  # where the router's object lives on the API server

    def build(self, rt: route.Route) -> Obj:
        """The router's object for `rt`, named after the service, owned by `rt`."""
        ...

    def applied(self, obj: Obj) -> list[split.TrafficStatus]:
        """The split a stored object applies (weights as percents, tags, tag URLs)."""
        ...

    def rules(self, obj: Obj) -> Rules:
        """The header routes, mirrors and sticky session a stored object holds."""
        ...

    def in_effect(self, obj: Obj) -> ports.RouteProblem | None:
        """None when the data plane has taken the stored object's current generation
        (as far as its status tells); else why not."""
        ...

    def url(self, obj: Obj) -> str | None:
        """`http://<first concrete host>` of a stored object; None without one."""
        ...


def labels(rt: route.Route) -> dict[str, str]:
    """The labels of every object a Route owns."""
    return {names.SERVICE_LABEL: rt.spec.service, names.MANAGED_BY_LABEL: names.MANAGED_BY}


def primary_revision(rt: route.Route) -> str | None:
    """The revision with the highest percent (the first listed on a tie); None: no traffic."""
    best: split.TrafficTarget | None = None
    for target in rt.spec.traffic:
        if target.percent > 0 and (best is None or target.percent > best.percent):
            best = target
    return best.revision_name if best else None


def make_stable_service(rt: route.Route, *, port: int) -> Obj:
    """The v1 Service named after the service, on the primary revision's pods.

    `port` is the primary revision's serving port (`podspec.serving_port`)."""
    primary = primary_revision(rt)
    return owned.service(
        rt.spec.service,
        rt,
        labels(rt),
        selector={names.SERVICE_LABEL: rt.spec.service, names.REVISION_LABEL: primary or ""},
        target_port=port,
    )


def weighted(rt: route.Route) -> list[split.TrafficTarget]:
    """The targets that carry traffic, in order: the weighted backends."""
    return [t for t in rt.spec.traffic if t.percent > 0]


def tagged(rt: route.Route) -> list[tuple[str, str]]:
    """(tag, revision) of every tagged target, in order: one header rule each."""
    return [(t.tag, t.revision_name) for t in rt.spec.traffic if t.tag]


def url(hosts: Iterable[object]) -> str | None:
    """`http://<host>` of the first concrete (non-wildcard) host; None without one."""
    for host in hosts:
        if isinstance(host, str) and host and "*" not in host:
            return f"http://{host}"
    return None


def assemble(
    weights: list[tuple[str, int]], tags: list[tuple[str, str]], url: str | None
) -> list[split.TrafficStatus]:
    """A read-back split from (revision, weight) in rule order and (tag, revision):
    weighted entries in rule order, each tag on its revision's first untagged entry,
    tags of revisions without weight as 0% entries; tagged entries carry `url`."""
    percents = _percents([w for _, w in weights])
    entries: list[list[Any]] = [
        [name, p, None] for (name, _), p in zip(weights, percents, strict=True)
    ]
    for tag, name in tags:
        spot = next((e for e in entries if e[0] == name and e[2] is None), None)
        if spot is None:
            entries.append([name, 0, tag])
        else:
            spot[2] = tag
    return [
        split.TrafficStatus(revision_name=name, percent=percent, tag=tag, url=url if tag else None)
        for name, percent, tag in entries
    ]


def _percents(weights: list[int]) -> list[int]:
    """Proportional weights as whole percents summing to 100 (largest remainder,
    earlier entries first on a tie); all 0 when every weight is 0."""
    total = sum(weights)
    if total <= 0:
        return [0] * len(weights)
    floors = [w * 100 // total for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (-(weights[i] * 100 % total), i))
    for i in order[: 100 - sum(floors)]:
        floors[i] += 1
    return floors


@dataclasses.dataclass(frozen=True)
class Rules:
    """The request rules a stored object holds (read back)."""

    header_routes: list[matching.HeaderRoute] = dataclasses.field(default_factory=list)
    mirrors: list[matching.Mirror] = dataclasses.field(default_factory=list)
    session_affinity: matching.StickySession | None = None


@dataclasses.dataclass(frozen=True)
class ReadRule:
    """One stored rule as a router parsed it: its label (`ruleplan.PlannedRule.label`;
    "" when unknown), its entries, its one revision (None: weighted), what it mirrors
    (revision, percent) and the Set-Cookie values its backends add, by revision."""

    label: str
    entries: list[ruleplan.Entry]
    revision: str | None
    mirror: tuple[str, int] | None = None
    set_cookies: dict[str, str] = dataclasses.field(default_factory=dict)


def read_rules(rules: Sequence[ReadRule]) -> Rules:
    """Header routes, mirrors and the sticky session from labelled stored rules; rules
    that copy what another rule sends elsewhere (`X+copy-M`) only repeat those."""
    header_routes: list[matching.HeaderRoute] = []
    mirrors: list[matching.Mirror] = []
    sticky: matching.StickySession | None = None
    cookies = [v for r in rules for v in r.set_cookies.items()]
    for r in rules:
        role, name, mirrored, combo = ruleplan.parse_label(r.label)
        if combo:
            continue
        entries = ruleplan.minimal(r.entries)
        if role == "header" and r.revision and entries:
            match = [ruleplan.match_of(e) for e in entries if e]
            header_routes.append(
                matching.HeaderRoute(name=name, match=match, revision_name=r.revision)
            )
        elif role == "mirror" and r.mirror is not None and entries:
            match = [ruleplan.match_of(e) for e in entries if e]
            mirrors.append(
                matching.Mirror(
                    name=name, percent=r.mirror[1], match=match, revision_name=r.mirror[0]
                )
            )
        elif role == "weighted" and mirrored and r.mirror is not None:
            mirrors.append(
                matching.Mirror(name=mirrored, percent=r.mirror[1], revision_name=r.mirror[0])
            )
        elif role == "sticky" and r.revision and len(entries) == 1:
            (entry,) = entries
            said = [matchers.parse_set_cookie(v) for rev, v in cookies if rev == r.revision]
            found = [s for s in said if s is not None]
            if len(entry) == 1 and entry[0].cookie and entry[0].kind == "exact" and found:
                cookie_name, cookie_value, max_age = found[0]
                if (cookie_name, cookie_value) == (entry[0].name, entry[0].value):
                    sticky = matching.StickySession(
                        cookie_name=cookie_name,
                        cookie_value=cookie_value,
                        max_age=max_age,
                        revision_name=r.revision,
                    )
    return Rules(header_routes, mirrors, sticky)
