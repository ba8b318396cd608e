"""The Service reconciler's pure builders: revision and release names and objects,
which release is the latest, which revisions to collect, and the Ready conditions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollout.api import (
    condition,
    meta,
    names,
    policyspec,
    release,
    revision,
    rolloutpolicy,
    service,
)
from rollout.reconcilers.service import builders

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def template(version: str = "v1") -> dict[str, Any]:
    return {
        "spec": {
            "containers": [
                {"name": "app", "command": ["app"], "env": [{"name": "VERSION", "value": version}]}
            ]
        }
    }


def stored_service(
    name: str = "web", *, latest: str | None = None, namespace: str = "prod", **spec: Any
) -> service.Service:
    """A Service as the store returns it: uid, generation, namespace set."""
    return service.Service.model_validate(
        {
            "metadata": {"name": name, "namespace": namespace, "uid": "uid-web", "generation": 3},
            "spec": {"template": template(), **spec},
            "status": {"latestCreatedRevision": latest},
        }
    )


def rev(name: str) -> revision.Revision:
    return revision.Revision.model_validate(
        {
            "metadata": {"name": name, "namespace": "prod"},
            "spec": {"service": name.rsplit("-", 1)[0], "template": template()},
        }
    )


POLICY = rolloutpolicy.RolloutPolicy(
    metadata=meta.ObjectMeta(name="canary", namespace="prod"),
    spec=policyspec.RolloutPolicySpec.model_validate(
        {"steps": [{"setWeight": 20}, {"pause": {"duration": "1m"}}]}
    ),
)


def rel(canary: str, attempt: int | None = None, *, created: int = 0) -> release.Release:
    annotations = {} if attempt is None else {names.ATTEMPT_ANNOTATION: str(attempt)}
    return release.Release(
        metadata=meta.ObjectMeta(
            name=f"{canary}-{attempt}" if attempt else canary,
            annotations=annotations,
            creation_timestamp=T0 + timedelta(seconds=created),
        ),
        spec=release.ReleaseSpec(service="web", canary_revision=canary, policy=POLICY.spec),
    )


# --- names and numbers --------------------------------------------------------------


@pytest.mark.parametrize(
    ("latest", "existing", "expected"),
    [
        pytest.param(None, [], 1, id="first"),
        pytest.param(None, ["web-00001", "web-00002"], 3, id="from-revisions"),
        pytest.param("web-00007", ["web-00002"], 8, id="status-remembers-collected"),
        pytest.param("web-00002", ["web-00001", "web-00005"], 6, id="revisions-ahead-of-status"),
        pytest.param("web-00003", ["web-00003", "web-00001"], 4, id="unsorted"),
    ],
)
def test_next_number(latest: str | None, existing: list[str], expected: int) -> None:
    """One past the highest number in the status or among existing revisions."""
    svc = stored_service(latest=latest)
    assert builders.next_number(svc, [rev(n) for n in existing]) == expected


# --- make_revision ------------------------------------------------------------------


def test_make_revision_labels_and_owner() -> None:
    """Named from the number, labelled with service and revision, owned by the service."""
    svc = stored_service()
    made = builders.make_revision(svc, 4)
    assert made.metadata.name == "web-00004"
    assert made.metadata.namespace == "prod"
    assert made.metadata.labels == {
        names.SERVICE_LABEL: "web",
        names.REVISION_LABEL: "web-00004",
    }
    (owner,) = made.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid) == ("Service", "web", "uid-web")
    assert owner.controller is True
    assert owner.block_owner_deletion is True


def test_make_revision_takes_template_generation_and_deadline() -> None:
    """The revision holds the service's template, generation and progress deadline."""
    svc = stored_service(progressDeadline="3m")
    made = builders.make_revision(svc, 1)
    assert made.spec.service == "web"
    assert made.spec.template == svc.spec.template
    assert made.spec.service_generation == 3
    assert made.spec.progress_deadline == timedelta(minutes=3)


def test_make_revision_does_not_share_the_template_with_the_service() -> None:
    """Changing the service's template after the build leaves the revision's as it was."""
    svc = stored_service()
    made = builders.make_revision(svc, 1)
    svc.spec.template.spec["containers"][0]["env"][0]["value"] = "v2"
    assert made.spec.template.spec["containers"][0]["env"][0]["value"] == "v1"


def test_make_revision_copies_only_the_source_dir_annotation() -> None:
    """Where the Service was applied from goes with each revision (the local platform's
    relative paths); its other annotations do not."""
    svc = stored_service()
    annotations = {names.SOURCE_DIR_ANNOTATION: "/src/shop", "team": "payments"}
    svc = svc.model_copy(
        update={"metadata": svc.metadata.model_copy(update={"annotations": annotations})}
    )
    made = builders.make_revision(svc, 1)
    assert made.metadata.annotations == {names.SOURCE_DIR_ANNOTATION: "/src/shop"}
    assert builders.make_revision(stored_service(), 1).metadata.annotations == {}


def test_make_revision_needs_a_stored_service() -> None:
    """A service without a uid cannot own anything."""
    svc = stored_service()
    svc = svc.model_copy(update={"metadata": svc.metadata.model_copy(update={"uid": None})})
    with pytest.raises(AssertionError, match="stored"):
        builders.make_revision(svc, 1)


# --- make_release -------------------------------------------------------------------


def test_make_release_snapshots_the_policy() -> None:
    """The release names the policy and carries a copy of its spec."""
    made = builders.make_release(
        stored_service(), POLICY, stable="web-00001", canary="web-00002", attempt=1
    )
    assert made.metadata.name == "web-00002"
    assert made.metadata.namespace == "prod"
    assert made.spec.service == "web"
    assert (made.spec.stable_revision, made.spec.canary_revision) == ("web-00001", "web-00002")
    assert made.spec.policy_name == "canary"
    assert made.spec.policy == POLICY.spec
    assert made.status.phase is release.Phase.PENDING


def test_make_release_does_not_share_the_policy_spec() -> None:
    """Editing the policy object after the build leaves the release's snapshot as it was."""
    policy = POLICY.model_copy(deep=True)
    made = builders.make_release(
        stored_service(), policy, stable="web-00001", canary="web-00002", attempt=1
    )
    policy.spec.progress_deadline = timedelta(hours=5)
    assert made.spec.policy == POLICY.spec


@pytest.mark.parametrize(
    ("attempt", "name"),
    [
        pytest.param(1, "web-00002", id="first"),
        pytest.param(3, "web-00002-3", id="third"),
    ],
)
def test_make_release_records_its_attempt(attempt: int, name: str) -> None:
    """The attempt is in the name and in the `rollout.dev/attempt` annotation."""
    made = builders.make_release(
        stored_service(), POLICY, stable="web-00001", canary="web-00002", attempt=attempt
    )
    assert made.metadata.name == name
    assert made.metadata.annotations == {names.ATTEMPT_ANNOTATION: str(attempt)}


def test_make_release_labels_and_owner() -> None:
    """Labelled with its service (so the service can list it) and owned by it."""
    made = builders.make_release(
        stored_service(), POLICY, stable="web-00001", canary="web-00002", attempt=1
    )
    assert made.metadata.labels == {names.SERVICE_LABEL: "web"}
    (owner,) = made.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid) == ("Service", "web", "uid-web")


# --- latest_release -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("releases", "canary", "expected"),
    [
        pytest.param([], None, None, id="none"),
        pytest.param([rel("web-00002")], None, "web-00002", id="one"),
        pytest.param(
            [rel("web-00003"), rel("web-00002", 2), rel("web-00002", 1)],
            None,
            "web-00003",
            id="highest-canary-first",
        ),
        pytest.param(
            [rel("web-00002", 2), rel("web-00002", 1)], None, "web-00002-2", id="then-attempt"
        ),
        pytest.param(
            [rel("web-00002", 10), rel("web-00002", 9)], None, "web-00002-10", id="attempt-numeric"
        ),
        pytest.param(
            [rel("web-00002"), rel("web-00002", 2, created=-60)],
            None,
            "web-00002-2",
            id="attempt-beats-creation-time",
        ),
        pytest.param(
            [rel("web-00010"), rel("web-00009", 5)], None, "web-00010", id="canary-numeric"
        ),
        pytest.param(
            [rel("web-00003"), rel("web-00002", 2), rel("web-00002")],
            "web-00002",
            "web-00002-2",
            id="of-a-canary",
        ),
        pytest.param([rel("web-00003")], "web-00002", None, id="none-of-that-canary"),
    ],
)
def test_latest_release(
    releases: list[release.Release], canary: str | None, expected: str | None
) -> None:
    """The most recent release: highest canary number, then highest attempt."""
    found = builders.latest_release(releases, canary)
    assert (found.metadata.name if found else None) == expected


# --- select_garbage -----------------------------------------------------------------


def nums(*numbers: int) -> list[str]:
    return [names.revision_name("web", n) for n in numbers]


@pytest.mark.parametrize(
    ("existing", "keep", "limit", "deleted"),
    [
        pytest.param(nums(1, 2, 3), set(), 5, [], id="under-the-limit"),
        pytest.param(nums(1, 2, 3, 4, 5), set(), 2, nums(3, 2, 1), id="oldest-go"),
        pytest.param(nums(1, 2, 3, 4, 5), set(nums(1, 5)), 2, nums(2), id="kept-not-counted"),
        pytest.param(nums(1, 2, 3), set(nums(1)), 0, nums(3, 2), id="limit-zero"),
        pytest.param(nums(1, 2), set(nums(1, 2)), 0, [], id="all-kept"),
        pytest.param(nums(9, 10, 11, 100), set(), 2, nums(10, 9), id="numeric-order"),
        pytest.param(nums(5, 1, 4, 2, 3), set(), 1, nums(4, 3, 2, 1), id="unsorted-input"),
    ],
)
def test_select_garbage(
    existing: list[str], keep: set[str], limit: int, deleted: list[str]
) -> None:
    """All but the kept and the `limit` most recent others, newest first."""
    found = builders.select_garbage([rev(n) for n in existing], keep=keep, limit=limit)
    assert found == deleted
    assert not set(found) & keep


# --- ServiceStatus.mark_readiness --------------------------------------------------


def ready_condition(
    conditions: list[condition.Condition],
    *,
    revisions_ready: tuple[bool, str, str],
    routes_ready: tuple[bool, str, str],
    now: datetime,
    generation: int,
) -> list[condition.Condition]:
    status = service.ServiceStatus(conditions=list(conditions))
    status.mark_readiness(
        revisions=revisions_ready, routes=routes_ready, now=now, generation=generation
    )
    return status.conditions


OK = (True, "Ready", "")
NOT_READY = (False, "Starting", "waiting for web-00002")
NOT_ROUTED = (False, "TrafficNotApplied", "the router has 90/10, wants 50/50")


@pytest.mark.parametrize(
    ("revisions", "routes", "ready"),
    [
        pytest.param(OK, OK, ("True", "Ready", ""), id="both-ready"),
        pytest.param(NOT_READY, OK, ("False", *NOT_READY[1:]), id="revisions-not-ready"),
        pytest.param(OK, NOT_ROUTED, ("False", *NOT_ROUTED[1:]), id="routes-not-ready"),
        pytest.param(NOT_READY, NOT_ROUTED, ("False", *NOT_READY[1:]), id="revisions-first"),
    ],
)
def test_ready_condition(
    revisions: tuple[bool, str, str], routes: tuple[bool, str, str], ready: tuple[str, str, str]
) -> None:
    """RevisionsReady and RoutesReady as given; Ready is both, with the first failure."""
    found = ready_condition(
        [], revisions_ready=revisions, routes_ready=routes, now=T0, generation=4
    )
    by_type = {c.type: c for c in found}
    assert list(by_type) == ["RevisionsReady", "RoutesReady", "Ready"]
    for type_, (ok, reason, message) in (("RevisionsReady", revisions), ("RoutesReady", routes)):
        c = by_type[type_]
        assert (c.status.value, c.reason, c.message) == (str(ok), reason, message)
    c = by_type["Ready"]
    assert (c.status.value, c.reason, c.message) == ready
    assert {c.observed_generation for c in found} == {4}


def test_ready_condition_keeps_transition_time_and_other_conditions() -> None:
    """An unchanged status keeps its lastTransitionTime; other conditions stay."""
    other = condition.Condition(type="Custom", status=condition.ConditionStatus.TRUE)
    first = ready_condition([other], revisions_ready=OK, routes_ready=OK, now=T0, generation=1)
    later = T0 + timedelta(minutes=5)
    second = ready_condition(
        first, revisions_ready=OK, routes_ready=NOT_ROUTED, now=later, generation=2
    )
    by_type = {c.type: c for c in second}
    assert by_type["Custom"] == other
    assert by_type["RevisionsReady"].last_transition_time == T0
    assert by_type["RoutesReady"].last_transition_time == later
    assert by_type["Ready"].last_transition_time == later
