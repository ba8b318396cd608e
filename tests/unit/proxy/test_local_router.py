"""The LocalRouter over a fake proxy client: what it sends for ready, down and unknown
revisions (issue 13, finding 1), the readiness it reads back, a proxy that is down,
drift, and the service port kept across a proxy restart."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from rollout.api import matching, meta, route, split
from rollout.platforms import ports
from rollout.platforms.local import router, runtime
from rollout.platforms.local.proxy import client

V1 = "http://127.0.0.1:9001"
V2 = "http://127.0.0.1:9002"


class FakeProxy(client.ProxyClient):
    """Holds tables as the proxy does (ready = has a URL); can be down, or have a port
    taken."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:1")
        self.tables: dict[tuple[str, str], client.Route] = {}
        self.puts: list[tuple[str, str, int | None, list[client.RouteTarget]]] = []
        self.deleted: list[tuple[str, str]] = []
        self.down = False
        self.taken: set[int] = set()
        self.next_port = 8080

    def _check(self) -> None:
        if self.down:
            raise client.ProxyError("proxy at http://127.0.0.1:1 unreachable: refused")

    def get_route(self, namespace: str, service: str) -> client.Route | None:
        self._check()
        return self.tables.get((namespace, service))

    def routes(self) -> list[client.Route]:
        self._check()
        return list(self.tables.values())

    def put_route(
        self,
        namespace: str,
        service: str,
        *,
        port: int | None,
        targets: Sequence[client.RouteTarget],
        header_routes: Sequence[matching.HeaderRoute] = (),
        mirrors: Sequence[matching.Mirror] = (),
        session_affinity: matching.StickySession | None = None,
    ) -> client.Route:
        self._check()
        self.puts.append((namespace, service, port, list(targets)))
        current = self.tables.get((namespace, service))
        if port in self.taken:
            raise client.ProxyError(f"port {port} in use", status=409)
        if port is None:
            port = current.port if current else self.next_port
            self.next_port += 1
        answer = tuple(
            client.RouteTarget(t.revision, t.url, t.percent, t.tag, t.url is not None)
            for t in targets
        )
        held = client.Route(
            namespace,
            service,
            port,
            f"http://127.0.0.1:{port}",
            answer,
            tuple(header_routes),
            tuple(mirrors),
            session_affinity,
        )
        self.tables[(namespace, service)] = held
        return held

    def delete_route(self, namespace: str, service: str) -> bool:
        self._check()
        self.deleted.append((namespace, service))
        return self.tables.pop((namespace, service), None) is not None


def _route(canary: int = 20, url: str | None = None) -> route.Route:
    rt = route.Route(
        metadata=meta.ObjectMeta(name="web", namespace="team"),
        spec=route.RouteSpec(
            service="web",
            traffic=[
                split.TrafficTarget(revision_name="web-00001", percent=100 - canary, tag="stable"),
                split.TrafficTarget(revision_name="web-00002", percent=canary, tag="canary"),
            ],
        ),
    )
    if url is not None:
        rt.status.url = url
    return rt


class World:
    def __init__(self) -> None:
        self.proxy = FakeProxy()
        self.endpoints: dict[str, runtime.Endpoint] = {
            "web-00001": runtime.Endpoint(V1),
            "web-00002": runtime.Endpoint(V2),
        }
        self.port: int | None = None
        self.router = router.LocalRouter(
            lambda: self.proxy,
            lambda ns, rev: self.endpoints.get(rev, runtime.Endpoint(None)),
            lambda ns, svc: self.port,
        )


@pytest.fixture
def world() -> World:
    return World()


def _split(applied: ports.AppliedRoute) -> list[tuple[str, int, bool | None]]:
    return [(t.revision_name, t.percent, t.ready) for t in applied.traffic]


class TestWhatIsSent:
    def test_ready_revisions_get_their_url_and_readiness_is_read_back(self, world: World) -> None:
        """URLs per revision, the answer read back with each target's readiness."""
        applied = world.router.apply(_route())
        assert [t.url for t in world.proxy.puts[0][3]] == [V1, V2]
        assert _split(applied) == [("web-00001", 80, True), ("web-00002", 20, True)]
        assert applied.url == "http://127.0.0.1:8080"
        assert applied.traffic[1].url == applied.url  # tagged: reached on the service URL
        assert applied.problem is None

    def test_a_revision_known_to_be_down_is_sent_not_ready(self, world: World) -> None:
        """Down (exited, probe failing): no URL, so its share goes to the ready ones; the
        read back says it is not ready."""
        world.endpoints["web-00002"] = runtime.Endpoint(None, known=True)
        applied = world.router.apply(_route())
        assert [t.url for t in world.proxy.puts[0][3]] == [V1, None]
        assert _split(applied) == [("web-00001", 80, True), ("web-00002", 20, False)]
        assert route.traffic_ready(_route().spec.traffic, applied.traffic) == (
            False,
            "TrafficNotServed",
            "not ready: web-00002 (20%); the ready revisions take their share",
        )

    def test_an_unknown_revision_with_weight_keeps_the_proxys_last_split(
        self, world: World
    ) -> None:
        """Issue 13, finding 1: right after a controller restart the runtime has not
        probed a revision yet: nothing is sent, the proxy keeps its good split, and the
        route says it is pending."""
        world.router.apply(_route(canary=10))
        good = world.proxy.tables[("team", "web")]
        world.endpoints = {
            "web-00001": runtime.Endpoint(None, known=False),
            "web-00002": runtime.Endpoint(None, known=False),
        }
        restarted = router.LocalRouter(
            lambda: world.proxy, lambda ns, rev: world.endpoints[rev], lambda ns, svc: None
        )
        applied = restarted.apply(_route(canary=10))
        assert len(world.proxy.puts) == 1  # nothing sent
        assert world.proxy.tables[("team", "web")] == good
        assert applied.problem is not None
        assert applied.problem.reason == "EndpointsPending"
        assert "web-00001, web-00002" in applied.problem.message
        assert _split(applied) == [("web-00001", 90, True), ("web-00002", 10, True)]

    def test_an_unknown_revision_without_weight_does_not_hold(self, world: World) -> None:
        """At 0% an unprobed revision costs no request: the split is sent (it not ready)."""
        world.endpoints["web-00002"] = runtime.Endpoint(None, known=False)
        applied = world.router.apply(_route(canary=0))
        assert applied.problem is None
        assert [t.url for t in world.proxy.puts[0][3]] == [V1, None]


class TestProxyDown:
    def test_a_proxy_that_does_not_answer_is_reported_not_raised(self, world: World) -> None:
        """ProxyDown, nothing applied, the last URL kept (the supervisor restarts it)."""
        world.proxy.down = True
        applied = world.router.apply(_route(url="http://127.0.0.1:8080"))
        assert applied.traffic == []
        assert applied.url == "http://127.0.0.1:8080"
        assert applied.problem is not None
        assert applied.problem.reason == "ProxyDown"
        assert "unreachable" in applied.problem.message

    def test_a_refused_table_raises(self, world: World) -> None:
        """A proxy that answers and refuses (400, 401) is an error: retried with backoff."""
        world.port = 9999
        world.proxy.taken.add(9999)
        with pytest.raises(client.ProxyError, match="in use"):
            world.router.apply(_route())

    def test_a_restarted_proxy_serves_the_route_on_its_old_port(self, world: World) -> None:
        """The proxy restarted empty: the route goes back on the port of its URL; a
        free port only when that one is taken."""
        world.router.apply(_route(url="http://127.0.0.1:8123"))
        assert world.proxy.puts[-1][2] == 8123
        world.proxy.tables.clear()
        world.proxy.taken.add(8124)
        applied = world.router.apply(_route(url="http://127.0.0.1:8124"))
        assert [p[2] for p in world.proxy.puts[-2:]] == [8124, None]
        assert applied.url == "http://127.0.0.1:8080"
        assert applied.drift == ""  # a lost route is not drift


class TestDrift:
    def test_a_table_changed_by_someone_else_is_restored_and_reported(self, world: World) -> None:
        applied = world.router.apply(_route())
        foreign = client.Route(
            "team", "web", applied_port(applied), str(applied.url),
            (client.RouteTarget("web-00001", V2, 100, None, True),),
        )  # fmt: skip
        world.proxy.tables[("team", "web")] = foreign
        assert world.router.stale(world.proxy.routes()) == [("team", "web")]
        again = world.router.apply(_route())
        assert again.drift == (
            "the proxy's table for team/web was changed outside rollout"
            f" (it routed web-00001=100% ({V2})); restored"
        )
        assert world.router.stale(world.proxy.routes()) == []
        assert world.router.apply(_route()).drift == ""

    def test_stale_lists_missing_routes_and_ignores_unknown_ones(self, world: World) -> None:
        """What the supervisor wakes: routes we put that the proxy lost or changed."""
        world.router.apply(_route())
        assert world.router.stale([]) == [("team", "web")]
        assert world.router.stale(world.proxy.routes()) == []
        assert world.router.routes() == [("team", "web")]
        world.router.remove("team", "web")
        assert world.proxy.deleted == [("team", "web")]
        assert world.router.routes() == []
        assert world.router.stale([]) == []


def applied_port(applied: ports.AppliedRoute) -> int:
    assert applied.url is not None
    return int(applied.url.rsplit(":", 1)[1])


BETA = matching.HeaderRoute.model_validate(
    {"name": "beta", "match": [{"header": "X-User", "exact": "beta"}], "revisionName": "web-00002"}
)
SHADOW = matching.Mirror.model_validate(
    {"name": "shadow", "percent": 10, "revisionName": "web-00002"}
)
STICKY = matching.StickySession.model_validate(
    {"cookieName": "c", "cookieValue": "rel-1", "maxAge": "1h", "revisionName": "web-00002"}
)


def _with_rules(rt: route.Route) -> route.Route:
    rt.spec.header_routes = [BETA]
    rt.spec.mirrors = [SHADOW]
    rt.spec.session_affinity = STICKY
    return rt


class TestRequestRules:
    def test_rules_are_sent_and_read_back(self, world: World) -> None:
        """The route's header routes, mirrors and sticky session go in the body; the
        AppliedRoute has those the proxy answered."""
        applied = world.router.apply(_with_rules(_route(canary=0)))
        held = world.proxy.tables[("team", "web")]
        assert (held.header_routes, held.mirrors, held.session_affinity) == (
            (BETA,),
            (SHADOW,),
            STICKY,
        )
        assert (applied.header_routes, applied.mirrors, applied.session_affinity) == (
            [BETA],
            [SHADOW],
            STICKY,
        )

    def test_a_rule_revision_without_a_traffic_entry_is_sent_at_zero(self, world: World) -> None:
        """The proxy takes a rule's URL from the targets: one not in spec.traffic is
        added, untagged at 0%, and the split still counts as applied."""
        rt = _route(canary=0)
        rt.spec.traffic = rt.spec.traffic[:1]
        rt.spec.traffic[0].percent = 100
        applied = world.router.apply(_with_rules(rt))
        sent = world.proxy.puts[-1][3]
        assert [(t.revision, t.url, t.percent, t.tag) for t in sent] == [
            ("web-00001", V1, 100, "stable"),
            ("web-00002", V2, 0, None),
        ]
        assert route.traffic_ready(rt.spec.traffic, applied.traffic)[0]

    def test_an_unprobed_rule_revision_keeps_the_last_table(self, world: World) -> None:
        """A header-routed revision the runtime has not probed holds the put, as a
        revision with weight does: matched users must not get 502s after a restart."""
        world.endpoints["web-00002"] = runtime.Endpoint(None, known=False)
        applied = world.router.apply(_with_rules(_route(canary=0)))
        assert world.proxy.puts == []
        assert applied.problem is not None
        assert applied.problem.reason == "EndpointsPending"

    def test_rules_changed_behind_our_back_are_drift(self, world: World) -> None:
        """Someone dropping a header route through the admin API is drift, set right."""
        world.router.apply(_with_rules(_route(canary=0)))
        held = world.proxy.tables[("team", "web")]
        world.proxy.tables[("team", "web")] = dataclasses.replace(held, header_routes=())
        assert world.router.stale(world.proxy.routes()) == [("team", "web")]
        again = world.router.apply(_with_rules(_route(canary=0)))
        assert "was changed outside rollout" in again.drift
        assert "mirror shadow 10% to web-00002" in again.drift
        assert "header route beta" not in again.drift  # what it routed: without it
        assert world.proxy.tables[("team", "web")].header_routes == (BETA,)
        assert world.router.stale(world.proxy.routes()) == []

    def test_a_rollback_drops_the_rules(self, world: World) -> None:
        """The route without rules clears them in the proxy."""
        world.router.apply(_with_rules(_route(canary=20)))
        applied = world.router.apply(_route(canary=0))
        held = world.proxy.tables[("team", "web")]
        assert (held.header_routes, held.mirrors, held.session_affinity) == ((), (), None)
        assert (applied.header_routes, applied.mirrors, applied.session_affinity) == ([], [], None)
        assert applied.drift == ""
