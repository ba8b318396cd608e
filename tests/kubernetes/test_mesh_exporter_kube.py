"""The mesh exporter (`tests/meshexport.py`) taking its weights from a route in the
API emulator, as a mesh takes them from the cluster: an HTTPRoute or a VirtualService
shaped as rollout's routers write them, polled every 0.5 s; a missing route keeps the
last weights. Plus: the weights it reads from what `gateway_api.build` and
`istio.build` produce are the Route's.

Waits are on the exporter's ground truth, with deadlines; the exporter is stopped by
its PID.
"""

from __future__ import annotations

import math
import pathlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import kubeemu
import kubernetes.client
import meshexport
import pytest

from rollout.api import meta, route, routing, split
from rollout.platforms.kubernetes import gateway_api, istio

NS, STABLE, CANARY = "default", "web-00001", "web-00002"
WAIT_S = 30.0
Truth = dict[str, Any]


def httproute(weights: dict[str, int]) -> dict[str, Any]:
    """An HTTPRoute as gateway_api.build writes it: a tag rule, then the catch-all."""
    every_path = {"path": {"type": "PathPrefix", "value": "/"}}

    def backend(name: str, weight: int) -> dict[str, Any]:
        return {"group": "", "kind": "Service", "name": name, "port": 80, "weight": weight}

    tag = {"type": "Exact", "name": "Rollout-Tag", "value": "candidate"}
    tagged = {"matches": [{**every_path, "headers": [tag]}], "backendRefs": [backend(CANARY, 1)]}
    weighted = [backend(r, w) for r, w in weights.items()]
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {
            "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"}],
            "rules": [tagged, {"matches": [every_path], "backendRefs": weighted}],
        },
    }


def virtualservice(weights: dict[str, int]) -> dict[str, Any]:
    """A VirtualService as istio.build writes it: a tag route, then `weighted`."""

    def destination(name: str, weight: int) -> dict[str, Any]:
        host = f"{name}.{NS}.svc.cluster.local"
        return {"destination": {"host": host, "port": {"number": 80}}, "weight": weight}

    return {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "VirtualService",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {
            "hosts": [f"web.{NS}.svc.cluster.local"],
            "http": [
                {
                    "name": "tag-candidate",
                    "match": [{"headers": {"rollout-tag": {"exact": "candidate"}}}],
                    "route": [destination(CANARY, 100)],
                },
                {"name": "weighted", "route": [destination(r, w) for r, w in weights.items()]},
            ],
        },
    }


ROUTES: dict[str, Callable[[dict[str, int]], dict[str, Any]]] = {
    "gateway-api": httproute,
    "istio": virtualservice,
}


class Routes:
    """Writes the route of one router kind in the emulator."""

    def __init__(self, emu: kubeemu.Emulator, router: str) -> None:
        self.custom = kubernetes.client.CustomObjectsApi(emu.api_client())
        self.group, self.version, self.plural, _ = meshexport.ROUTES[router]
        self.make = ROUTES[router]

    def create(self, weights: dict[str, int]) -> None:
        self.custom.create_namespaced_custom_object(
            self.group, self.version, NS, self.plural, self.make(weights)
        )

    def replace(self, weights: dict[str, int]) -> None:
        current = self.custom.get_namespaced_custom_object(
            self.group, self.version, NS, self.plural, "web"
        )
        assert isinstance(current, dict)
        body = self.make(weights)
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        self.custom.replace_namespaced_custom_object(
            self.group, self.version, NS, self.plural, "web", body
        )

    def delete(self) -> None:
        self.custom.delete_namespaced_custom_object(
            self.group, self.version, NS, self.plural, "web"
        )


@pytest.fixture(params=sorted(ROUTES))
def router(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def exporters() -> Iterator[Callable[..., meshexport.Exporter]]:
    started: list[meshexport.Exporter] = []

    def start(*args: str) -> meshexport.Exporter:
        started.append(meshexport.start_exporter(*args))
        return started[-1]

    try:
        yield start
    finally:
        for exporter in started:
            exporter.stop()


def watching(
    start: Callable[..., meshexport.Exporter], kubeconfig: pathlib.Path, router: str, *extra: str
) -> meshexport.Exporter:
    return start(
        *("--shape", "istio", "--namespace", NS, "--service", "web", "--rps", "500"),
        *("--kubeconfig", str(kubeconfig), "--router", router),
        *("--route-namespace", NS, "--route-name", "web", *extra),
    )


def requests(truth: Truth, revision: str) -> int:
    found: int = truth["revisions"].get(revision, {}).get("requests", 0)
    return found


def served(revision: str, at_least: int) -> Callable[[Truth], bool]:
    return lambda truth: requests(truth, revision) >= at_least


def wait_for(exporter: meshexport.Exporter, condition: Callable[[Truth], bool], what: str) -> Truth:
    deadline = time.monotonic() + WAIT_S
    while True:
        truth = exporter.truth()
        if condition(truth):
            return truth
        if time.monotonic() > deadline:
            pytest.fail(f"never {what}: {truth['revisions']}")
        time.sleep(0.1)


def wait_until_stopped(exporter: meshexport.Exporter, stopped: str, growing: str) -> Truth:
    """Until `stopped` gets nothing while `growing` gets 200 requests."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        first = exporter.truth()
        last = wait_for(
            exporter, served(growing, requests(first, growing) + 200), f"{growing} grew"
        )
        if requests(last, stopped) == requests(first, stopped):
            return last
    pytest.fail(f"{stopped} never stopped getting requests")


def test_the_exporter_follows_the_routes_weights(
    mesh_crds: kubeemu.Emulator,
    kubeconfig: pathlib.Path,
    router: str,
    exporters: Callable[..., meshexport.Exporter],
) -> None:
    """70/30 in the route: both revisions served about 70/30; then 0/100: the first
    stops getting requests."""
    routes = Routes(mesh_crds, router)
    routes.create({STABLE: 70, CANARY: 30})
    exporter = watching(exporters, kubeconfig, router)
    truth = wait_for(
        exporter,
        lambda t: requests(t, STABLE) + requests(t, CANARY) >= 2000,
        "served 2000 requests",
    )
    total = requests(truth, STABLE) + requests(truth, CANARY)
    assert abs(requests(truth, CANARY) - 0.3 * total) <= 5 * math.sqrt(0.21 * total)

    routes.replace({STABLE: 0, CANARY: 100})
    wait_until_stopped(exporter, STABLE, CANARY)


def test_a_missing_route_keeps_the_last_weights(
    mesh_crds: kubeemu.Emulator,
    kubeconfig: pathlib.Path,
    router: str,
    exporters: Callable[..., meshexport.Exporter],
) -> None:
    """No route yet: the --weights given; a route: its weights; deleted again: still
    its weights."""
    routes = Routes(mesh_crds, router)
    exporter = watching(exporters, kubeconfig, router, "--weights", f"{STABLE}=100")
    wait_for(exporter, served(STABLE, 500), f"{STABLE} served 500")

    routes.create({STABLE: 0, CANARY: 100})
    wait_until_stopped(exporter, STABLE, CANARY)
    routes.delete()
    truth = exporter.truth()
    wait_for(exporter, served(CANARY, requests(truth, CANARY) + 1000), f"{CANARY} served more")
    assert exporter.truth()["revisions"][STABLE]["requests"] == requests(truth, STABLE)


def a_route(via: str) -> route.Route:
    return route.Route(
        metadata=meta.ObjectMeta(name="web", namespace=NS, uid="uid-route"),
        spec=route.RouteSpec(
            service="web",
            traffic=[
                split.TrafficTarget(revision_name=STABLE, percent=80),
                split.TrafficTarget(revision_name=CANARY, percent=20, tag="candidate"),
            ],
            routing=routing.Routing(router=via, parent_refs=[routing.ParentRef(name="gw")]),  # type: ignore[arg-type]
        ),
    )


@pytest.mark.parametrize(
    ("via", "build", "read"),
    [
        ("gateway-api", gateway_api.build, meshexport.weights_from_httproute),
        ("istio", istio.build, meshexport.weights_from_virtualservice),
    ],
    ids=["gateway-api", "istio"],
)
def test_the_weights_read_are_those_rollouts_routers_write(
    via: str,
    build: Callable[[route.Route], dict[str, Any]],
    read: Callable[[dict[str, Any]], dict[str, float]],
) -> None:
    assert read(build(a_route(via))) == {STABLE: 80, CANARY: 20}
