"""What the Route reports about its data plane: a split restored after someone else
changed it (`status.lastDrift` and a `DriftCorrected` warning event), a router that
cannot apply now (Not Ready with its reason, asked again soon), and readiness: Ready
only when every target with weight is served."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from rollout.api import condition, route
from rollout.platforms import ports
from rollout.reconcilers import base


def test_a_restored_split_is_recorded_in_the_route_status_and_an_event(
    env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.apply(env.service())
    env.until(lambda: env.split() == {"web-00001": 100}, within=10)
    real_apply = env.router.apply
    drift = "httproutes/web was changed outside rollout (it routed web-00001=10%); restored"

    def drifting(rt: route.Route) -> ports.AppliedRoute:
        return dataclasses.replace(real_apply(rt), drift=drift)

    monkeypatch.setattr(env.router, "apply", drifting)
    env.advance(5 * 60 + 1)  # the Route's resync
    rt = env.store.get("Route", "default", "web")
    assert isinstance(rt, route.Route)
    assert rt.status.last_drift is not None
    assert rt.status.last_drift.message == drift
    assert rt.status.last_drift.corrected_at <= env.clock.now()
    assert "DriftCorrected" in env.events.reasons("web")


def _ready(env: Any) -> tuple[str, str, str]:
    rt = env.store.get("Route", "default", "web")
    assert isinstance(rt, route.Route)
    found = condition.get_condition(rt.status.conditions, condition.ConditionType.READY)
    assert found is not None
    return found.status.value, found.reason or "", found.message or ""


def test_a_router_that_cannot_apply_now_makes_the_route_not_ready_and_is_asked_again_soon(
    env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13, findings 1 and 2: while the router holds the last split (endpoints not
    confirmed) or its data plane is down, the Route is Not Ready with that reason, keeps
    its URL, and is reconciled again within a second — not at the 5-minute resync."""
    env.apply(env.service())
    env.until(lambda: env.split() == {"web-00001": 100}, within=10)
    real_apply = env.router.apply
    problem: list[ports.RouteProblem] = [ports.RouteProblem("ProxyDown", "proxy unreachable")]

    def failing(rt: route.Route) -> ports.AppliedRoute:
        if problem:
            return ports.AppliedRoute(traffic=[], url=None, problem=problem[0])
        return real_apply(rt)

    monkeypatch.setattr(env.router, "apply", failing)
    env.controller.wake(base.Key("Route", "default", "web"))  # as the proxy supervisor does
    env.advance(0)
    assert _ready(env) == ("False", "ProxyDown", "proxy unreachable")
    rt = env.store.get("Route", "default", "web")
    assert isinstance(rt, route.Route)
    assert rt.status.url == "memory://default/web"  # kept while the proxy is down
    assert rt.status.traffic == []  # nothing is served
    problem.clear()
    env.advance(1)
    assert _ready(env) == ("True", "TrafficApplied", "")


@pytest.mark.parametrize(
    ("ready", "expected"),
    [
        ((True, False), ("False", "TrafficNotServed", "not ready: web-00002 (10%); the ready")),
        ((False, False), ("False", "TrafficNotServed", "no revision with traffic is ready")),
        ((True, True), ("True", "TrafficApplied", "")),
        ((None, None), ("True", "TrafficApplied", "")),
    ],
    ids=["canary-down", "all-down", "all-ready", "router-does-not-say"],
)
def test_traffic_applied_only_when_every_target_with_weight_is_served(
    env: Any,
    monkeypatch: pytest.MonkeyPatch,
    ready: tuple[bool | None, bool | None],
    expected: tuple[str, str, str],
) -> None:
    """Issue 13, finding 1: the split read back with readiness; TrafficApplied is true
    only when every target with weight has a ready endpoint."""
    env.apply(env.service())
    env.until(lambda: env.split() == {"web-00001": 100}, within=10)
    env.apply(env.service(version="v2"))
    env.until(lambda: env.get_service().status.latest_ready_revision == "web-00002", within=10)
    real_apply = env.router.apply
    flags = {"web-00001": ready[0], "web-00002": ready[1]}

    def with_readiness(rt: route.Route) -> ports.AppliedRoute:
        applied = real_apply(rt)
        traffic = [t.model_copy(update={"ready": flags[t.revision_name]}) for t in applied.traffic]
        return dataclasses.replace(applied, traffic=traffic)

    monkeypatch.setattr(env.router, "apply", with_readiness)
    manual = [
        {"revisionName": "web-00001", "percent": 90},
        {"revisionName": "web-00002", "percent": 10},
    ]
    env.apply(env.service(version="v2", traffic=manual))
    env.until(lambda: env.split() == {"web-00001": 90, "web-00002": 10}, within=10)
    status, reason, message = _ready(env)
    assert (status, reason) == expected[:2]
    assert message.startswith(expected[2])
