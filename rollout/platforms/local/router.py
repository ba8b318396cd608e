"""The local TrafficRouter: applies a Route's split to the local proxy.

`apply(route)` sends the proxy the whole table of the route's service — one target per
`spec.traffic` entry — and returns what the proxy answers: the split it holds, each
target's readiness, and the service URL. What it sends for each revision comes from
the runtime (`endpoint_of`):

- ready (its last probe passed): its URL;
- known not to serve (starting, exited, probe failing, no process at all): no URL, so
  the proxy gives it no traffic and its share goes to the ready targets. Fewer failed
  requests than a dead URL (every request there would fail until the next apply),
  and the Route says so: Ready False, `TrafficNotServed`;
- unknown (a process left running by an earlier controller that this one has not
  probed yet — right after a controller restart, before the Revision reconciler has
  ensured it): if it has weight, nothing is sent. The proxy keeps its last split —
  the last good one — and the route is `EndpointsPending` until the runtime knows
  (the reconciler asks again in half a second). A split with weight on a revision
  without a URL is never sent because the controller does not know the revision yet.

Request rules: the route's `headerRoutes`, `mirrors` and `sessionAffinity` go in the
same body, and the rules the proxy holds are read back into `AppliedRoute`. The proxy
takes a rule's revision from the table's targets (its URL and readiness), so a
revision a rule names that `spec.traffic` does not is sent as an extra untagged
target at 0% (no weighted traffic; `split.same_split` ignores it). A revision a rule
names counts as one with weight for `EndpointsPending`: a header-routed user must not
get a 502 because the controller just restarted.

Ports: the Service's `spec.port` (`port_of`) when it has one; else the port the proxy
already listens on for the route; else (the proxy restarted empty) the port of the
route's last URL, so a restarted proxy serves each service where it was — a free
port only when that one is taken.

Drift: the router remembers the table it last put for each route (its split and its
request rules). Before a put it reads the proxy's table; one that differs from what
it put was changed by someone else and is reported in `AppliedRoute.drift` (the
reconciler records a `DriftCorrected` event) as it is set right. A route missing
from the proxy is not drift (the proxy restarted; the supervisor says so).
`stale(routes)` is the same comparison for the supervisor, which reads the proxy's
tables when its `/healthz` version moves and wakes the routes that differ.

A proxy that cannot be reached is not an error of the route: `apply` answers
`ProxyDown` (no traffic, the last URL kept) and the supervisor restarts the proxy and
wakes every route (`routes()`). Other proxy errors (a refused table) raise
`ProxyError`: the reconcile fails and is retried with backoff.

A tagged target's URL is the service URL: a tag is reached by sending the request
there with the header `Rollout-Tag: <tag>` (and any revision of the table with
`Rollout-Revision: <name>`), whatever its percent.

Called by the Route reconciler through the TrafficRouter port, and by the proxy
supervisor (`stale`, `routes`). The proxy client comes from `proxy()` on every call:
it changes when the proxy is restarted.
"""

from __future__ import annotations

import functools
import threading
import urllib.parse
from collections.abc import Callable, Sequence

import structlog

from rollout.api import route, split
from rollout.platforms import ports
from rollout.platforms.local import runtime
from rollout.platforms.local.proxy import client as proxy_client

__all__ = ["LocalRouter"]

log = structlog.get_logger(__name__)

EndpointOf = Callable[[str, str], runtime.Endpoint]  # (namespace, revision)
PortOf = Callable[[str, str], int | None]  # (namespace, service) → port | None
_Key = tuple[str, str]


def _table(rt: proxy_client.Route | None) -> object:
    """What a route routes where, and its request rules (compared to find drift)."""
    if rt is None:
        return None
    return (
        rt.port,
        tuple((t.revision, t.url, t.percent, t.tag) for t in rt.targets),
        rt.header_routes,
        rt.mirrors,
        rt.session_affinity,
    )


def _describe(rt: proxy_client.Route) -> str:
    split_ = (
        ", ".join(f"{t.revision}={t.percent}% ({t.url or 'not ready'})" for t in rt.targets)
        or "nothing"
    )
    rules = [
        *(f"header route {r.name} to {r.revision_name}" for r in rt.header_routes),
        *(f"mirror {m.name} {m.percent}% to {m.revision_name}" for m in rt.mirrors),
    ]
    if (sticky := rt.session_affinity) is not None:
        rules.append(f"sticky cookie {sticky.cookie_name} to {sticky.revision_name}")
    return split_ + (f"; {', '.join(rules)}" if rules else "")


def _rule_revisions(spec: route.RouteSpec) -> list[str]:
    """The revisions the route's request rules send to, in order, once each."""
    found = [r.revision_name for r in spec.header_routes]
    found += [m.revision_name for m in spec.mirrors]
    if spec.session_affinity is not None:
        found.append(spec.session_affinity.revision_name)
    return list(dict.fromkeys(found))


def _port_in(url: str | None) -> int | None:
    try:
        return urllib.parse.urlsplit(url).port if url else None
    except ValueError:
        return None


class LocalRouter:
    def __init__(
        self,
        proxy: Callable[[], proxy_client.ProxyClient],
        endpoint_of: EndpointOf,
        port_of: PortOf,
    ) -> None:
        self.proxy = proxy
        self.endpoint_of = endpoint_of
        self.port_of = port_of
        self._put: dict[_Key, proxy_client.Route] = {}  # what this router last put
        self._routes: set[_Key] = set()  # every route it was asked to apply
        self._lock = threading.Lock()

    # --- the TrafficRouter port ---------------------------------------------------------

    def apply(self, rt: route.Route) -> ports.AppliedRoute:
        namespace = rt.metadata.namespace or "default"
        key = (namespace, rt.metadata.name)
        with self._lock:
            self._routes.add(key)
        in_traffic = {t.revision_name for t in rt.spec.traffic}
        extra = [r for r in _rule_revisions(rt.spec) if r not in in_traffic]
        endpoints = {
            name: self.endpoint_of(namespace, name)
            for name in [*(t.revision_name for t in rt.spec.traffic), *extra]
        }
        needed = {t.revision_name for t in rt.spec.traffic if t.percent}
        needed.update(_rule_revisions(rt.spec))
        unknown = sorted(name for name in needed if not endpoints[name].known)
        client = self.proxy()
        try:
            current = client.get_route(*key)
            if unknown:
                return self._answer(
                    current,
                    problem=ports.RouteProblem(
                        "EndpointsPending",
                        f"waiting for the runtime to probe {', '.join(unknown)} (left running"
                        " by an earlier controller); the proxy keeps its last split",
                    ),
                )
            drift = self._drift(key, current)
            targets = [
                proxy_client.RouteTarget(
                    revision=t.revision_name,
                    url=endpoints[t.revision_name].url,
                    percent=t.percent,
                    tag=t.tag,
                )
                for t in rt.spec.traffic
            ]
            targets += [  # rules' revisions with no traffic entry: their URL, at 0%
                proxy_client.RouteTarget(revision=name, url=endpoints[name].url, percent=0)
                for name in extra
            ]
            applied = self._send(client, key, rt, targets, current)
        except proxy_client.ProxyError as exc:
            if exc.status is not None:  # the proxy answered and refused: retried with backoff
                raise
            return ports.AppliedRoute(
                traffic=[],
                url=rt.status.url,
                problem=ports.RouteProblem("ProxyDown", f"{exc}; the controller restarts it"),
            )
        with self._lock:
            self._put[key] = applied
        return self._answer(applied, drift=drift)

    def remove(self, namespace: str, name: str) -> None:
        with self._lock:
            self._routes.discard((namespace, name))
            self._put.pop((namespace, name), None)
        self.proxy().delete_route(namespace, name)

    # --- for the proxy supervisor -------------------------------------------------------

    def routes(self) -> list[_Key]:
        """Every route this router was asked to apply (and not to remove)."""
        with self._lock:
            return sorted(self._routes)

    def stale(self, held: Sequence[proxy_client.Route]) -> list[_Key]:
        """The routes whose table in the proxy (`held`: all of them) is not the one this
        router last put — missing or changed."""
        by_key = {(r.namespace, r.service): r for r in held}
        with self._lock:
            mine = dict(self._put)
        return sorted(k for k, put in mine.items() if _table(by_key.get(k)) != _table(put))

    # --- helpers ------------------------------------------------------------------------

    def _drift(self, key: _Key, current: proxy_client.Route | None) -> str:
        with self._lock:
            mine = self._put.get(key)
        if mine is None or current is None or _table(current) == _table(mine):
            return ""
        return (
            f"the proxy's table for {key[0]}/{key[1]} was changed outside rollout"
            f" (it routed {_describe(current)}); restored"
        )

    def _send(
        self,
        client: proxy_client.ProxyClient,
        key: _Key,
        rt: route.Route,
        targets: list[proxy_client.RouteTarget],
        current: proxy_client.Route | None,
    ) -> proxy_client.Route:
        """PUT the table on the port the route should keep (see the module docstring)."""
        wanted = self.port_of(key[0], rt.spec.service)
        put = functools.partial(
            client.put_route,
            *key,
            targets=targets,
            header_routes=rt.spec.header_routes,
            mirrors=rt.spec.mirrors,
            session_affinity=rt.spec.session_affinity,
        )
        if wanted is not None or current is not None:
            return put(port=wanted)
        previous = _port_in(rt.status.url)  # the proxy lost the route: where it was
        try:
            return put(port=previous)
        except proxy_client.ProxyError as exc:
            if exc.status != 409 or previous is None:
                raise
            log.warning("service port taken; moving", route=f"{key[0]}/{key[1]}", port=previous)
            return put(port=None)

    @staticmethod
    def _answer(
        applied: proxy_client.Route | None,
        *,
        drift: str = "",
        problem: ports.RouteProblem | None = None,
    ) -> ports.AppliedRoute:
        if applied is None:
            return ports.AppliedRoute(traffic=[], url=None, drift=drift, problem=problem)
        return ports.AppliedRoute(
            traffic=[
                split.TrafficStatus(
                    revision_name=t.revision,
                    percent=t.percent,
                    tag=t.tag,
                    url=applied.url if t.tag else None,
                    ready=t.ready,
                )
                for t in applied.targets
            ],
            url=applied.url,
            header_routes=list(applied.header_routes),
            mirrors=list(applied.mirrors),
            session_affinity=applied.session_affinity,
            drift=drift,
            problem=problem,
        )
