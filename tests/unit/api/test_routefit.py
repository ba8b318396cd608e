"""`routefit.policy_fit`: the Routes a policy's steps would ask for, against what the
Service's router can express (what `rollout validate` reports, via
`loader.route_rule_problems`). Steps are stand-ins with the step fields' names."""

from __future__ import annotations

import types
from datetime import timedelta
from typing import Any

import pytest

from rollout.api import matching, routefit, routing


def weight(w: int) -> Any:
    return types.SimpleNamespace(set_weight=w)


def header_route(name: str, match: list[dict[str, Any]] | None) -> Any:
    step = matching.HeaderRouteStep.model_validate({"name": name, "match": match})
    return types.SimpleNamespace(set_weight=None, set_header_route=step)


def mirror(name: str, percent: int, match: list[dict[str, Any]] | None = None) -> Any:
    step = matching.MirrorStep.model_validate({"name": name, "percent": percent, "match": match})
    return types.SimpleNamespace(set_weight=None, set_mirror=step)


BETA = [{"header": "X-Beta", "exact": "yes"}]
STICKY = matching.SessionAffinity(cookie_name="rollout-canary", max_age=timedelta(hours=1))


@pytest.mark.parametrize(
    ("steps", "affinity", "router", "expected"),
    [
        pytest.param(
            [header_route("beta", BETA), weight(10), weight(50)],
            STICKY,
            "gateway-api",
            [],
            id="ab-test-with-sticky-fits",
        ),
        pytest.param(
            [mirror("shadow", 20), weight(10)],
            None,
            "istio",
            [(1, "istio: mirror 'shadow' copies requests to canary, which also gets weight")],
            id="mirror-kept-past-a-weight",
        ),
        pytest.param(
            [mirror("shadow", 20), mirror("shadow", 0), weight(10)],
            None,
            "gateway-api",
            [],
            id="mirror-ended-before-the-weight",
        ),
        pytest.param(
            [
                header_route("c", [{"cookie": "beta", "exact": "1"}]),
                mirror(
                    "wide",
                    5,
                    [{"all": [{"cookie": "g", "exact": "a"}, {"header": "X-A", "exact": "1"}]}],
                ),
            ],
            None,
            "gateway-api",
            [(1, "gateway-api: on Gateway API the mirror-wide rule would outrank")],
            id="gateway-cannot-rank-it",
        ),
        pytest.param(
            [
                header_route("c", [{"cookie": "beta", "exact": "1"}]),
                mirror(
                    "wide",
                    5,
                    [{"all": [{"cookie": "g", "exact": "a"}, {"header": "X-A", "exact": "1"}]}],
                ),
            ],
            None,
            "istio",
            [],
            id="istio-takes-it-in-order",
        ),
        pytest.param(
            [
                header_route("beta", BETA),
                header_route("beta", None),
                mirror("m", 10),
                mirror("n", 10),
            ],
            None,
            "gateway-api",
            [(3, "gateway-api: mirror 'n' follows mirror 'm'")],
            id="removed-route-and-a-shadowed-mirror",
        ),
    ],
)
def test_policy_fit(
    steps: list[Any],
    affinity: matching.SessionAffinity | None,
    router: routing.Router,
    expected: list[tuple[int, str]],
) -> None:
    """Each problem once, at the first step whose Route the router cannot express."""
    found = routefit.policy_fit(routing.Routing(router=router), steps, affinity)
    assert [p.step for p in found] == [i for i, _ in expected]
    for problem, (_, start) in zip(found, expected, strict=True):
        assert problem.message.startswith(start), problem.message
