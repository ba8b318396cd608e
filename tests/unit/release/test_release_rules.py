"""The request rules a release asks for (issue 20): `rules.rules_at` (which header
routes and mirrors are in force at a step), what the engine puts in the status beside
the weights at each step and at the end, and that a step counts as applied — and its
analysis starts — only once the Route reads its rules back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollout.api import policyspec, route
from rollout.api.release import Phase, ReleaseSpec, ReleaseStatus
from rollout.release import engine, observation, rules

T0 = datetime(2026, 1, 1, tzinfo=UTC)
BETA = [{"header": "X-Beta", "exact": "1"}]
GAMMA = [{"cookie": "group", "regex": "g.*"}]


def route_step(name: str, match: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"setHeaderRoute": {"name": name, **({"match": match} if match else {})}}


def mirror_step(name: str, percent: int) -> dict[str, Any]:
    return {"setMirror": {"name": name, "percent": percent}}


def plan(*steps: dict[str, Any]) -> list[policyspec.Step]:
    return [policyspec.Step.model_validate(s) for s in steps]


@pytest.mark.parametrize(
    ("steps", "index", "routes", "mirrors"),
    [
        pytest.param([{"setWeight": 10}], 0, [], [], id="no-rules"),
        pytest.param([route_step("beta", BETA)], 0, ["beta"], [], id="set"),
        pytest.param(
            [route_step("beta", BETA), {"setWeight": 10}, route_step("beta")],
            1,
            ["beta"],
            [],
            id="in-force-until-removed",
        ),
        pytest.param(
            [route_step("beta", BETA), {"setWeight": 10}, route_step("beta")],
            2,
            [],
            [],
            id="removed",
        ),
        pytest.param(
            [route_step("beta", BETA), route_step("gamma", GAMMA), route_step("beta", GAMMA)],
            2,
            ["beta", "gamma"],
            [],
            id="replaced-keeps-its-place",
        ),
        pytest.param(
            [
                route_step("beta", BETA),
                route_step("gamma", GAMMA),
                route_step("beta"),
                route_step("beta", BETA),
            ],
            3,
            ["gamma", "beta"],
            [],
            id="removed-and-set-again-goes-last",
        ),
        pytest.param(
            [mirror_step("shadow", 10), mirror_step("all", 50), mirror_step("shadow", 0)],
            2,
            [],
            [("all", 50)],
            id="mirror-removed-by-percent-0",
        ),
        pytest.param(
            [mirror_step("shadow", 10), {"setWeight": 5}, mirror_step("shadow", 30)],
            1,
            [],
            [("shadow", 10)],
            id="a-later-step-not-yet",
        ),
    ],
)
def test_rules_at(
    steps: list[dict[str, Any]], index: int, routes: list[str], mirrors: list[tuple[str, int]]
) -> None:
    active = rules.rules_at(plan(*steps), index)
    assert [r.name for r in active.header_routes] == routes
    assert [(m.name, m.percent) for m in active.mirrors] == mirrors


def test_rules_at_matches_the_header_route_it_set() -> None:
    active = rules.rules_at(plan(route_step("beta", BETA), route_step("beta", GAMMA)), 1)
    assert active.header_routes[0].match is not None
    assert active.header_routes[0].match[0].cookie == "group"


# --- the engine --------------------------------------------------------------------------

POLICY = policyspec.RolloutPolicySpec.model_validate(
    {
        "sessionAffinity": {"cookieName": "rollout-canary", "maxAge": "1h"},
        "steps": [
            route_step("beta", BETA),
            mirror_step("shadow", 10),
            {"pause": {"duration": "1m"}},
            route_step("beta"),
            {"setWeight": 20},
            {"pause": {}},
        ],
    }
)


def spec(**intent: Any) -> ReleaseSpec:
    return ReleaseSpec(
        service="web",
        stable_revision="web-00001",
        canary_revision="web-00002",
        policy=POLICY,
        **intent,
    )


def decide(
    status: ReleaseStatus,
    seconds: float,
    *,
    echo: bool = True,
    attempt: int = 1,
    **intent: Any,
) -> ReleaseStatus:
    """One decision; the Route applies what the status asks when `echo`, else none."""
    obs = observation.Observation(
        now=T0 + timedelta(seconds=seconds),
        canary_ready=True,
        applied=status.weights,
        applied_rules=rules.wanted(status) if echo else route.Rules(),
        attempt=attempt,
    )
    return engine.decide(spec(**intent), status, obs).status


def names(status: ReleaseStatus) -> tuple[list[str], list[str], str | None]:
    sticky = status.session_affinity
    return (
        [r.name for r in status.header_routes],
        [m.name for m in status.mirrors],
        sticky.cookie_value if sticky is not None else None,
    )


def test_each_step_asks_for_its_rules_to_the_canary() -> None:
    status = decide(ReleaseStatus(), 0)
    seen = [(status.step_index, names(status))]
    for t in range(0, 200, 5):
        status = decide(status, t)
        seen.append((status.step_index, names(status)))
    by_step = dict(seen)
    assert by_step[0] == (["beta"], [], "web-00002-1")
    assert by_step[2] == (["beta"], ["shadow"], "web-00002-1")
    assert by_step[5] == ([], ["shadow"], "web-00002-1")
    assert all(r.revision_name == "web-00002" for r in status.header_routes + status.mirrors)
    assert status.phase is Phase.PAUSED


def test_promotion_asks_for_no_rules() -> None:
    status = decide(ReleaseStatus(), 0)
    for t in range(0, 200, 5):
        status = decide(status, t)
    assert status.mirrors
    promoted = decide(
        status,
        300,
        promote={"requestedAt": T0 + timedelta(seconds=300), "fromStep": status.step_index},
    )
    assert promoted.phase is Phase.PROMOTING
    assert names(promoted) == ([], [], None)


def test_rollback_drops_the_sticky_session() -> None:
    """Abort: the sticky clients go back to the stable with everyone else."""
    status = decide(decide(ReleaseStatus(), 0), 1)
    assert status.session_affinity is not None
    aborted = decide(status, 2, abort=True)
    assert aborted.phase in (Phase.ROLLING_BACK, Phase.ABORTED)
    assert names(aborted) == ([], [], None)


def test_the_cookie_names_the_attempt() -> None:
    """A retried release's cookie is another: the first attempt's never pins it."""
    first = decide(decide(ReleaseStatus(), 0), 1)
    second = decide(decide(ReleaseStatus(), 0, attempt=2), 1, attempt=2)
    assert first.session_affinity is not None
    assert second.session_affinity is not None
    assert first.session_affinity.cookie_value != second.session_affinity.cookie_value


def test_a_step_waits_for_its_rules_to_be_applied() -> None:
    """The weights are applied but the Route does not read the header route back: the
    release stays at the step (and polls), past what would have ended it."""
    status = decide(ReleaseStatus(), 0)
    status = decide(status, 1, echo=False)
    for t in range(2, 120, 10):
        status = decide(status, t, echo=False)
    assert (status.phase, status.step_index) == (Phase.PROGRESSING, 0)
    obs = observation.Observation(
        now=T0 + timedelta(seconds=120), canary_ready=True, applied=status.weights
    )
    assert engine.decide(spec(), status, obs).requeue_after == engine.POLL
    moved = decide(status, 121)
    assert moved.step_index > 0


def test_the_pause_clock_starts_once_the_rules_are_applied() -> None:
    """The pause after the mirror step starts when the mirror is read back, not when it
    was asked for: its minute counts from then."""
    status = decide(decide(ReleaseStatus(), 0), 0)
    assert status.step_index == 1  # the header route applied: on to the mirror
    for t in range(1, 300, 10):
        status = decide(status, t, echo=False)
    assert status.step_index == 1
    status = decide(status, 300)
    assert status.step_index == 2
    assert status.step_started_at == T0 + timedelta(seconds=300)
    assert decide(status, 340).step_index == 2
    assert decide(status, 361).step_index > 2


def test_rules_not_applied_past_the_deadline_roll_back() -> None:
    status = decide(ReleaseStatus(), 0)
    for t in range(1, 700, 30):
        status = decide(status, t, echo=False)
    assert status.phase in (Phase.ROLLING_BACK, Phase.ROLLED_BACK)


def test_every_field_reaches_the_route() -> None:
    """Each field of the steps and of sessionAffinity acts: it is in what the release asks
    the Route to carry."""
    policy = policyspec.RolloutPolicySpec.model_validate(
        {
            "sessionAffinity": {"cookieName": "ab", "maxAge": "2h"},
            "steps": [
                route_step("beta", BETA),
                {"setMirror": {"name": "some", "percent": 7, "match": GAMMA}},
            ],
        }
    )
    release_spec = spec().model_copy(update={"policy": policy})
    asked = rules.for_step(release_spec, policy.expanded_steps(), 1, attempt=3)
    (header,) = asked.header_routes
    assert (header.name, header.match[0].header, header.match[0].exact) == ("beta", "X-Beta", "1")
    assert header.revision_name == "web-00002"
    (mirror,) = asked.mirrors
    assert (mirror.name, mirror.percent, mirror.match[0].regex) == ("some", 7, "g.*")
    sticky = asked.session_affinity
    assert sticky is not None
    assert (sticky.cookie_name, sticky.cookie_value, sticky.max_age) == (
        "ab",
        "web-00002-3",
        timedelta(hours=2),
    )
