"""The request rules on the memory and rehearsal platforms (issue 20): their router
reads the rules back as applied, and the simulator gives the canary the requests its
header routes (`MATCH_SHARE` of them) and mirrors (copies) send it, so a weight-0 A/B
test gets canary readings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from rollout import clock as clocks
from rollout.api import matching, route
from rollout.platforms import memory, sim
from rollout.sim import requests

BETA = [matching.Match(header="X-Beta", exact="1")]
HEADER = matching.HeaderRoute(name="beta", match=BETA, revision_name="web-00002")


def mirror(percent: int, match: list[matching.Match] | None = None) -> matching.Mirror:
    return matching.Mirror(
        name="shadow", percent=percent, match=match or [], revision_name="web-00002"
    )


def a_route(weight: int, **rules: Any) -> route.Route:
    return route.Route.model_validate(
        {
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "service": "web",
                "traffic": [
                    {"revisionName": "web-00001", "percent": 100 - weight, "tag": "stable"},
                    {"revisionName": "web-00002", "percent": weight, "tag": "canary"},
                ],
                **{k: [r.model_dump(by_alias=True) for r in v] for k, v in rules.items()},
            },
        }
    )


@pytest.mark.parametrize(
    ("weight", "header_routes", "mirrors", "share"),
    [
        pytest.param(0, [], [], 0.0, id="weight-0-no-rules"),
        pytest.param(20, [], [], 0.2, id="weights-alone"),
        pytest.param(0, [HEADER], [], 0.05, id="a-header-route-at-weight-0"),
        pytest.param(0, [HEADER, HEADER], [], 0.05, id="two-routes-the-same-5pct"),
        pytest.param(50, [HEADER], [], 0.525, id="a-header-route-beside-weights"),
        pytest.param(0, [], [mirror(10)], 0.1, id="a-mirror-of-all-requests"),
        pytest.param(0, [], [mirror(100, BETA)], 0.05, id="a-mirror-of-matching-requests"),
        pytest.param(0, [HEADER], [mirror(100)], 1.0, id="served-or-copied-all"),
        pytest.param(100, [], [mirror(50)], 1.0, id="all-on-the-canary-nothing-to-copy"),
    ],
)
def test_canary_share(
    weight: int,
    header_routes: list[matching.HeaderRoute],
    mirrors: list[matching.Mirror],
    share: float,
) -> None:
    assert requests.canary_share(weight, header_routes, mirrors) == pytest.approx(share)


def test_the_memory_router_reads_the_rules_back() -> None:
    router = memory.MemoryRouter(clocks.FakeClock())
    rt = a_route(0, headerRoutes=[HEADER], mirrors=[mirror(10)])
    applied = router.apply(rt)
    assert route.Rules.of(applied) == route.Rules.of(rt.spec)
    assert router.rules[("default", "web")] == route.Rules.of(rt.spec)
    assert route.Rules.of(router.apply(a_route(0))) == route.Rules()


def requests_at(weight: int, **rules: Any) -> int:
    clock = clocks.FakeClock()
    traffic = sim.SimTraffic(clock, sim.scenarios.get("good"), rps=50.0)
    applied = traffic.apply(a_route(weight, **rules))
    assert route.Rules.of(applied) == route.Rules.of(a_route(weight, **rules).spec)
    clock.advance(timedelta(minutes=2))
    traffic.apply(a_route(weight, **rules))
    world = traffic._runs["default", "web", "web-00002"].world()
    return world.canary_requests


def test_a_weight_0_header_route_brings_the_canary_requests_on_sim() -> None:
    """About 5 % of 50 rps for 2 minutes; none without the route."""
    assert requests_at(0) == 0
    assert 200 <= requests_at(0, headerRoutes=[HEADER]) <= 400


def test_mirrored_copies_count_as_canary_requests_on_sim() -> None:
    assert 500 <= requests_at(0, mirrors=[mirror(10)]) <= 700
