"""A release waits for its split to be in effect, not just stored (issue 18, finding 2):
while the router reports a problem (a gateway refused the route, or has not taken it)
the release does not step on; past its progress deadline it fails with the gateway's
own message, and the Service goes back to its stable revision."""

from __future__ import annotations

from typing import Any

import pytest

from rollout.api import route
from rollout.api.release import Phase
from rollout.platforms import ports

REFUSAL = ports.RouteProblem(
    "RouteNotAccepted",
    "gateway default/public did not accept the route: NotAllowedByListeners: no listener"
    " allows routes from namespace default",
)


def test_a_route_the_gateway_refuses_holds_the_release_then_fails_it_with_the_gateways_word(
    env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.apply(env.policy("canary-fast", progressDeadline="2m"))
    env.apply(env.service(policy="canary-fast"))
    env.until(lambda: env.split() == {"web-00001": 100}, within=10)
    real_apply = env.router.apply

    def refusing(rt: route.Route) -> ports.AppliedRoute:
        """As the Kubernetes router answers for a refused route: nothing in effect."""
        if all(t.percent == 0 for t in rt.spec.traffic if t.revision_name != "web-00001"):
            return real_apply(rt)  # all on the stable: accepted (as before the release)
        return ports.AppliedRoute(traffic=[], url=rt.status.url, problem=REFUSAL)

    monkeypatch.setattr(env.router, "apply", refusing)
    env.apply(env.service(version="v2", policy="canary-fast"))
    env.until(lambda: env.releases() and env.releases()[0].status.weights, within=30)
    env.advance(60)
    rel = env.releases()[0]
    assert rel.status.phase is Phase.PROGRESSING
    assert rel.status.step_index == 0, "the release stepped on while its route was refused"
    assert env.split() == {"web-00001": 100}
    env.until(lambda: env.releases()[0].status.phase is Phase.FAILED, within=90)
    rel = env.releases()[0]
    assert REFUSAL.message in rel.status.message
    assert rel.status.history[-1].message == (
        f"traffic weights were not in effect within 2m: RouteNotAccepted: {REFUSAL.message}"
    )
    env.until(lambda: env.get_service().status.ready_condition().status == "True", within=30)
    assert env.split() == {"web-00001": 100}
