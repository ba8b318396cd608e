"""End to end (issue 18, finding 2): a release whose HTTPRoute the Gateway refuses does
not step on, and fails at its progress deadline with the gateway's own message, seen
in the Release (what `rollout status` shows) and the Route. The Service names no parentRefs: the
controller's `--gateway default/public` attaches it."""

from __future__ import annotations

from kubecluster import Cluster, Controller, service_yaml, wait_for
from kubeemu import gateways

POLICY = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: one-step}
spec:
  progressDeadline: 5s
  steps:
    - setWeight: 50
"""

REFUSAL = "no listener of Gateway public allows routes from namespace default"


def test_a_refused_route_fails_the_release_with_the_gateways_message(cluster: Cluster) -> None:
    controller = Controller(cluster.kubeconfig, cluster.tmp / "controller.log")
    try:
        cluster.apply(POLICY + "---\n" + service_yaml("v1", policy="one-step"), "v1.yaml")
        wait_for(
            lambda: cluster.rsvc().get("status", {}).get("stableRevision") == "web-00001",
            30,
            f"the first revision to take traffic; controller log:\n{controller.output()}",
        )
        route = cluster.obj("gateway.networking.k8s.io", "v1", "httproutes", "web")
        assert route is not None
        assert route["spec"]["parentRefs"][0]["name"] == "public"  # from --gateway
        assert cluster.gateways is not None
        cluster.gateways.set("*/public", gateways.Refuse("NotAllowedByListeners", REFUSAL))
        cluster.apply(service_yaml("v2", policy="one-step"), "v2.yaml")

        def release() -> dict[str, object] | None:
            return cluster.obj("rollout.dev", "v1alpha1", "releases", "web-00002")

        failed = wait_for(
            lambda: (r := release()) and r.get("status", {}).get("phase") == "Failed" and r,
            30,
            f"the release to fail; controller log:\n{controller.output()[-5000:]}",
        )
        status = failed["status"]
        assert isinstance(status, dict)
        assert REFUSAL in status["message"]
        assert "RouteNotAccepted" in status["message"]
        assert status.get("stepIndex", 0) == 0  # never stepped on
        rt = cluster.obj("rollout.dev", "v1alpha1", "routes", "web")
        assert rt is not None
        ready = next(c for c in rt["status"]["conditions"] if c["type"] == "Ready")
        assert (ready["status"], ready["reason"]) == ("False", "RouteNotAccepted")
        assert REFUSAL in ready["message"]
    finally:
        assert controller.stop() == 0, controller.output()
