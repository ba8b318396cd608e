"""`wiring.Index.keys_for`: which keys a watch event enqueues, given the events seen
before it. Each case is a history of events, then one event and the keys it maps to.

Rules (wiring's docstring): an event enqueues its own object unless it is status-only
(same generation as last seen; a Revision whose routing marks changed is not); a
Revision also its Service, its Route when the route names it or is not known yet (a
new address or readiness: the split is applied again) and the running release it is
the canary of; a Route its running releases, or its
Service when none runs (of a new spec, only the route hears: its service or its release
wrote it); a Release its Service when it starts, ends or its spec
changes; a Service its running releases when its spec or its newest revision
changed; a RolloutPolicy the services naming it. DELETED forgets what the index
knew."""

from __future__ import annotations

from typing import Any

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
from rollout.api.release import Phase
from rollout.controller import wiring
from rollout.reconcilers import base
from rollout.store import port

ADDED, MODIFIED, DELETED = port.EventType.ADDED, port.EventType.MODIFIED, port.EventType.DELETED
TEMPLATE: dict[str, Any] = {"spec": {"containers": [{"name": "app", "command": ["app"]}]}}
POLICY_SPEC = policyspec.RolloutPolicySpec.model_validate({"steps": [{"setWeight": 50}]})


def _meta(name: str, generation: int, **labels: str) -> meta.ObjectMeta:
    return meta.ObjectMeta(name=name, namespace="default", generation=generation, labels=labels)


def svc(
    name: str = "web", *, policy: str | None = None, gen: int = 1, latest: str | None = None
) -> service.Service:
    return service.Service.model_validate(
        {
            "metadata": _meta(name, gen),
            "spec": {"template": TEMPLATE, "policy": policy},
            "status": {"latestCreatedRevision": latest},
        }
    )


def rev(name: str = "web-00001", *, gen: int = 1, labelled: bool = True) -> revision.Revision:
    owner = name.rsplit("-", 1)[0]
    labels = {names.SERVICE_LABEL: owner} if labelled else {}
    return revision.Revision.model_validate(
        {"metadata": _meta(name, gen, **labels), "spec": {"service": owner, "template": TEMPLATE}}
    )


def marked(state: str, *, modified: str = "2026-01-01T00:00:00Z") -> revision.Revision:
    """web-00001 (generation 1) with routing marks: a metadata change, not a spec one."""
    r = rev()
    labels = {**r.metadata.labels, names.ROUTING_STATE_LABEL: state}
    annotations = {names.ROUTING_STATE_MODIFIED_ANNOTATION: modified}
    metadata = r.metadata.model_copy(update={"labels": labels, "annotations": annotations})
    return r.model_copy(update={"metadata": metadata})


def rt(name: str = "web", *, gen: int = 1, revisions: tuple[str, ...] = ()) -> route.Route:
    return route.Route(
        metadata=_meta(name, gen, **{names.SERVICE_LABEL: name}),
        spec=route.RouteSpec.model_validate(
            {
                "service": name,
                "traffic": [
                    {"revisionName": r, "percent": 100 if i == 0 else 0}
                    for i, r in enumerate(revisions)
                ],
            }
        ),
    )


def rel(
    name: str = "web-00002", *, phase: Phase = Phase.PROGRESSING, gen: int = 1
) -> release.Release:
    service_name = name.split("-")[0]
    return release.Release(
        metadata=_meta(name, gen, **{names.SERVICE_LABEL: service_name}),
        spec=release.ReleaseSpec(
            service=service_name,
            stable_revision=f"{service_name}-00001",
            canary_revision=name[: len(service_name) + 6],
            policy=POLICY_SPEC,
        ),
        status=release.ReleaseStatus(phase=phase),
    )


def pol(name: str = "canary", *, gen: int = 1) -> rolloutpolicy.RolloutPolicy:
    return rolloutpolicy.RolloutPolicy(metadata=_meta(name, gen), spec=POLICY_SPEC)


def event(type_: port.EventType, obj: Any) -> port.WatchEvent:
    return port.WatchEvent(type_, obj, "1")


def k(kind: str, name: str) -> base.Key:
    return base.Key(kind, "default", name)


CASES = [
    # --- Revision and Route: own key, the service, its running releases ---
    pytest.param(
        [],
        event(ADDED, rev()),
        [k("Revision", "web-00001"), k("Service", "web"), k("Route", "web")],
        id="revision-added-no-release",
    ),
    pytest.param(
        [event(ADDED, rel("web-00002")), event(ADDED, rel("api-00002"))],
        event(ADDED, rev("web-00002")),
        [
            k("Revision", "web-00002"),
            k("Service", "web"),
            k("Route", "web"),
            k("Release", "web-00002"),
        ],
        id="revision-added-running-release-of-its-service-only",
    ),
    pytest.param(
        [event(ADDED, rel("web-00002", phase=Phase.ROLLED_BACK)), event(ADDED, rel("web-00003"))],
        event(ADDED, rev("web-00003")),
        [
            k("Revision", "web-00003"),
            k("Service", "web"),
            k("Route", "web"),
            k("Release", "web-00003"),
        ],
        id="revision-finished-release-not-enqueued",
    ),
    pytest.param(
        [event(ADDED, rel("web-00002")), event(MODIFIED, rel("web-00002", phase=Phase.SUCCEEDED))],
        event(ADDED, rev("web-00002")),
        [k("Revision", "web-00002"), k("Service", "web"), k("Route", "web")],
        id="revision-release-finished-since",
    ),
    pytest.param(
        [event(ADDED, rt(revisions=("web-00001",)))],
        event(MODIFIED, rev("web-00002")),
        [k("Revision", "web-00002"), k("Service", "web")],
        id="revision-the-route-does-not-name-leaves-it-alone",
    ),
    pytest.param(
        [event(ADDED, rt(revisions=("web-00001", "web-00002")))],
        event(MODIFIED, rev("web-00002")),
        [k("Revision", "web-00002"), k("Service", "web"), k("Route", "web")],
        id="revision-the-route-names-reapplies-it",
    ),
    pytest.param(
        [event(ADDED, rel("web-00003"))],
        event(MODIFIED, rev("web-00002")),
        [k("Revision", "web-00002"), k("Service", "web"), k("Route", "web")],
        id="revision-not-the-canary-leaves-the-release-alone",
    ),
    pytest.param(
        [],
        event(ADDED, rev("web-00001", labelled=False)),
        [k("Revision", "web-00001"), k("Service", "web"), k("Route", "web")],
        id="revision-service-from-spec-without-label",
    ),
    pytest.param(
        [event(ADDED, rev())],
        event(MODIFIED, marked("reserve")),
        [k("Revision", "web-00001"), k("Service", "web"), k("Route", "web")],
        id="revision-routing-marks-changed-wakes-its-reconciler",
    ),
    pytest.param(
        [event(ADDED, rev()), event(MODIFIED, marked("reserve"))],
        event(MODIFIED, marked("reserve")),
        [k("Service", "web"), k("Route", "web")],
        id="revision-status-only-with-the-same-marks",
    ),
    pytest.param(
        [event(ADDED, marked("reserve"))],
        event(MODIFIED, marked("active", modified="2026-01-01T00:05:00Z")),
        [k("Revision", "web-00001"), k("Service", "web"), k("Route", "web")],
        id="revision-marked-active-again",
    ),
    pytest.param(
        [event(ADDED, rel("web-00002"))],
        event(ADDED, rt()),
        [k("Route", "web"), k("Release", "web-00002")],
        id="route-running-release-told-not-service",
    ),
    pytest.param(
        [event(ADDED, rel("web-00002", phase=Phase.SUCCEEDED))],
        event(ADDED, rt()),
        [k("Route", "web"), k("Service", "web")],
        id="route-no-running-release-service-told",
    ),
    pytest.param(
        [event(ADDED, rel("web-00002")), event(ADDED, rt())],
        event(MODIFIED, rt(gen=2, revisions=("web-00001", "web-00002"))),
        [k("Route", "web")],
        id="route-spec-changed-by-its-running-release-tells-the-route-only",
    ),
    pytest.param(
        [event(ADDED, rt())],
        event(MODIFIED, rt(gen=2, revisions=("web-00001",))),
        [k("Route", "web")],
        id="route-spec-changed-by-its-service-tells-the-route-only",
    ),
    pytest.param(
        [event(ADDED, rel("web-00002")), event(ADDED, rt())],
        event(DELETED, rt()),
        [k("Route", "web"), k("Release", "web-00002")],
        id="route-deleted-under-a-running-release-tells-it",
    ),
    # --- Release: own key and its service ---
    pytest.param(
        [],
        event(ADDED, rel()),
        [k("Release", "web-00002"), k("Service", "web")],
        id="release-added",
    ),
    pytest.param(
        [event(ADDED, rel())],
        event(MODIFIED, rel(gen=2)),
        [k("Release", "web-00002"), k("Service", "web")],
        id="release-spec-changed",
    ),
    # --- Service: own key and its running releases ---
    pytest.param([], event(ADDED, svc()), [k("Service", "web")], id="service-added"),
    pytest.param(
        [event(ADDED, rel("web-00002"))],
        event(MODIFIED, svc(gen=2)),
        [k("Service", "web"), k("Release", "web-00002")],
        id="service-spec-changed-running-release",
    ),
    # --- RolloutPolicy: the services naming it ---
    pytest.param(
        [
            event(ADDED, svc("web", policy="canary")),
            event(ADDED, svc("api", policy="canary")),
            event(ADDED, svc("db", policy="other")),
            event(ADDED, svc("batch")),
        ],
        event(MODIFIED, pol("canary", gen=2)),
        [k("RolloutPolicy", "canary"), k("Service", "api"), k("Service", "web")],
        id="policy-services-naming-it",
    ),
    pytest.param([], event(ADDED, pol()), [k("RolloutPolicy", "canary")], id="policy-no-service"),
    pytest.param(
        [
            event(ADDED, svc("web", policy="canary")),
            event(MODIFIED, svc("web", policy="other", gen=2)),
        ],
        event(MODIFIED, pol("canary", gen=2)),
        [k("RolloutPolicy", "canary")],
        id="policy-service-switched-away",
    ),
    # --- status-only writes: dependents only ---
    pytest.param(
        [event(ADDED, rel("web-00002")), event(ADDED, rev("web-00002"))],
        event(MODIFIED, rev("web-00002")),
        [k("Service", "web"), k("Route", "web"), k("Release", "web-00002")],
        id="status-only-revision",
    ),
    pytest.param(
        [event(ADDED, rel())],
        event(MODIFIED, rel(phase=Phase.PAUSED)),
        [],
        id="status-only-release-progress-wakes-nobody",
    ),
    pytest.param(
        [event(ADDED, rel())],
        event(MODIFIED, rel(phase=Phase.SUCCEEDED)),
        [k("Service", "web")],
        id="status-only-release-ending-wakes-service",
    ),
    pytest.param([event(ADDED, svc())], event(MODIFIED, svc()), [], id="status-only-service"),
    pytest.param(
        [event(ADDED, rel("web-00002")), event(ADDED, svc(latest="web-00002"))],
        event(MODIFIED, svc(latest="web-00002")),
        [],
        id="status-only-service-same-newest-revision-release-not-told",
    ),
    pytest.param(
        [event(ADDED, rel("web-00002")), event(ADDED, svc(latest="web-00002"))],
        event(MODIFIED, svc(latest="web-00003")),
        [k("Release", "web-00002")],
        id="status-only-service-newer-revision-release-told",
    ),
    pytest.param(
        [event(ADDED, rel("web-00002"))],
        event(MODIFIED, svc(latest="web-00002")),
        [k("Service", "web"), k("Release", "web-00002")],
        id="service-first-seen-release-told",
    ),
    pytest.param(
        [event(ADDED, rel()), event(ADDED, rt())],
        event(MODIFIED, rt()),
        [k("Release", "web-00002")],
        id="status-only-route-running-release",
    ),
    pytest.param(
        [event(ADDED, rt())],
        event(MODIFIED, rt()),
        [k("Service", "web")],
        id="status-only-route-no-release",
    ),
    pytest.param(
        [],
        event(MODIFIED, rev("web-00001")),
        [k("Revision", "web-00001"), k("Service", "web"), k("Route", "web")],
        id="modified-never-seen-is-not-status-only",
    ),
    # --- DELETED forgets ---
    pytest.param(
        [event(ADDED, rel("web-00002")), event(DELETED, rel("web-00002"))],
        event(ADDED, rev("web-00002")),
        [k("Revision", "web-00002"), k("Service", "web"), k("Route", "web")],
        id="deleted-release-forgotten",
    ),
    pytest.param(
        [event(ADDED, svc("web", policy="canary")), event(DELETED, svc("web", policy="canary"))],
        event(MODIFIED, pol("canary", gen=2)),
        [k("RolloutPolicy", "canary")],
        id="deleted-service-forgotten-by-policy",
    ),
    pytest.param(
        [event(ADDED, rev()), event(DELETED, rev())],
        event(MODIFIED, rev()),
        [k("Revision", "web-00001"), k("Service", "web"), k("Route", "web")],
        id="deleted-generation-forgotten",
    ),
    pytest.param(
        [event(ADDED, rel())],
        event(DELETED, rel()),
        [k("Release", "web-00002"), k("Service", "web")],
        id="deleted-release-enqueues-itself-and-service",
    ),
]


@pytest.mark.parametrize(("before", "ev", "expected"), CASES)
def test_keys_for(
    before: list[port.WatchEvent], ev: port.WatchEvent, expected: list[base.Key]
) -> None:
    """The keys an event enqueues, after the index has seen `before`."""
    index = wiring.Index()
    for earlier in before:
        index.keys_for(earlier)
    assert index.keys_for(ev) == expected


def test_namespaces_are_kept_apart() -> None:
    """A release in another namespace is not enqueued for a revision of the same name."""
    index = wiring.Index()
    other = rel()
    other = other.model_copy(
        update={"metadata": other.metadata.model_copy(update={"namespace": "staging"})}
    )
    index.keys_for(event(ADDED, other))
    assert index.keys_for(event(ADDED, rev("web-00002"))) == [
        k("Revision", "web-00002"),
        k("Service", "web"),
        k("Route", "web"),
    ]


def _with_status(r: release.Release, **status: Any) -> release.Release:
    return r.model_copy(update={"status": r.status.model_copy(update=status)})


def test_a_release_asking_for_other_rules_wakes_its_service() -> None:
    """A step that only sets a header route (same weights): the Service hears it, as it
    hears new weights — it is the one writer of the Route's spec (issue 20)."""
    index = wiring.Index()
    weights = release.Weights(stable=100, canary=0)
    running = _with_status(rel(), weights=weights)
    index.keys_for(event(ADDED, running))
    header = {
        "name": "beta",
        "match": [{"header": "X-Beta", "exact": "1"}],
        "revisionName": "web-00002",
    }
    routed = _with_status(running, header_routes=[matching.HeaderRoute.model_validate(header)])
    assert index.keys_for(event(MODIFIED, routed)) == [k("Service", "web")]
    assert index.keys_for(event(MODIFIED, routed)) == []  # nothing new asked
