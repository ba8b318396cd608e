"""The Kubernetes runtime and router adapters against the API emulator, one call at a
time (no controller): what they write, that a second pass writes nothing, that an
object deleted by hand comes back, and that a split edited by hand (with kubectl) is
restored and reported."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from datetime import UTC, datetime

import kubeemu
import pytest
from kubecluster import Kubectl, wait_for
from kubeemu import gateways, rawclient

from rollout import clock as clocks
from rollout.api import meta, revision, route, routing, split, workload
from rollout.platforms import ports
from rollout.platforms.kubernetes import refs, rest, router, runtime

NOW = datetime(2030, 1, 1, tzinfo=UTC)
WRITES = {"create", "update", "patch", "delete"}


def a_revision(name: str = "web-00001", *, scale: bool = False) -> revision.Revision:
    template = workload.PodTemplate(
        spec={
            "containers": [
                {
                    "name": "web",
                    "image": "registry.example/web:1",
                    "ports": [{"containerPort": 9000}],
                }
            ]
        }
    )
    return revision.Revision(
        metadata=meta.ObjectMeta(name=name, namespace="default", uid=f"uid-{name}"),
        spec=revision.RevisionSpec(
            service="web",
            template=template,
            scaling=workload.Scaling(min_replicas=2, max_replicas=5) if scale else None,
        ),
    )


def a_route(traffic: list[tuple[str, int, str | None]], via: str = "gateway-api") -> route.Route:
    return route.Route(
        metadata=meta.ObjectMeta(name="web", namespace="default", uid="uid-route"),
        spec=route.RouteSpec(
            service="web",
            traffic=[split.TrafficTarget(revision_name=r, percent=p, tag=t) for r, p, t in traffic],
            routing=routing.Routing(router=via, parent_refs=[routing.ParentRef(name="public")]),  # type: ignore[arg-type]
        ),
    )


def writes(emu: kubeemu.Emulator) -> int:
    return sum(1 for r in emu.requests.snapshot() if r.verb in WRITES)


@pytest.fixture
def res(mesh_crds: kubeemu.Emulator) -> rest.Resources:
    return rest.Resources(mesh_crds.api_client(user_agent="rollout-controller/test"))


@pytest.fixture
def gateway(mesh_crds: kubeemu.Emulator) -> Iterator[gateways.GatewayController]:
    """Gateway `public` accepts routes; the revision Services they name exist."""
    for name in ("web-00001", "web-00002"):
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"ports": [{"port": 80}]},
        }
        rawclient.call(mesh_crds.url, "POST", "/api/v1/namespaces/default/services", body=service)
    controller = gateways.GatewayController(mesh_crds, {"*/public": gateways.ACCEPT})
    yield controller
    controller.stop()


def in_effect(r: router.KubernetesRouter, rt: route.Route) -> ports.AppliedRoute:
    """Apply `rt` until the gateway has taken it (its answer without a problem)."""
    return wait_for(
        lambda: (a := r.apply(rt)).problem is None and a, 10, "the gateway to accept the route"
    )


def test_a_revision_runs_as_a_deployment_a_service_and_an_hpa(
    mesh_crds: kubeemu.Emulator, res: rest.Resources
) -> None:
    rt = runtime.KubernetesRuntime(res, clocks.FakeClock(NOW))
    state = rt.ensure(a_revision(scale=True), replicas=2)
    assert not state.ready
    dep = mesh_crds.get_object("apps", "v1", "deployments", "default", "web-00001")
    svc = mesh_crds.get_object("", "v1", "services", "default", "web-00001")
    hpa = mesh_crds.get_object(
        "autoscaling", "v2", "horizontalpodautoscalers", "default", "web-00001"
    )
    assert dep is not None
    assert svc is not None
    assert hpa is not None
    assert dep["spec"]["replicas"] == 2
    assert svc["spec"]["ports"][0]["targetPort"] == 9000
    assert hpa["spec"]["maxReplicas"] == 5
    before = writes(mesh_crds)
    rt.ensure(a_revision(scale=True), replicas=2)
    assert writes(mesh_crds) == before, "a second pass wrote again"


def test_readiness_follows_the_deployment_status(
    mesh_crds: kubeemu.Emulator, res: rest.Resources
) -> None:
    rt = runtime.KubernetesRuntime(res, clocks.FakeClock(NOW))
    rt.ensure(a_revision(), replicas=1)
    dep = mesh_crds.get_object("apps", "v1", "deployments", "default", "web-00001")
    assert dep is not None
    mesh_crds.set_status(
        "apps",
        "v1",
        "deployments",
        "default",
        "web-00001",
        {
            "observedGeneration": dep["metadata"]["generation"],
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": 1,
            "availableReplicas": 1,
        },
    )
    state = rt.ensure(a_revision(), replicas=1)
    assert state.ready
    assert state.ready_replicas == 1


def test_a_deployment_deleted_by_hand_comes_back_and_remove_deletes_all(
    mesh_crds: kubeemu.Emulator, res: rest.Resources
) -> None:
    rt = runtime.KubernetesRuntime(res, clocks.FakeClock(NOW))
    rt.ensure(a_revision(scale=True), replicas=2)
    res.delete(refs.DEPLOYMENTS, "default", "web-00001")
    rt.ensure(a_revision(scale=True), replicas=2)
    assert mesh_crds.get_object("apps", "v1", "deployments", "default", "web-00001") is not None
    rt.remove("default", "web-00001")
    for group, version, plural in (
        ("apps", "v1", "deployments"),
        ("", "v1", "services"),
        ("autoscaling", "v2", "horizontalpodautoscalers"),
    ):
        assert mesh_crds.get_object(group, version, plural, "default", "web-00001") is None


@pytest.mark.parametrize("via", ["gateway-api", "istio"])
def test_the_router_writes_the_split_and_reads_it_back(
    mesh_crds: kubeemu.Emulator,
    res: rest.Resources,
    via: routing.Router,
    gateway: gateways.GatewayController,
) -> None:
    r = router.KubernetesRouter(res, lambda ns, name: 9000, default="gateway-api")
    applied = in_effect(r, a_route([("web-00001", 80, "stable"), ("web-00002", 20, "canary")], via))
    assert sorted((t.revision_name, t.percent, t.tag) for t in applied.traffic) == [
        ("web-00001", 80, "stable"),
        ("web-00002", 20, "canary"),
    ]
    assert applied.drift == ""
    stable = mesh_crds.get_object("", "v1", "services", "default", "web")
    assert stable is not None
    assert stable["spec"]["selector"]["rollout.dev/revision"] == "web-00001"
    assert stable["spec"]["ports"][0]["targetPort"] == 9000
    before = writes(mesh_crds)
    r.apply(a_route([("web-00001", 80, "stable"), ("web-00002", 20, "canary")], via))
    assert writes(mesh_crds) == before, "a second pass wrote again"


def test_a_split_edited_by_hand_is_restored_and_reported(
    mesh_crds: kubeemu.Emulator,
    res: rest.Resources,
    kubeconfig: pathlib.Path,
    kubectl: Kubectl,
    gateway: gateways.GatewayController,
) -> None:
    r = router.KubernetesRouter(res, lambda ns, name: 9000)
    wanted = a_route([("web-00001", 80, None), ("web-00002", 20, None)])
    in_effect(r, wanted)
    edited = kubectl(
        kubeconfig,
        "patch",
        "httproute",
        "web",
        "--type",
        "json",
        "-p",
        '[{"op": "replace", "path": "/spec/rules/0/backendRefs/1/weight", "value": 90},'
        ' {"op": "replace", "path": "/spec/rules/0/backendRefs/0/weight", "value": 10}]',
    )
    assert edited.returncode == 0, edited.stderr
    applied = r.apply(wanted)
    assert "changed outside rollout" in applied.drift
    assert applied.problem is not None  # restored, not yet taken by the gateway
    applied = in_effect(r, wanted)
    assert sorted((t.revision_name, t.percent) for t in applied.traffic) == [
        ("web-00001", 80),
        ("web-00002", 20),
    ]


def test_changing_the_router_removes_the_other_routes_object(
    mesh_crds: kubeemu.Emulator, res: rest.Resources
) -> None:
    r = router.KubernetesRouter(res, lambda ns, name: 9000)
    r.apply(a_route([("web-00001", 100, None)], "gateway-api"))
    assert mesh_crds.get_object("gateway.networking.k8s.io", "v1", "httproutes", "default", "web")
    r.apply(a_route([("web-00001", 100, None)], "istio"))
    assert mesh_crds.get_object(
        "networking.istio.io", "v1beta1", "virtualservices", "default", "web"
    )
    assert (
        mesh_crds.get_object("gateway.networking.k8s.io", "v1", "httproutes", "default", "web")
        is None
    )


def test_an_object_someone_else_made_is_not_taken_over(
    mesh_crds: kubeemu.Emulator, res: rest.Resources
) -> None:
    """The Kubernetes Service of an adopted Deployment named like the rollout Service:
    the router refuses to write over it (NotOwned), and leaves it as it was."""
    theirs = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "labels": {"app.kubernetes.io/managed-by": "Helm"}},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    res.create(refs.SERVICES, "default", theirs)
    r = router.KubernetesRouter(res, lambda ns, name: 9000)
    with pytest.raises(runtime.NotOwned, match=r"services/web exists .* not made by rollout"):
        r.apply(a_route([("web-00001", 100, None)]))
    kept = mesh_crds.get_object("", "v1", "services", "default", "web")
    assert kept is not None
    assert kept["spec"]["selector"] == {"app": "web"}
    assert "ownerReferences" not in kept["metadata"]
