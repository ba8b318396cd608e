"""In effect, not just stored (issue 18, finding 2): what a stored HTTPRoute's
`status.parents` or a VirtualService's Istio status says about its current generation
(`gateway_api.in_effect`, `istio.in_effect`), tables of status in → problem out; and
how soon the Route reconciler asks again about a route not in effect."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollout.api import condition, route, routing
from rollout.platforms.kubernetes import gateway_api, istio
from rollout.reconcilers import route as route_reconciler

CTL = "example.net/gateway"
PUBLIC = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "public"}


def cond(type_: str, status: str = "True", gen: int | None = 3, **more: str) -> dict[str, Any]:
    found: dict[str, Any] = {"type": type_, "status": status, **more}
    if gen is not None:
        found["observedGeneration"] = gen
    return found


def parent(*conditions: dict[str, Any], ref: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "parentRef": ref or {"name": "public"},
        "controllerName": CTL,
        "conditions": [*conditions],
    }


def httproute(
    parents: list[dict[str, Any]] | None, refs: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "metadata": {"name": "web", "namespace": "default", "generation": 3},
        "spec": {"parentRefs": [PUBLIC] if refs is None else refs, "rules": []},
    }
    if parents is not None:
        obj["status"] = {"parents": parents}
    return obj


REFUSED = cond("Accepted", "False", reason="NotAllowedByListeners", message="no listener for web")
UNRESOLVED = cond("ResolvedRefs", "False", reason="BackendNotFound", message="no web-00002")
OTHER_NS = {"name": "public", "namespace": "infra"}

HTTPROUTE_CASES: dict[str, tuple[dict[str, Any], str | None, str]] = {
    # name: (stored HTTPRoute, expected reason (None: in effect), in the message)
    "accepted-and-resolved": (
        httproute([parent(cond("Accepted"), cond("ResolvedRefs"))]),
        None,
        "",
    ),
    "defaults-left-out-of-the-ref": (
        httproute([parent(cond("Accepted"), cond("ResolvedRefs"))], refs=[{"name": "public"}]),
        None,
        "",
    ),
    "no-status-yet": (httproute(None), "RoutePending", "gateway default/public"),
    "another-parent-reported": (
        httproute([parent(cond("Accepted"), cond("ResolvedRefs"), ref=OTHER_NS)]),
        "RoutePending",
        "no gateway controller has reported on gateway default/public",
    ),
    "older-generation": (
        httproute([parent(cond("Accepted", gen=2), cond("ResolvedRefs", gen=2))]),
        "RoutePending",
        "generation 3 of the route (it reports generation 2)",
    ),
    "no-observed-generation": (
        httproute([parent(cond("Accepted", gen=None), cond("ResolvedRefs", gen=None))]),
        "RoutePending",
        "generation 3",
    ),
    "refused": (
        httproute([parent(REFUSED, cond("ResolvedRefs"))]),
        "RouteNotAccepted",
        "gateway default/public did not accept the route: NotAllowedByListeners: no listener",
    ),
    "refused-for-an-older-generation-is-pending": (
        httproute([parent({**REFUSED, "observedGeneration": 2}, cond("ResolvedRefs"))]),
        "RoutePending",
        "generation 3",
    ),
    "backend-not-found": (
        httproute([parent(cond("Accepted"), UNRESOLVED)]),
        "RouteRefsNotResolved",
        "cannot resolve the route's references: BackendNotFound: no web-00002",
    ),
    "accepted-unknown": (
        httproute([parent(cond("Accepted", "Unknown"), cond("ResolvedRefs"))]),
        "RoutePending",
        "Accepted=Unknown",
    ),
    "one-of-two-parents-refuses": (
        httproute(
            [parent(cond("Accepted"), cond("ResolvedRefs")), parent(REFUSED, ref=OTHER_NS)],
            refs=[PUBLIC, OTHER_NS],
        ),
        "RouteNotAccepted",
        "gateway infra/public",
    ),
    "a-refusal-wins-over-a-pending-parent": (
        httproute([parent(REFUSED, ref=OTHER_NS)], refs=[PUBLIC, OTHER_NS]),
        "RouteNotAccepted",
        "NotAllowedByListeners",
    ),
    "no-parent-refs": (httproute(None, refs=[]), "NoParentRefs", "attaches to no gateway"),
}


@pytest.mark.parametrize("name", list(HTTPROUTE_CASES), ids=list(HTTPROUTE_CASES))
def test_an_httproute_is_in_effect_only_when_every_parent_accepts_its_generation(
    name: str,
) -> None:
    obj, reason, said = HTTPROUTE_CASES[name]
    problem = gateway_api.in_effect(obj)
    assert (problem.reason if problem else None) == reason
    if problem is not None:
        assert said in problem.message


def vs(status: dict[str, Any] | None) -> dict[str, Any]:
    obj: dict[str, Any] = {"metadata": {"name": "web", "generation": 4}, "spec": {}}
    if status is not None:
        obj["status"] = status
    return obj


RECONCILED = {"type": "Reconciled", "status": "True"}
ISTIO_CASES: dict[str, tuple[dict[str, Any], str | None, str]] = {
    "status-writing-off": (vs(None), None, ""),
    "only-analysis": (
        vs({"conditions": [{"type": "PassedAnalysis", "status": "True"}]}),
        None,
        "",
    ),
    "reconciled": (vs({"observedGeneration": 4, "conditions": [RECONCILED]}), None, ""),
    "reconciled-an-older-generation": (
        vs({"observedGeneration": "3", "conditions": [RECONCILED]}),
        "RoutePending",
        "generation 4 of the VirtualService (it reports generation 3)",
    ),
    "still-propagating": (
        vs(
            {
                "observedGeneration": 4,
                "conditions": [
                    {
                        "type": "Reconciled",
                        "status": "False",
                        "reason": "stillPropagating",
                        "message": "61/122 complete",
                    }
                ],
                "validationMessages": [
                    {"level": "Warning", "message": "mTLS not enabled"},
                    {"level": "Error", "message": "Referenced gateway not found: public"},
                ],
            }
        ),
        "RoutePending",
        "stillPropagating: 61/122 complete); istio's analysis: Referenced gateway not found",
    ),
}


@pytest.mark.parametrize("name", list(ISTIO_CASES), ids=list(ISTIO_CASES))
def test_a_virtualservice_counts_once_reconciled_or_when_istio_reports_nothing(
    name: str,
) -> None:
    obj, reason, said = ISTIO_CASES[name]
    problem = istio.in_effect(obj)
    assert (problem.reason if problem else None) == reason
    if problem is not None:
        assert said in problem.message


T0 = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("waited", "retry"),
    [(0, 0.1), (0.3, 0.1), (2, 0.5), (20, 5), (600, 10)],
    ids=["at-once", "first-second", "two-seconds", "twenty-seconds", "ten-minutes"],
)
def test_a_route_not_in_effect_is_asked_about_again_less_often_the_longer_it_waits(
    waited: float, retry: float
) -> None:
    status = route.RouteStatus()
    status.set_ready(
        condition.ConditionStatus.FALSE, "RouteNotAccepted", "refused", now=T0, generation=1
    )
    now = T0 + timedelta(seconds=waited)
    assert route_reconciler.retry_after(status, now) == timedelta(seconds=retry)


@pytest.mark.parametrize(
    ("given", "namespace", "name"),
    [("infra/public", "infra", "public"), ("public", None, "public")],
)
def test_the_controllers_gateway_option_names_a_gateway(
    given: str, namespace: str | None, name: str
) -> None:
    ref = routing.parse_gateway(given)
    assert (ref.namespace, ref.name, ref.kind) == (namespace, name, "Gateway")


@pytest.mark.parametrize("given", ["Infra/public", "a/b/c", "", "infra/", "public_gw"])
def test_a_gateway_option_that_is_not_a_name_is_refused(given: str) -> None:
    with pytest.raises(ValueError, match="is not a Kubernetes name"):
        routing.parse_gateway(given)
