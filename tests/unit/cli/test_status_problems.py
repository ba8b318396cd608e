"""Why a service is not where it should be (`rollout.views.problems`): the problems
gathered from the conditions of the Service, its Revisions, its Route and its Release
and from the controller's heartbeat; `ready` (READY of `get services`); the events of a
service (`rollout.views.events`) and the bounds of the event journal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollout.api import policyspec, release, revision, route, service
from rollout.api.release import PauseReason, Phase
from rollout.store import eventlog
from rollout.views import events as event_view
from rollout.views import problems

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
POLICY = policyspec.RolloutPolicySpec.model_validate(
    {"steps": [{"setWeight": 10}, {"pause": {}}, {"setWeight": 50}]}
)


def cond(type_: str, status: str, reason: str, message: str = "", gen: int | None = 1) -> Any:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": gen,
    }


def svc(*conditions: Any, generation: int = 1, traffic: Any = None) -> service.Service:
    spec: dict[str, Any] = {
        "template": {"spec": {"containers": [{"name": "app", "command": ["app"]}]}},
        "policy": "gate",
    }
    if traffic is not None:
        spec = {**spec, "policy": None, "traffic": traffic}
    return service.Service.model_validate(
        {
            "metadata": {"name": "web", "generation": generation},
            "spec": spec,
            "status": {
                "observedGeneration": generation,
                "latestCreatedRevision": "web-00002",
                "stableRevision": "web-00001",
                "conditions": list(conditions),
            },
        }
    )


def rev(name: str, *conditions: Any, restarts: int = 0) -> revision.Revision:
    return revision.Revision.model_validate(
        {
            "metadata": {"name": name, "generation": 1},
            "spec": {
                "service": "web",
                "template": {"spec": {"containers": [{"name": "app", "command": ["app"]}]}},
            },
            "status": {"restarts": restarts, "conditions": list(conditions)},
        }
    )


def rt(*conditions: Any, traffic: Any = ()) -> route.Route:
    return route.Route.model_validate(
        {
            "metadata": {"name": "web", "generation": 1},
            "spec": {"service": "web", "traffic": list(traffic)},
            "status": {"conditions": list(conditions)},
        }
    )


def rel(phase: Phase, pause: PauseReason | None = None, message: str = "") -> release.Release:
    return release.Release.model_validate(
        {
            "metadata": {"name": "web-00002", "generation": 1},
            "spec": {
                "service": "web",
                "stableRevision": "web-00001",
                "canaryRevision": "web-00002",
                "policy": POLICY.model_dump(by_alias=True, mode="json"),
            },
            "status": {"phase": phase, "pauseReason": pause, "message": message},
        }
    )


def found(**kwargs: Any) -> list[tuple[str, str, bool]]:
    subject = kwargs.pop("svc", None) or svc()
    return [(p.source, p.reason, p.blocking) for p in problems.gather(subject, **kwargs)]


CRASH = "exited with code 3 after 5 restarts; last log lines:\nboom"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param({}, [], id="nothing-wrong"),
        pytest.param(
            {"svc": svc(cond("Ready", "False", "PolicyNotFound", "RolloutPolicy 'x' ..."))},
            [("Service/web", "PolicyNotFound", True)],
            id="policy-not-found",
        ),
        pytest.param(
            {"svc": svc(cond("Ready", "False", "RevisionMissing", "names web-00009"))},
            [("Service/web", "RevisionMissing", True)],
            id="revision-missing-from-a-split",
        ),
        pytest.param(
            {"svc": svc(cond("Ready", "False", "InvalidSpec", "spec.port: ..."))},
            [("Service/web", "InvalidSpec", True)],
            id="invalid-spec",
        ),
        pytest.param(
            {"svc": svc(cond("Ready", "False", "CrashLoop", "web-00002: ..."))},
            [],
            id="a-reason-passed-through-is-listed-from-its-object",
        ),
        pytest.param(
            {"svc": svc(cond("Ready", "False", "PolicyNotFound", "x", gen=1), generation=2)},
            [],
            id="a-condition-of-an-older-generation-is-not-a-problem",
        ),
        pytest.param(
            {"revisions": [rev("web-00002", cond("Ready", "False", "CrashLoop", CRASH))]},
            [("Revision/web-00002", "CrashLoop", True)],
            id="latest-revision-crash-looping-blocks",
        ),
        pytest.param(
            {"revisions": [rev("web-00001", cond("Ready", "False", "CrashLoop", CRASH))]},
            [("Revision/web-00001", "CrashLoop", False)],
            id="stable-revision-failed-is-shown",
        ),
        pytest.param(
            {"revisions": [rev("web-00002", cond("Ready", "Unknown", "Restarting", "exited"))]},
            [("Revision/web-00002", "Restarting", False)],
            id="revision-restarting",
        ),
        pytest.param(
            {"revisions": [rev("web-00002", cond("Ready", "Unknown", "Starting", ""))]},
            [],
            id="revision-starting-is-no-problem",
        ),
        pytest.param(
            {"revisions": [rev("web-00000", cond("Ready", "False", "CrashLoop", "old"))]},
            [],
            id="a-revision-that-does-not-matter",
        ),
        pytest.param(
            {"rt": rt(cond("ReconcileError", "True", "ProxyError", "Address already in use"))},
            [("Route/web", "ProxyError", False)],
            id="port-in-use",
        ),
        pytest.param(
            {"rt": rt(cond("Ready", "False", "ProxyDown", "connection refused"))},
            [("Route/web", "ProxyDown", False)],
            id="proxy-down",
        ),
        pytest.param(
            {"rel": rel(Phase.PAUSED, PauseReason.CONFIRMATION, "waiting for confirm-rollout")},
            [("Release/web-00002", "WaitingOnGate", False)],
            id="waiting-on-a-gate",
        ),
        pytest.param(
            {"rel": rel(Phase.PAUSED, PauseReason.PROMOTION, "run rollout promote")},
            [],
            id="a-pause-step-is-the-plan",
        ),
        pytest.param(
            {"rel": rel(Phase.PAUSED, PauseReason.ERRORS, "provider errors")},
            [("Release/web-00002", "PausedOnErrors", False)],
            id="paused-on-errors",
        ),
    ],
)
def test_gather(kwargs: dict[str, Any], expected: list[tuple[str, str, bool]]) -> None:
    """One problem per cause, from the object that has it, blocking when nobody but a
    person can move the service on."""
    assert found(**kwargs) == expected


def test_a_problem_keeps_the_condition_message_and_counts_restarts() -> None:
    """Reason and message as the condition writes them (the log's lines included); the
    restart count added when the message does not say it."""
    (crash,) = problems.gather(
        svc(), revisions=[rev("web-00002", cond("Ready", "False", "CrashLoop", CRASH))]
    )
    assert crash.to_json() == {
        "source": "Revision/web-00002",
        "reason": "CrashLoop",
        "message": CRASH,
    }
    restarting = rev("web-00002", cond("Ready", "Unknown", "Restarting", "exited"), restarts=4)
    (again,) = problems.gather(svc(), revisions=[restarting])
    assert again.text() == "Revision/web-00002: Restarting: exited (4 restarts)"


def test_a_missing_policy_that_exists_now_does_not_block() -> None:
    """Created after the Service was reconciled: the controller has not caught up."""
    subject = svc(cond("Ready", "False", "PolicyNotFound", "RolloutPolicy 'gate' ..."))
    (missing,) = problems.gather(subject, policy_found=True)
    assert not missing.blocking
    assert "the controller has not caught up" in missing.message


def beat(at: datetime | None, *, now: datetime = T0, since: datetime | None = None) -> Any:
    return problems.Heartbeat(
        at=at, now=now, period=2, stale_after=6, grace=30, watching_since=since, where="/s"
    )


@pytest.mark.parametrize(
    ("heartbeat", "expected"),
    [
        pytest.param(beat(T0 - timedelta(seconds=5)), None, id="fresh"),
        pytest.param(
            beat(T0 - timedelta(seconds=7)),
            ("no controller seen for 7s (its heartbeat is due every 2s)", False),
            id="stale-warns",
        ),
        pytest.param(
            beat(T0 - timedelta(seconds=31)),
            ("no controller seen for 31s (its heartbeat is due every 2s)", True),
            id="past-the-grace-blocks",
        ),
        pytest.param(beat(None), ("no controller seen (no heartbeat in /s)", False), id="never"),
        pytest.param(
            beat(None, since=T0 - timedelta(seconds=31)),
            ("no controller seen (no heartbeat in /s)", True),
            id="never-while-watching-past-the-grace",
        ),
    ],
)
def test_heartbeat(heartbeat: problems.Heartbeat, expected: tuple[str, bool] | None) -> None:
    """No controller is seen when its heartbeat is older than stale_after (3 periods);
    it blocks past the grace period (counted from the watch when none was ever seen)."""
    (*got,) = problems.gather(svc(), heartbeat=heartbeat)
    if expected is None:
        assert got == []
        return
    (p,) = got
    assert (p.source, p.reason) == ("controller", "NoController")
    assert p.message.startswith(expected[0])
    assert p.blocking is expected[1]


@pytest.mark.parametrize(
    ("service_ready", "route_ready", "expected"),
    [
        pytest.param("True", "True", "True", id="both"),
        pytest.param("True", "False", "False", id="proxy-down"),
        pytest.param("True", None, "False", id="no-route"),
        pytest.param("False", "True", "False", id="service-not-ready"),
        pytest.param("Unknown", "True", "Unknown", id="unknown"),
    ],
)
def test_ready_of_get_services(service_ready: str, route_ready: str | None, expected: str) -> None:
    """READY is True only while the Route is Ready too."""
    subject = svc(cond("Ready", service_ready, "Ready"))
    found_route = (
        rt(cond("Ready", route_ready, "TrafficApplied" if route_ready == "True" else "ProxyDown"))
        if route_ready is not None
        else None
    )
    assert problems.ready(subject, found_route) == expected


# --- events ----------------------------------------------------------------------------


def event(kind: str, name: str, at: datetime = T0, namespace: str = "default") -> Any:
    return eventlog.Event(kind, namespace, name, "Reason", f"{kind} {name}", False, at)


def test_of_service_picks_the_service_and_its_children() -> None:
    """The Service, its Route, its Revisions and Releases (a retry too); not another
    service whose name starts the same, nor another namespace."""
    events = [
        event("Service", "web"),
        event("Route", "web"),
        event("Revision", "web-00002"),
        event("Release", "web-00002-2"),
        event("Service", "web-api"),
        event("Revision", "web-api-00001"),
        event("Service", "web", namespace="other"),
    ]
    picked = event_view.of_service(events, "web", "default")
    assert [(e.kind, e.name) for e in picked] == [
        ("Service", "web"),
        ("Route", "web"),
        ("Revision", "web-00002"),
        ("Release", "web-00002-2"),
    ]


def test_the_journal_is_bounded_per_object_and_by_age() -> None:
    """The last `keep` events of each object, none older than the TTL, order kept."""
    old = event("Service", "web", T0 - eventlog.TTL - timedelta(seconds=1))
    many = [event("Revision", "web-00001", T0 + timedelta(seconds=i)) for i in range(5)]
    other = event("Route", "web", T0)
    kept = eventlog.bounded([old, *many, other], now=T0 + timedelta(seconds=10), keep=3)
    assert kept == [*many[2:], other]
