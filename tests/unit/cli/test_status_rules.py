"""`rollout status` shows the request rules in force (issue 20): the header routes,
mirrors and sticky session the Route reports applied, under the weights and in
`-o json`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.console import Console

from rollout.api import matching, meta, route, service
from rollout.views import status as status_view

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CANARY = "web-00002"
HEADER = matching.HeaderRoute(
    name="beta", match=[matching.Match(header="X-Beta", exact="1")], revision_name=CANARY
)
SHADOW = matching.Mirror(name="shadow", percent=10, revision_name=CANARY)
SOME = matching.Mirror(
    name="some",
    percent=5,
    match=[matching.Match(cookie="group", regex="b.*")],
    revision_name=CANARY,
)
STICKY = matching.StickySession(
    cookie_name="rollout-canary",
    cookie_value="web-00002-1",
    max_age=timedelta(hours=1),
    revision_name=CANARY,
)


def svc() -> service.Service:
    return service.Service.model_validate(
        {
            "metadata": {"name": "web", "namespace": "default", "generation": 1},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "command": ["a"]}]}}},
            "status": {"stableRevision": "web-00001", "latestCreatedRevision": CANARY},
        }
    )


def applied_route(**status: object) -> route.Route:
    return route.Route(
        metadata=meta.ObjectMeta(name="web", namespace="default"),
        spec=route.RouteSpec(service="web"),
        status=route.RouteStatus(**status),  # type: ignore[arg-type]
    )


def test_the_rules_in_force_one_line_each() -> None:
    rt = applied_route(header_routes=[HEADER], mirrors=[SHADOW, SOME], session_affinity=STICKY)
    data = status_view.snapshot(svc(), None, T0, rt=rt)
    assert status_view.rule_lines(data) == [
        "header route beta: header X-Beta = '1' → web-00002",
        "mirror shadow: 10% of all requests → web-00002",
        "mirror some: 5% of requests with cookie group ~ 'b.*' → web-00002",
        "sticky: cookie rollout-canary → web-00002",
    ]


def test_json_has_the_rules() -> None:
    rt = applied_route(header_routes=[HEADER], mirrors=[SHADOW], session_affinity=STICKY)
    data = status_view.snapshot(svc(), None, T0, rt=rt)
    assert data["headerRoutes"] == [
        {"name": "beta", "match": "header X-Beta = '1'", "revision": CANARY}
    ]
    assert data["mirrors"] == [{"name": "shadow", "percent": 10, "match": None, "revision": CANARY}]
    assert data["sessionAffinity"] == {"cookieName": "rollout-canary", "revision": CANARY}


def test_no_rules_no_lines() -> None:
    data = status_view.snapshot(svc(), None, T0, rt=applied_route())
    assert status_view.rule_lines(data) == []
    assert (data["headerRoutes"], data["mirrors"], data["sessionAffinity"]) == ([], [], None)


def test_the_panel_shows_them_under_the_weights() -> None:
    rt = applied_route(header_routes=[HEADER])
    console = Console(width=120, record=True)
    console.print(status_view.panel(svc(), None, T0, rt=rt))
    text = console.export_text()
    assert "header route beta: header X-Beta = '1' → web-00002" in text
