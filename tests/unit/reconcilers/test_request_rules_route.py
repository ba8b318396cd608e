"""The request rules from the release to the Route (issue 20): what the Service's
builders and plan write into `Route.spec` for each phase of a release, and the Route's
Ready condition, True only when the data plane reads back the rules the spec asks
for."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from rollout.api import (
    matching,
    meta,
    names,
    policyspec,
    release,
    revision,
    rolloutpolicy,
    route,
    service,
)
from rollout.api.release import Phase, Weights
from rollout.reconcilers.service import builders
from rollout.reconcilers.service import plan as planning

T0 = datetime(2026, 1, 1, tzinfo=UTC)
BETA = [matching.Match(header="X-Beta", exact="1")]
HEADER = matching.HeaderRoute(name="beta", match=BETA, revision_name="web-00002")
MIRROR = matching.Mirror(name="shadow", percent=10, revision_name="web-00002")
STICKY = matching.StickySession(
    cookie_name="rollout-canary",
    cookie_value="web-00002-1",
    max_age=timedelta(hours=1),
    revision_name="web-00002",
)
RULES = route.Rules(header_routes=(HEADER,), mirrors=(MIRROR,), session_affinity=STICKY)
POLICY = rolloutpolicy.RolloutPolicy(
    metadata=meta.ObjectMeta(name="ab", namespace="prod"),
    spec=policyspec.RolloutPolicySpec.model_validate(
        {
            "steps": [
                {"setHeaderRoute": {"name": "beta", "match": [{"header": "X-Beta", "exact": "1"}]}},
                {"setWeight": 20},
            ]
        }
    ),
)


def rel(phase: Phase, rules: route.Rules = RULES) -> release.Release:
    return release.Release(
        metadata=meta.ObjectMeta(name="web-00002", namespace="prod"),
        spec=release.ReleaseSpec(
            service="web",
            stable_revision="web-00001",
            canary_revision="web-00002",
            policy_name="ab",
            policy=POLICY.spec,
        ),
        status=release.ReleaseStatus(
            phase=phase,
            weights=Weights(stable=100, canary=0),
            header_routes=list(rules.header_routes),
            mirrors=list(rules.mirrors),
            session_affinity=rules.session_affinity,
        ),
    )


@pytest.mark.parametrize(
    ("phase", "carried"),
    [
        (Phase.PROGRESSING, RULES),
        (Phase.PAUSED, RULES),
        (Phase.PROMOTING, route.Rules()),
        (Phase.ROLLING_BACK, route.Rules()),
        (Phase.SUCCEEDED, route.Rules()),
        (Phase.ABORTED, route.Rules()),
        (Phase.SUPERSEDED, route.Rules()),
    ],
    ids=lambda v: v.value if isinstance(v, Phase) else None,
)
def test_release_rules(phase: Phase, carried: route.Rules) -> None:
    """Rules while the release runs or pauses; none once it promotes, rolls back, ends."""
    assert builders.release_rules(rel(phase)) == carried


# --- the plan: the Route's spec -------------------------------------------------------------


def svc(**spec: object) -> service.Service:
    return service.Service.model_validate(
        {
            "metadata": {"name": "web", "namespace": "prod", "uid": "u", "generation": 2},
            "spec": {
                "template": {"spec": {"containers": [{"name": "app", "command": ["app"]}]}},
                **({"policy": "ab"} if "traffic" not in spec else {}),
                **spec,
            },
            "status": {"stableRevision": "web-00001"},
        }
    )


def rev(number: int) -> revision.Revision:
    return revision.Revision.model_validate(
        {
            "metadata": {"name": names.revision_name("web", number), "namespace": "prod"},
            "spec": {
                "service": "web",
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "app",
                                "command": ["app"],
                                "env": [{"name": "N", "value": str(number)}],
                            }
                        ]
                    }
                },
            },
            "status": {"ready": True},
        }
    )


def current_route(rules: route.Rules | None = None) -> route.Route:
    rules = rules or route.Rules()
    traffic = [
        {"revisionName": "web-00001", "percent": 100, "tag": "stable"},
        {"revisionName": "web-00002", "percent": 0, "tag": "canary"},
    ]
    return route.Route.model_validate(
        {
            "metadata": {"name": "web", "namespace": "prod"},
            "spec": {
                "service": "web",
                "traffic": traffic,
                "headerRoutes": [r.model_dump(by_alias=True) for r in rules.header_routes],
                "mirrors": [m.model_dump(by_alias=True) for m in rules.mirrors],
            },
            "status": {"traffic": traffic},
        }
    )


def planned(releases: list[release.Release], rt: route.Route, **spec: object) -> planning.Plan:
    service_ = svc(**spec)
    latest = rev(2).spec.template
    service_ = service_.model_copy(
        update={"spec": service_.spec.model_copy(update={"template": latest})}
    )
    observed = planning.Observed(
        service=service_, revisions=[rev(1), rev(2)], releases=releases, route=rt, policy=POLICY
    )
    return planning.plan(observed, T0)


def test_a_running_release_puts_its_rules_on_the_route() -> None:
    decided = planned([rel(Phase.PROGRESSING)], current_route())
    assert decided.route_spec is not None
    assert route.Rules.of(decided.route_spec) == RULES


def test_rules_already_on_the_route_change_nothing() -> None:
    decided = planned(
        [rel(Phase.PROGRESSING, route.Rules(header_routes=(HEADER,)))],
        current_route(route.Rules(header_routes=(HEADER,))),
    )
    assert decided.route_spec is None


@pytest.mark.parametrize("phase", [Phase.ROLLING_BACK, Phase.ROLLED_BACK, Phase.PROMOTING])
def test_the_end_takes_the_rules_off_the_route(phase: Phase) -> None:
    decided = planned([rel(phase)], current_route(route.Rules(header_routes=(HEADER,))))
    assert decided.route_spec is not None
    assert route.Rules.of(decided.route_spec) == route.Rules()


def test_a_manual_split_carries_no_rules() -> None:
    manual = [{"revisionName": "web-00001", "percent": 100}]
    decided = planned(
        [rel(Phase.PROGRESSING)],
        current_route(route.Rules(header_routes=(HEADER,))),
        traffic=manual,
    )
    assert decided.route_spec is not None
    assert route.Rules.of(decided.route_spec) == route.Rules()


# --- Ready ----------------------------------------------------------------------------------

SPLIT = current_route().spec.traffic
APPLIED = current_route().status.traffic


@pytest.mark.parametrize(
    ("wanted", "applied", "ok", "says"),
    [
        pytest.param(RULES, RULES, True, "", id="all-applied"),
        pytest.param(route.Rules(), route.Rules(), True, "", id="none-asked-none-held"),
        pytest.param(
            RULES,
            dataclasses.replace(RULES, mirrors=()),
            False,
            "mirror shadow is not applied",
            id="a-mirror-missing",
        ),
        pytest.param(
            route.Rules(),
            route.Rules(header_routes=(HEADER,)),
            False,
            "header route beta is still applied",
            id="a-route-left-behind",
        ),
        pytest.param(
            RULES,
            dataclasses.replace(
                RULES, header_routes=(HEADER.model_copy(update={"revision_name": "web-00001"}),)
            ),
            False,
            "header route beta is applied differently",
            id="a-route-to-another-revision",
        ),
        pytest.param(
            RULES,
            dataclasses.replace(RULES, session_affinity=None),
            False,
            "sticky session (cookie rollout-canary) is not applied",
            id="no-sticky-session",
        ),
        pytest.param(
            dataclasses.replace(RULES, session_affinity=None),
            RULES,
            False,
            "the sticky session is still applied",
            id="a-sticky-session-left-behind",
        ),
    ],
)
def test_traffic_ready_with_rules(
    wanted: route.Rules, applied: route.Rules, ok: bool, says: str
) -> None:
    got = route.traffic_ready(SPLIT, APPLIED, wanted_rules=wanted, applied_rules=applied)
    assert got[0] is ok
    assert got[1] == ("TrafficApplied" if ok else "TrafficNotApplied")
    assert says in got[2]


def test_the_order_of_header_routes_matters() -> None:
    other = HEADER.model_copy(update={"name": "gamma"})
    wanted = route.Rules(header_routes=(HEADER, other))
    applied = route.Rules(header_routes=(other, HEADER))
    ok, _, message = route.traffic_ready(SPLIT, APPLIED, wanted_rules=wanted, applied_rules=applied)
    assert not ok
    assert "another order" in message


def test_mark_traffic_reads_the_rules_in_the_status() -> None:
    status = route.RouteStatus(traffic=APPLIED, header_routes=[HEADER])
    status.mark_traffic(SPLIT, problem=None, now=T0, generation=1, rules=RULES)
    ready = status.ready_condition()
    assert ready is not None
    assert ready.reason == "TrafficNotApplied"
    assert "mirror shadow is not applied" in ready.message
    status.mirrors, status.session_affinity = [MIRROR], STICKY
    status.mark_traffic(SPLIT, problem=None, now=T0, generation=1, rules=RULES)
    assert status.ready_condition().reason == "TrafficApplied"  # type: ignore[union-attr]
