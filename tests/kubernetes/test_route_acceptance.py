"""Routes count when a gateway has taken them (issue 18, findings 2 and 3), against the
API emulator with its gateway controller (`kubeemu.gateways`) and the HTTPRoute CRD
written from the Gateway API reference: the router's answer for a route with no
parent, one the controller's `--gateway` attaches, one a Gateway refuses, one whose
backend is missing; and the CRD's limits that `rollout validate` mirrors."""

from __future__ import annotations

from collections.abc import Iterator

import kubeemu
import pytest
from kubecluster import wait_for
from kubeemu import gateways, rawclient

from rollout.api import meta, route, routing, split
from rollout.platforms import ports
from rollout.platforms.kubernetes import rest, router

HTTPROUTES = ("gateway.networking.k8s.io", "v1", "httproutes")


def a_route(parents: list[routing.ParentRef] | None = None) -> route.Route:
    return route.Route(
        metadata=meta.ObjectMeta(name="web", namespace="default", uid="uid-route"),
        spec=route.RouteSpec(
            service="web",
            traffic=[
                split.TrafficTarget(revision_name="web-00001", percent=90),
                split.TrafficTarget(revision_name="web-00002", percent=10),
            ],
            routing=routing.Routing(router="gateway-api", parent_refs=parents or []),
        ),
    )


PUBLIC = [routing.ParentRef(name="public")]


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
    res = rest.Resources(mesh_crds.api_client(user_agent="rollout-controller/test"))
    return router.KubernetesRouter(res, lambda ns, name: 9000)


def settled(r: router.KubernetesRouter, rt: route.Route, reason: str | None) -> ports.AppliedRoute:
    """Apply until the answer's problem has `reason` (None: in effect)."""
    return wait_for(
        lambda: (a := r.apply(rt)) and (a.problem.reason if a.problem else None) == reason and a,
        10,
        f"the route to settle at {reason or 'in effect'}",
    )


def test_a_route_with_no_parent_is_not_applied_and_says_why(
    mesh_crds: kubeemu.Emulator, kube_router: router.KubernetesRouter
) -> None:
    """No parentRefs and no --gateway: no HTTPRoute (it would attach to nothing), no
    split reported as applied, and the reason on the Route."""
    applied = kube_router.apply(a_route())
    assert applied.problem is not None
    assert applied.problem.reason == "NoParentRefs"
    assert "--gateway NAMESPACE/NAME" in applied.problem.message
    assert applied.traffic == []
    assert mesh_crds.get_object(*HTTPROUTES, "default", "web") is None
    ready = route.traffic_ready(
        a_route().spec.traffic, applied.traffic, problem=("NoParentRefs", "")
    )
    assert ready[0] is False


def test_the_controllers_gateway_is_the_parent_of_a_route_that_names_none(
    mesh_crds: kubeemu.Emulator, gateway: gateways.GatewayController
) -> None:
    make_service(mesh_crds, "web-00001")
    make_service(mesh_crds, "web-00002")
    res = rest.Resources(mesh_crds.api_client(user_agent="rollout-controller/test"))
    default = routing.parse_gateway("default/public")
    r = router.KubernetesRouter(res, lambda ns, name: 9000, default_gateway=default)
    applied = settled(r, a_route(), None)
    assert sorted((t.revision_name, t.percent) for t in applied.traffic) == [
        ("web-00001", 90),
        ("web-00002", 10),
    ]
    stored = mesh_crds.get_object(*HTTPROUTES, "default", "web")
    assert stored is not None
    assert [p["name"] for p in stored["spec"]["parentRefs"]] == ["public"]
    assert stored["spec"]["parentRefs"][0]["namespace"] == "default"


def test_a_refused_route_reports_the_gateways_reason_and_nothing_in_effect(
    mesh_crds: kubeemu.Emulator,
    kube_router: router.KubernetesRouter,
    gateway: gateways.GatewayController,
) -> None:
    make_service(mesh_crds, "web-00001")
    make_service(mesh_crds, "web-00002")
    settled(kube_router, a_route(PUBLIC), None)
    gateway.set("default/public", gateways.Refuse("NotAllowedByListeners", "no listener for web"))
    applied = settled(kube_router, a_route(PUBLIC), "RouteNotAccepted")
    assert applied.problem is not None
    assert applied.problem.message == (
        "gateway default/public did not accept the route: NotAllowedByListeners:"
        " no listener for web"
    )
    assert applied.traffic == []


def test_a_missing_backend_holds_the_split_until_its_service_exists(
    mesh_crds: kubeemu.Emulator,
    kube_router: router.KubernetesRouter,
    gateway: gateways.GatewayController,
) -> None:
    make_service(mesh_crds, "web-00001")
    applied = settled(kube_router, a_route(PUBLIC), "RouteRefsNotResolved")
    assert applied.problem is not None
    assert "BackendNotFound: Service default/web-00002 does not exist" in applied.problem.message
    make_service(mesh_crds, "web-00002")
    settled(kube_router, a_route(PUBLIC), None)


def _httproute(rules: int, hostname: str = "web.example.com") -> dict[str, object]:
    backend = {"group": "", "kind": "Service", "name": "web-00001", "port": 80, "weight": 1}
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "parentRefs": [{"name": "public"}],
            "hostnames": [hostname],
            "rules": [{"backendRefs": [backend]} for _ in range(rules)],
        },
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_httproute(17), "spec.rules"),
        (_httproute(1, "Web.Example.com:8080"), "spec.hostnames[0]"),
    ],
    ids=["seventeen-rules", "hostname-with-a-port"],
)
def test_the_httproute_crd_refuses_what_rollout_validate_refuses(
    mesh_crds: kubeemu.Emulator, body: dict[str, object], field: str
) -> None:
    reply = rawclient.call(
        mesh_crds.url,
        "POST",
        "/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes",
        body=body,
    )
    assert reply.status == 422, reply.body
    causes = reply.body["details"]["causes"]
    assert any(c["field"] == field for c in causes), causes
