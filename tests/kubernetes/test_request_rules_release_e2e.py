"""An A/B release end to end on the API emulator: the real CLI and a controller process
with the kubernetes platform, a policy whose first step is a header route at weight 0.

The release engine asks for the header route, the Service writes it into the Route, the
router writes it into the HTTPRoute (a header-matched rule to the canary) or the
VirtualService (an http route matching the header, first), reads it back, and only
then does the analysis step start; the route is removed by a later step, the weights
take over and the canary is promoted. Metrics come from a simulator scenario that
follows what was applied (a header route sends the canary a fixed share of requests:
`rollout.sim.requests`).
"""

from __future__ import annotations

from typing import Any

import pytest
from kubecluster import Cluster, Controller, Kubectl, rollout, service_yaml, wait_for

AB = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: ab}
spec:
  steps:
    - setHeaderRoute: {name: beta, match: [{header: X-Beta, exact: "1"}]}
    - analysis: {duration: 3s}
    - setHeaderRoute: {name: beta}
    - setWeight: 50
    - analysis: {duration: 3s}
  analysis:
    interval: 1s
    failureLimit: 0
    inconclusiveLimit: 30
    metrics:
      - name: error-rate
        provider: {local: {stat: error_rate}}
        window: 5s
        minSamples: 10
        thresholds: {max: 0.05}
"""

ROUTING = {
    "gateway-api": "{router: gateway-api, parentRefs: [{name: public}], hostnames: [web.example]}",
    "istio": "{router: istio, hosts: [web.example], gateways: [public]}",
}
OBJECTS = {
    "gateway-api": ("gateway.networking.k8s.io", "v1", "httproutes"),
    "istio": ("networking.istio.io", "v1beta1", "virtualservices"),
}


def header_rule_to(obj: dict[str, Any] | None, router: str) -> list[str]:
    """The destinations of the rules matching the header X-Beta in a stored route."""
    if obj is None:
        return []
    found = []
    if router == "gateway-api":
        for rule in obj["spec"].get("rules", []):
            names = {
                h["name"].lower() for m in rule.get("matches", []) for h in m.get("headers", [])
            }
            if "x-beta" in names:
                found += [b["name"] for b in rule.get("backendRefs", [])]
    else:
        for http in obj["spec"].get("http", []):
            names = {n.lower() for m in http.get("match", []) for n in m.get("headers", {})}
            if "x-beta" in names:
                found += [d["destination"]["host"].split(".")[0] for d in http.get("route", [])]
    return found


@pytest.mark.parametrize("router", ["gateway-api", "istio"])
def test_an_ab_release_writes_its_header_route_and_promotes(
    cluster: Cluster, router: str, kubectl: Kubectl
) -> None:
    controller = Controller(
        cluster.kubeconfig,
        cluster.tmp / "controller.log",
        "--scenario",
        "good",
        "--rps",
        "400",
        "--scrape-delay",
        "0.5",
    )
    try:
        cluster.apply(AB, "policy.yaml")
        cluster.apply(service_yaml("v1", policy="ab", routing=ROUTING[router]), "v1.yaml")
        cluster.wait_split((("web-00001", 100),), 30, router=router, log=controller.output())
        cluster.apply(service_yaml("v2", policy="ab", routing=ROUTING[router]), "v2.yaml")
        group, version, plural = OBJECTS[router]
        wait_for(
            lambda: (
                header_rule_to(cluster.obj(group, version, plural, "web"), router) == ["web-00002"]
            ),
            30,
            f"the header route to the canary in the {plural[:-1]}; controller log:\n"
            f"{controller.output()[-4000:]}",
        )
        assert cluster.split(router) == (("web-00001", 100),)  # weight 0 meanwhile
        watched = rollout(
            cluster.kubeconfig, "status", "web", "--watch", "--timeout", "60s", timeout=90
        )
        assert watched.returncode == 0, watched.stdout + watched.stderr + controller.output()
        cluster.wait_split((("web-00002", 100),), 10, router=router)
        assert header_rule_to(cluster.obj(group, version, plural, "web"), router) == []
        release = cluster.obj("rollout.dev", "v1alpha1", "releases", "web-00002")
        assert release is not None
        assert release["status"]["phase"] == "Succeeded"
        assert release["status"].get("headerRoutes", []) == []
        events = [h["event"] for h in release["status"]["history"]]
        assert "StepAdvanced" in events
    finally:
        assert controller.stop() == 0, controller.output()
