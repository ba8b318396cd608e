"""An A/B test on the rehearsal platform (`--platform sim`, issue 20): the canary gets
no weight, a header route sends it the matching requests (the simulator's 5 %:
`rollout.sim.requests.MATCH_SHARE`), analysis judges them, the route is removed and
the weights take over. A good canary is promoted; a bad one is rolled back on what
the header route alone sent it, before any weight moved. The Route carries the rules
while the release runs, its data plane reads them back, and they are gone at the end."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from scenarioenv import Env

from rollout.api import route
from rollout.api.release import Phase
from rollout.controller import manager
from rollout.platforms import memory, ports, sim
from rollout.store import memory as memory_store

BETA = [{"header": "X-Beta", "exact": "1"}]

POLICY: dict[str, Any] = {
    "apiVersion": "rollout.dev/v1alpha1",
    "kind": "RolloutPolicy",
    "metadata": {"name": "ab"},
    "spec": {
        "sessionAffinity": {"cookieName": "rollout-canary", "maxAge": "1h"},
        "steps": [
            {"setHeaderRoute": {"name": "beta", "match": BETA}},
            {"analysis": {"duration": "3m"}},
            {"setHeaderRoute": {"name": "beta"}},
            {"setWeight": 50},
            {"analysis": {"duration": "1m"}},
        ],
        "analysis": {
            "interval": "10s",
            "failureLimit": 0,
            "metrics": [
                {
                    "name": "error-rate",
                    "provider": {"local": {"stat": "error_rate"}},
                    "thresholds": {"max": 0.05},
                    "window": "1m",
                    "minSamples": 50,
                }
            ],
        },
    },
}


class SimEnv(Env):
    """The scenario harness on the rehearsal platform, with a scenario of its own."""

    def __init__(self, scenario: str) -> None:
        super().__init__()
        self.store = memory_store.MemoryStore(now=self.clock.now)
        self.platform = sim.make(self.clock, scenario, rps=50.0)
        self.controller = manager.Controller(self.store, self.platform, self.clock)

    @property
    def router(self):  # type: ignore[override]
        assert isinstance(self.platform.router, sim.SimTraffic)
        return self.platform.router.router

    def route(self) -> route.Route:
        obj = self.store.get("Route", "default", "web")
        assert isinstance(obj, route.Route)
        return obj


def start(scenario: str) -> tuple[SimEnv, str]:
    env = SimEnv(scenario)
    env.apply(POLICY)
    env.apply(env.service(policy="ab"))
    env.until(lambda: env.split() == {"web-00001": 100}, within=30)
    env.apply(env.service(policy="ab", version="v2"))
    env.until(lambda: env.releases(), within=10)
    return env, env.releases()[0].metadata.name


def phase(env: SimEnv, name: str) -> Phase:
    return env.get_release(name).status.phase


@pytest.mark.parametrize("scenario", ["good", "bad-20pct"])
def test_the_header_route_is_on_the_route_while_the_release_analyses(scenario: str) -> None:
    """At the analysis step the Route asks for the header route and the sticky session
    to the canary at weight 0, the data plane reads them back, and the Route is Ready."""
    env, name = start(scenario)
    env.until(lambda: env.get_release(name).status.step_index == 1, within=60, step=0.5)
    rt = env.route()
    assert [(r.name, r.revision_name) for r in rt.spec.header_routes] == [("beta", "web-00002")]
    assert rt.spec.session_affinity is not None
    assert rt.spec.session_affinity.cookie_value == "web-00002-1"
    assert route.Rules.of(rt.status) == route.Rules.of(rt.spec)
    assert rt.status.ready_condition() is not None
    assert rt.status.ready_condition().reason == "TrafficApplied"  # type: ignore[union-attr]
    assert env.split() == {"web-00001": 100}  # no weight: only the matching requests


def test_a_good_canary_passes_the_ab_test_and_is_promoted() -> None:
    env, name = start("good")
    env.until(lambda: phase(env, name) is Phase.SUCCEEDED, within=900, step=1)
    rel = env.get_release(name)
    ab = next(e for e in rel.status.history if e.event == "StepAdvanced" and e.step_index == 2)
    assert ab.weights is not None
    assert ab.weights.canary == 0
    assert env.split() == {"web-00002": 100}
    rt = env.route()
    assert route.Rules.of(rt.spec) == route.Rules() == route.Rules.of(rt.status)


def test_a_bad_canary_fails_the_ab_test_and_rolls_back_before_any_weight() -> None:
    env, name = start("bad-20pct")
    env.until(lambda: phase(env, name) is Phase.ROLLED_BACK, within=600, step=1)
    rel = env.get_release(name)
    assert [e.event for e in rel.status.history if e.event == "AnalysisFailed"]
    weights = [e.weights.canary for e in rel.status.history if e.weights is not None]
    assert max(weights) == 0  # never got a weight: the header route alone judged it
    assert env.split() == {"web-00001": 100}
    rt = env.route()
    assert rt.spec.session_affinity is None  # sticky clients go back to the stable
    assert route.Rules.of(rt.spec) == route.Rules() == route.Rules.of(rt.status)


class DropsMirrors(memory.MemoryRouter):
    """A data plane that cannot mirror: it applies the rest and reads back no mirror."""

    def apply(self, rt: route.Route) -> ports.AppliedRoute:
        return dataclasses.replace(super().apply(rt), mirrors=[])


def test_a_rule_the_data_plane_does_not_hold_holds_the_release() -> None:
    """The Route is not Ready (naming the mirror), the release stays at the mirror step
    and its analysis does not start; past the progress deadline it rolls back."""
    env = Env()
    env.platform = dataclasses.replace(env.platform, router=DropsMirrors(env.clock))
    env.controller = manager.Controller(env.store, env.platform, env.clock)
    policy = {
        **POLICY,
        "spec": {
            "progressDeadline": "2m",
            "steps": [{"setMirror": {"name": "shadow", "percent": 10}}, {"pause": {}}],
        },
    }
    env.apply(policy)
    env.apply(env.service(policy="ab"))
    env.until(lambda: env.split() == {"web-00001": 100}, within=30)
    env.apply(env.service(policy="ab", version="v2"))
    env.until(lambda: env.releases(), within=10)
    name = env.releases()[0].metadata.name
    env.until(lambda: env.get_release(name).status.mirrors, within=30)
    env.advance(30)
    obj = env.store.get("Route", "default", "web")
    assert isinstance(obj, route.Route)
    ready = obj.status.ready_condition()
    assert ready is not None
    assert ready.reason == "TrafficNotApplied"
    assert "mirror shadow is not applied" in ready.message
    rel = env.get_release(name)
    assert (rel.status.phase, rel.status.step_index) == (Phase.PROGRESSING, 0)
    env.until(lambda: phase(env, name) is Phase.ROLLED_BACK, within=300)
    stuck = next(
        e for e in env.get_release(name).status.history if e.event == "ProgressDeadlineExceeded"
    )
    assert stuck.message == (
        "traffic weights were not applied within the progress deadline; the route reads"
        " back other request rules: mirror shadow is not applied"
    )
