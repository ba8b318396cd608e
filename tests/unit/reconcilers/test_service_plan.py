"""The Service reconciler's decisions (`plan`), one row per situation: what it creates,
the split the Route must carry, what it collects, and the status it reports."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from rollout.api import meta, names, policyspec, release, revision, rolloutpolicy, route, service
from rollout.api.release import Phase, Weights
from rollout.reconcilers.service import plan as planning

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def template(version: str) -> dict[str, Any]:
    return {
        "spec": {
            "containers": [
                {"name": "app", "command": ["app"], "env": [{"name": "V", "value": version}]}
            ]
        }
    }


def svc(version: str = "v1", *, stable: str | None = None, **spec: Any) -> service.Service:
    return service.Service.model_validate(
        {
            "metadata": {"name": "web", "namespace": "prod", "uid": "u-web", "generation": 2},
            "spec": {"template": template(version), **spec},
            "status": {"stableRevision": stable},
        }
    )


def rev(number: int, version: str | None = None, *, ready: bool = True) -> revision.Revision:
    return revision.Revision.model_validate(
        {
            "metadata": {"name": names.revision_name("web", number), "namespace": "prod"},
            "spec": {"service": "web", "template": template(version or f"v{number}")},
            "status": {"ready": ready},
        }
    )


POLICY = rolloutpolicy.RolloutPolicy(
    metadata=meta.ObjectMeta(name="canary", namespace="prod"),
    spec=policyspec.RolloutPolicySpec.model_validate({"steps": [{"setWeight": 20}]}),
)


def rel(canary: int, phase: Phase, weights: tuple[int, int] | None = None) -> release.Release:
    return release.Release(
        metadata=meta.ObjectMeta(name=names.revision_name("web", canary), namespace="prod"),
        spec=release.ReleaseSpec(
            service="web",
            stable_revision=names.revision_name("web", canary - 1),
            canary_revision=names.revision_name("web", canary),
            policy_name="canary",
            policy=POLICY.spec,
        ),
        status=release.ReleaseStatus(
            phase=phase, weights=Weights(stable=weights[0], canary=weights[1]) if weights else None
        ),
    )


def rt(*split: tuple[int, int, str | None]) -> route.Route:
    traffic = [
        {"revisionName": names.revision_name("web", n), "percent": p, **({"tag": t} if t else {})}
        for n, p, t in split
    ]
    return route.Route.model_validate(
        {
            "metadata": {"name": "web", "namespace": "prod"},
            "spec": {"service": "web", "traffic": traffic},
            "status": {"traffic": traffic},
        }
    )


@dataclasses.dataclass(frozen=True)
class Row:
    service: service.Service
    revisions: list[revision.Revision]
    releases: list[release.Release] = dataclasses.field(default_factory=list)
    route: route.Route | None = None
    policy: rolloutpolicy.RolloutPolicy | None = None
    # expected
    creates_revision: str | None = None
    creates_release: str | None = None
    split: list[tuple[int, int, str | None]] | None = None  # the Route's split; None: unchanged
    stable: str | None = None
    garbage: tuple[int, ...] = ()
    events: tuple[str, ...] = ()


ROWS = {
    "first-deploy": Row(
        svc("v1"), [], creates_revision="web-00001", split=[], events=("RevisionCreated",)
    ),
    "first-revision-ready": Row(
        svc("v1"), [rev(1)], route=rt(), split=[(1, 100, None)], stable="web-00001",
        events=("RolledOut",),
    ),
    "template-change-no-policy-waits-for-ready": Row(
        svc("v2", stable="web-00001"), [rev(1)], route=rt((1, 100, None)),
        creates_revision="web-00002", stable="web-00001", events=("RevisionCreated",),
    ),
    "no-policy-new-revision-ready-takes-all": Row(
        svc("v2", stable="web-00001"), [rev(1), rev(2)], route=rt((1, 100, None)),
        split=[(2, 100, None)], stable="web-00002", events=("RolledOut",),
    ),
    "template-change-with-policy-starts-a-release": Row(
        svc("v2", stable="web-00001", policy="canary"), [rev(1), rev(2, ready=False)],
        route=rt((1, 100, None)), policy=POLICY, creates_release="web-00002",
        stable="web-00001", events=("ReleaseStarted",),
    ),
    "policy-missing": Row(
        svc("v2", stable="web-00001", policy="canary"), [rev(1), rev(2)],
        route=rt((1, 100, None)), stable="web-00001",
    ),
    "manual-split": Row(
        svc("v2", stable="web-00001", traffic=[
            {"revisionName": "web-00001", "percent": 70},
            {"revisionName": "web-00002", "percent": 30, "tag": "next"},
        ]),
        [rev(1), rev(2)], route=rt((1, 100, None)),
        split=[(1, 70, None), (2, 30, "next")], stable="web-00001",
    ),
    "release-weights-reach-the-route": Row(
        svc("v2", stable="web-00001", policy="canary"), [rev(1), rev(2)],
        [rel(2, Phase.PROGRESSING, (80, 20))], route=rt((1, 100, None)), policy=POLICY,
        split=[(1, 80, "stable"), (2, 20, "canary")], stable="web-00001",
    ),
    "pending-release-leaves-the-route": Row(
        svc("v2", stable="web-00001", policy="canary"), [rev(1), rev(2)],
        [rel(2, Phase.PENDING)], route=rt((1, 100, None)), policy=POLICY, stable="web-00001",
    ),
    "promoting-is-the-final-split": Row(
        svc("v2", stable="web-00001", policy="canary"), [rev(1), rev(2)],
        [rel(2, Phase.PROMOTING, (0, 100))], route=rt((1, 50, "stable"), (2, 50, "canary")),
        policy=POLICY, split=[(2, 100, None)], stable="web-00001",
    ),
    "succeeded-hands-back-without-a-second-apply": Row(
        svc("v2", stable="web-00001", policy="canary"), [rev(1), rev(2)],
        [rel(2, Phase.SUCCEEDED, (0, 100))], route=rt((2, 100, None)), policy=POLICY,
        stable="web-00002", events=("Promoted",),
    ),
    "rolling-back-is-the-stable-split": Row(
        svc("v2", stable="web-00001", policy="canary"), [rev(1), rev(2)],
        [rel(2, Phase.ROLLING_BACK, (100, 0))], route=rt((1, 80, "stable"), (2, 20, "canary")),
        policy=POLICY, split=[(1, 100, None)], stable="web-00001",
    ),
    "rolled-back-hands-back-and-starts-nothing": Row(
        svc("v2", stable="web-00001", policy="canary"), [rev(1), rev(2)],
        [rel(2, Phase.ROLLED_BACK, (100, 0))], route=rt((1, 100, None)), policy=POLICY,
        stable="web-00001",
    ),
    "superseding-release-after-the-old-one-ended": Row(
        svc("v3", stable="web-00001", policy="canary"), [rev(1), rev(2), rev(3)],
        [rel(2, Phase.SUPERSEDED, (100, 0))], route=rt((1, 100, None)), policy=POLICY,
        creates_release="web-00003", stable="web-00001", events=("ReleaseStarted",),
    ),
    "gc-keeps-a-revision-with-traffic": Row(
        svc("v5", stable="web-00004", revisionHistoryLimit=0,
            traffic=[{"revisionName": "web-00004", "percent": 90},
                     {"revisionName": "web-00001", "percent": 10}]),
        [rev(1), rev(2), rev(3), rev(4), rev(5)], route=rt((4, 100, None)),
        split=[(4, 90, None), (1, 10, None)], stable="web-00004", garbage=(3, 2),
        events=("RevisionCollected", "RevisionCollected"),
    ),
}  # fmt: skip


@pytest.mark.parametrize("row", list(ROWS.values()), ids=list(ROWS))
def test_plan(row: Row) -> None:
    observed = planning.Observed(
        service=row.service,
        revisions=row.revisions,
        releases=row.releases,
        route=row.route,
        policy=row.policy,
    )
    decided = planning.plan(observed, T0)
    made_rev = decided.new_revision.metadata.name if decided.new_revision else None
    made_rel = decided.new_release.metadata.name if decided.new_release else None
    assert (made_rev, made_rel) == (row.creates_revision, row.creates_release)
    if decided.new_route is not None:
        split = decided.new_route.spec.traffic
    elif decided.route_spec is not None:
        split = decided.route_spec.traffic
    else:
        split = None
    expected = None
    if row.split is not None:
        expected = [(names.revision_name("web", n), p, t) for n, p, t in row.split]
    assert (
        [(t.revision_name, t.percent, t.tag) for t in split] if split is not None else None
    ) == expected
    assert decided.status.stable_revision == row.stable
    assert decided.garbage == [names.revision_name("web", n) for n in row.garbage]
    assert tuple(reason for reason, _ in decided.events) == row.events


def test_a_release_step_costs_the_service_no_status_write() -> None:
    """While a release runs, the applied traffic in the Service's status is left as it
    was (the Route's status says it): a step changes nothing the Service persists."""
    before = svc("v2", stable="web-00001", policy="canary")
    observed = planning.Observed(
        service=before,
        revisions=[rev(1), rev(2)],
        releases=[rel(2, Phase.PROGRESSING, (50, 50))],
        route=rt((1, 80, "stable"), (2, 20, "canary")),
        policy=POLICY,
    )
    first = planning.plan(observed, T0).status
    moved = dataclasses.replace(observed, service=before.model_copy(update={"status": first}))
    assert planning.plan(moved, T0).status == first


def test_plan_changes_nothing_it_observed() -> None:
    observed = planning.Observed(
        service=svc("v2", stable="web-00001", policy="canary"),
        revisions=[rev(1), rev(2)],
        releases=[rel(2, Phase.PROGRESSING, (80, 20))],
        route=rt((1, 100, None)),
        policy=POLICY,
    )
    frozen = [o.model_dump() for o in (observed.service, *observed.revisions, *observed.releases)]
    planning.plan(observed, T0)
    again = [o.model_dump() for o in (observed.service, *observed.revisions, *observed.releases)]
    assert again == frozen


# --- routing marks and a matched canary (issue 17) ---------------------------------------


def _plan(**kw: Any) -> planning.Plan:
    return planning.plan(planning.Observed(**kw), T0)


def _state(decided: planning.Plan, number: int) -> str | None:
    meta_ = decided.marks.get(names.revision_name("web", number))
    return meta_.labels.get(names.ROUTING_STATE_LABEL) if meta_ is not None else None


@pytest.mark.parametrize(
    ("releases", "route_", "states"),
    [
        pytest.param(
            [rel(2, Phase.PROGRESSING, (80, 20))], rt((1, 80, "stable"), (2, 20, "canary")),
            {1: "active", 2: "active", 3: "reserve"}, id="a-running-release-keeps-both",
        ),
        pytest.param(
            [rel(2, Phase.SUCCEEDED, (0, 100))], rt((2, 100, None)),
            {1: "reserve", 2: "active", 3: "reserve"}, id="promoted-the-old-stable-retires",
        ),
        pytest.param(
            [rel(2, Phase.ROLLED_BACK, (100, 0))], rt((1, 100, None)),
            {1: "active", 2: "reserve", 3: "reserve"}, id="rolled-back-the-canary-retires",
        ),
        pytest.param(
            [rel(2, Phase.ROLLING_BACK, (100, 0))], rt((1, 80, "stable"), (2, 20, "canary")),
            {1: "active", 2: "active", 3: "reserve"}, id="still-rolling-back-still-active",
        ),
    ],
)  # fmt: skip
def test_routing_states(
    releases: list[release.Release], route_: route.Route, states: dict[int, str]
) -> None:
    """Stable, routed and release revisions are active; the others go to reserve."""
    decided = _plan(
        service=svc("v2", stable="web-00001", policy="canary"),
        revisions=[rev(3, "v0"), rev(1), rev(2)],
        releases=releases,
        route=route_,
        policy=POLICY,
    )
    assert {n: _state(decided, n) for n in states} == states
    retired = decided.marks.get(names.revision_name("web", 3))
    assert retired is not None
    assert retired.annotations[names.SCALE_DOWN_DELAY_ANNOTATION] == "30s"


def test_a_new_revision_is_created_active() -> None:
    decided = _plan(
        service=svc("v2", stable="web-00001", policy="canary"),
        revisions=[rev(1)],
        releases=[],
        route=rt((1, 100, None)),
        policy=POLICY,
    )
    assert decided.new_revision is not None
    labels = decided.new_revision.metadata.labels
    assert labels[names.ROUTING_STATE_LABEL] == "active"
    assert decided.new_release is not None


def test_the_services_delay_is_marked_on_reserve_revisions() -> None:
    decided = _plan(
        service=svc("v2", stable="web-00002", policy="canary", scaleDownDelay="2m"),
        revisions=[rev(1), rev(2)],
        releases=[rel(2, Phase.SUCCEEDED, (0, 100))],
        route=rt((2, 100, None)),
        policy=POLICY,
    )
    old = decided.marks[names.revision_name("web", 1)]
    assert old.annotations[names.SCALE_DOWN_DELAY_ANNOTATION] == "2m"


MATCHED = POLICY.spec.model_copy(
    update={"canary_scale": policyspec.CanaryScale(match_weight=True, min_replicas=1)}
)


def sized(number: int, *, min_replicas: int, ready: int) -> revision.Revision:
    """A revision of `min_replicas`, `ready` of them ready (serving when any is)."""
    return revision.Revision.model_validate(
        {
            "metadata": {"name": names.revision_name("web", number), "namespace": "prod"},
            "spec": {
                "service": "web",
                "template": template(f"v{number}"),
                "scaling": {"minReplicas": min_replicas},
            },
            "status": {
                "ready": ready > 0,
                "replicas": ready,
                "readyReplicas": ready,
                "conditions": [{"type": "Active", "status": "True", "reason": "Active"}],
            },
        }
    )


def matched(weights: tuple[int, int], phase: Phase = Phase.PROGRESSING) -> release.Release:
    r = rel(2, phase, weights)
    return r.model_copy(update={"spec": r.spec.model_copy(update={"policy": MATCHED})})


@pytest.mark.parametrize(
    ("weights", "phase", "ready", "current", "split", "count"),
    [
        pytest.param((75, 25), Phase.PROGRESSING, 1, 5, None, 3,
                     id="25pct-waits-for-3-of-10-the-route-keeps-5pct"),
        pytest.param((75, 25), Phase.PROGRESSING, 2, 0, [(1, 100, "stable"), (2, 0, "canary")],
                     3, id="first-weight-waits-too"),
        pytest.param((75, 25), Phase.PROGRESSING, 3, 5, [(1, 75, "stable"), (2, 25, "canary")], 3,
                     id="25pct-with-3-ready-moves"),
        pytest.param((0, 100), Phase.PROMOTING, 5, 50, None, 10,
                     id="promotion-waits-for-full-size"),
        pytest.param((0, 100), Phase.PROMOTING, 10, 50, [(2, 100, None)], 10,
                     id="promotion-at-full-size-moves"),
        pytest.param((100, 0), Phase.ROLLING_BACK, 0, 25, [(1, 100, None)], 1,
                     id="rollback-never-waits"),
        pytest.param((75, 25), Phase.PROGRESSING, 0, 25, [(1, 100, "stable"), (2, 0, "canary")],
                     3, id="lost-its-replicas-loses-its-weight"),
    ],
)  # fmt: skip
def test_a_matched_canary(
    weights: tuple[int, int],
    phase: Phase,
    ready: int,
    current: int,
    split: list[tuple[int, int, str | None]] | None,
    count: int,
) -> None:
    """canaryScale: the canary is asked for its weight's count at once; the weight
    reaches the Route only once its ready replicas can serve it."""
    decided = _plan(
        service=svc("v2", stable="web-00001", policy="canary"),
        revisions=[sized(1, min_replicas=10, ready=10), sized(2, min_replicas=10, ready=ready)],
        releases=[matched(weights, phase)],
        route=rt((1, 100 - current, "stable"), (2, current, "canary"))
        if current
        else rt((1, 100, None)),
        policy=POLICY,
    )
    got = decided.route_spec.traffic if decided.route_spec is not None else None
    want = [(names.revision_name("web", n), p, t) for n, p, t in split] if split else None
    assert ([(t.revision_name, t.percent, t.tag) for t in got] if got else None) == want
    canary = decided.marks[names.revision_name("web", 2)]
    assert canary.annotations[names.CANARY_REPLICAS_ANNOTATION] == str(count)


# --- a Service being deleted (issue 18) -------------------------------------------------


@pytest.mark.parametrize(
    ("route_", "revisions", "releases"),
    [
        pytest.param(None, [], [], id="children-collected"),
        pytest.param(rt((1, 100, None)), [rev(1)], [], id="new-template"),
        pytest.param(None, [rev(1), rev(2)], [], id="release-due"),
    ],
)
def test_a_service_being_deleted_gets_no_children(
    route_: route.Route | None, revisions: list[revision.Revision], releases: list[Any]
) -> None:
    """deletionTimestamp set (foreground deletion, another's finalizer): no revision,
    release or Route is made or changed, nothing collected or marked; only the
    observed generation moves."""
    deleting = svc("v2", stable="web-00001", policy="canary")
    deleting.metadata.deletion_timestamp = T0
    decided = _plan(
        service=deleting, revisions=revisions, releases=releases, route=route_, policy=POLICY
    )
    made = (decided.new_revision, decided.new_release, decided.new_route, decided.route_spec)
    assert made == (None, None, None, None)
    assert (decided.garbage, decided.marks, decided.events) == ([], {}, [])
    assert decided.status == deleting.status.model_copy(update={"observed_generation": 2})


MISSING = {
    "first-deploy": (svc("v1", policy="nope"), [], None, "the next revision will wait for it"),
    "first-revision-ready": (
        svc("v1", policy="nope"), [rev(1)], rt(), "the next revision will wait for it"
    ),
    "steady": (
        svc("v1", stable="web-00001", policy="nope"), [rev(1)], rt((1, 100, None)),
        "the next revision will wait for it",
    ),
    "new-revision-stalls": (
        svc("v2", stable="web-00001", policy="nope"), [rev(1), rev(2)], rt((1, 100, None)),
        "web-00002 waits for it",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("observed", "consequence"), [
    pytest.param(
        planning.Observed(service=s, revisions=r, releases=[], route=t, policy=None), c, id=k
    )
    for k, (s, r, t, c) in MISSING.items()
])  # fmt: skip
def test_a_missing_policy_is_reported_from_the_first_reconcile(
    observed: planning.Observed, consequence: str
) -> None:
    """PolicyNotFound on Ready (and RevisionsReady) at once: at the first deploy, while
    steady, and when a new revision waits — not only once a change stalls on it."""
    decided = planning.plan(observed, T0)
    ready = decided.status.ready_condition()
    assert ready is not None
    assert (ready.status.value, ready.reason) == ("False", "PolicyNotFound")
    assert ready.message == f"RolloutPolicy 'nope' does not exist: {consequence}"


def test_a_policy_that_exists_is_no_problem() -> None:
    """The same Service with its policy stored: its Ready says what else it waits for."""
    observed = planning.Observed(
        service=svc("v1", stable="web-00001", policy="canary"),
        revisions=[rev(1)],
        releases=[],
        route=rt((1, 100, None)),
        policy=POLICY,
    )
    ready = planning.plan(observed, T0).status.ready_condition()
    assert ready is not None
    assert ready.reason == "RoutePending"  # the route of `rt` has no condition yet
