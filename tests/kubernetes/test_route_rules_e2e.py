"""Request rules through the controller's router and the API emulator (real HTTP, the
official client, the CRDs of tests/kubernetes/crds): a Route with header routes, a
mirror and a sticky session is written as an HTTPRoute (a gateway accepts it) or a
VirtualService, read back from what the API server stored, and the Route is Ready; an
edit made behind our back is set right; a combination the router cannot express is
refused with the reason, and nothing is written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import kubeemu
import pytest
from kubecluster import wait_for
from kubeemu import gateways, rawclient

from rollout.api import route
from rollout.platforms import ports
from rollout.platforms.kubernetes import rest, router, traffic

HTTPROUTES = ("gateway.networking.k8s.io", "v1", "httproutes")
VIRTUALSERVICES = ("networking.istio.io", "v1beta1", "virtualservices")


def a_route(router_name: str, **extra: Any) -> route.Route:
    spec: dict[str, Any] = {
        "service": "web",
        "traffic": [
            {"revisionName": "web-00001", "percent": 100, "tag": "stable"},
            {"revisionName": "web-00002", "percent": 0, "tag": "canary"},
        ],
        "routing": {"router": router_name, "parentRefs": [{"name": "public"}]},
        "headerRoutes": [
            {
                "name": "beta",
                "revisionName": "web-00002",
                "match": [
                    {
                        "all": [
                            {"header": "X-User", "prefix": "qa-"},
                            {"cookie": "beta", "exact": "1"},
                        ]
                    },
                    {"header": "X-Beta", "regex": "yes|1"},
                ],
            }
        ],
        "mirrors": [
            {
                "name": "shadow",
                "percent": 25,
                "revisionName": "web-00002",
                "match": [{"header": "X-Mirror", "exact": "on"}],
            }
        ],
        "sessionAffinity": {
            "cookieName": "rollout-canary",
            "cookieValue": "rel-7",
            "maxAge": "2h",
            "revisionName": "web-00002",
        },
        **extra,
    }
    return route.Route.model_validate(
        {"metadata": {"name": "web", "namespace": "default", "uid": "uid-route"}, "spec": spec}
    )


def make_service(emu: kubeemu.Emulator, name: str) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"ports": [{"port": 80}]},
    }
    made = rawclient.call(emu.url, "POST", "/api/v1/namespaces/default/services", body=body)
    assert made.status == 201, made.body


@pytest.fixture
def gateway(mesh_crds: kubeemu.Emulator) -> Iterator[gateways.GatewayController]:
    controller = gateways.GatewayController(mesh_crds, {"default/public": gateways.ACCEPT})
    yield controller
    controller.stop()


@pytest.fixture
def kube_router(mesh_crds: kubeemu.Emulator) -> router.KubernetesRouter:
    make_service(mesh_crds, "web-00001")
    make_service(mesh_crds, "web-00002")
    res = rest.Resources(mesh_crds.api_client(user_agent="rollout-controller/test"))
    return router.KubernetesRouter(res, lambda ns, name: 9000)


def ready(rt: route.Route, applied: ports.AppliedRoute) -> tuple[bool, str, str]:
    """The Route's Ready as the Route reconciler decides it from the router's answer."""
    spec = rt.spec
    problem = (applied.problem.reason, applied.problem.message) if applied.problem else None
    return route.traffic_ready(
        spec.traffic,
        applied.traffic,
        problem=problem,
        wanted_rules=route.Rules.of(spec),
        applied_rules=route.Rules.of(applied),
    )


def in_effect(r: router.KubernetesRouter, rt: route.Route) -> ports.AppliedRoute:
    return wait_for(
        lambda: (a := r.apply(rt)) and a.problem is None and a,
        10,
        "the route to be in effect",
    )


def test_gateway_api_route_with_rules_is_read_back_and_ready(
    mesh_crds: kubeemu.Emulator,
    gateway: gateways.GatewayController,
    kube_router: router.KubernetesRouter,
) -> None:
    """The HTTPRoute the API server stored holds the header route, the mirror and the
    sticky session: read back, the Route is Ready (TrafficApplied)."""
    rt = a_route("gateway-api")
    applied = in_effect(kube_router, rt)
    assert ready(rt, applied) == (True, "TrafficApplied", "")
    assert [h.name for h in applied.header_routes] == ["beta"]
    assert [(m.name, m.percent, m.revision_name) for m in applied.mirrors] == [
        ("shadow", 25, "web-00002")
    ]
    assert applied.session_affinity is not None
    assert applied.session_affinity.cookie_value == "rel-7"
    stored = mesh_crds.get_object(*HTTPROUTES, "default", "web")
    assert stored is not None
    filters = [f["type"] for rule in stored["spec"]["rules"] for f in rule.get("filters", [])]
    assert "RequestMirror" in filters


def test_istio_route_with_rules_is_read_back_and_ready(
    mesh_crds: kubeemu.Emulator, kube_router: router.KubernetesRouter
) -> None:
    """The VirtualService stored holds the rules in our order; the Route is Ready."""
    rt = a_route("istio")
    applied = in_effect(kube_router, rt)
    assert ready(rt, applied) == (True, "TrafficApplied", "")
    stored = mesh_crds.get_object(*VIRTUALSERVICES, "default", "web")
    assert stored is not None
    assert [h["name"] for h in stored["spec"]["http"]] == [
        "tag-stable+copy-shadow",
        "tag-stable",
        "tag-canary",
        "header-beta",
        "sticky",
        "mirror-shadow",
        "weighted",
    ]


def test_rules_edited_behind_our_back_are_restored(
    mesh_crds: kubeemu.Emulator,
    gateway: gateways.GatewayController,
    kube_router: router.KubernetesRouter,
) -> None:
    """Someone drops the mirror's filter from the HTTPRoute: the next apply sees it in
    the read-back, writes the route's rules back and says so."""
    rt = a_route("gateway-api")
    in_effect(kube_router, rt)
    custom = rest.Resources(mesh_crds.api_client(user_agent="someone-else"))
    stored = mesh_crds.get_object(*HTTPROUTES, "default", "web")
    assert stored is not None
    rules = stored["spec"]["rules"]
    for rule in rules:
        rule.pop("filters", None)
    custom.patch(router.gateway_api.REF, "default", "web", {"spec": {"rules": rules}})
    applied = kube_router.apply(rt)
    assert "changed outside rollout" in applied.drift
    again = in_effect(kube_router, rt)
    assert ready(rt, again)[0]


def test_a_combination_the_router_cannot_express_is_refused_and_not_written(
    mesh_crds: kubeemu.Emulator,
    gateway: gateways.GatewayController,
    kube_router: router.KubernetesRouter,
) -> None:
    """A mirror to a revision with weight: the router writes nothing and says why; the
    Route is not Ready, with that reason."""
    rt = a_route(
        "gateway-api",
        traffic=[
            {"revisionName": "web-00001", "percent": 90},
            {"revisionName": "web-00002", "percent": 10},
        ],
    )
    applied = kube_router.apply(rt)
    assert applied.problem is not None
    assert applied.problem.reason == traffic.RULES_UNSUPPORTED
    assert "which also gets weight" in applied.problem.message
    assert mesh_crds.get_object(*HTTPROUTES, "default", "web") is None
    ok, reason, message = ready(rt, applied)
    assert (ok, reason) == (False, traffic.RULES_UNSUPPORTED)
    assert message.startswith("the gateway-api router cannot apply this route: ")


def test_rule_labels_removed_behind_our_back_are_restored(
    mesh_crds: kubeemu.Emulator,
    gateway: gateways.GatewayController,
    kube_router: router.KubernetesRouter,
) -> None:
    """Without the annotation naming its rules the HTTPRoute reads back no header route:
    the next apply writes the labels back with the rules, and the Route is Ready again."""
    rt = a_route("gateway-api")
    in_effect(kube_router, rt)
    custom = rest.Resources(mesh_crds.api_client(user_agent="someone-else"))
    patch = {"metadata": {"annotations": {router.gateway_api.RULES_ANNOTATION: None}}}
    custom.patch(router.gateway_api.REF, "default", "web", patch)
    applied = kube_router.apply(rt)
    assert "changed outside rollout" in applied.drift
    assert ready(rt, in_effect(kube_router, rt))[0]
