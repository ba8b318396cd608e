"""End to end on the API emulator: the real CLI and a controller process with the
kubernetes platform, the CRDs applied with the real kubectl, Deployments made
available as the Deployment controller would, metrics from a simulator scenario that
follows the weights really applied.

Checked for each release: the Revisions, their Deployments and Services (owned by the
Revision), the HTTPRoute or VirtualService showing the policy's weights step by step
in order, the outcome (`rollout status --watch` exits 0 for Succeeded, 1 for
RolledBack), and `kubectl get rsvc,rrel` columns.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubecluster import (
    Cluster,
    Controller,
    Kubectl,
    assert_granted,
    event_reasons,
    rollout,
    service_yaml,
    wait_for,
)

QUICK = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: quick}
spec:
  steps:
    - setWeight: 20
    - analysis: {duration: 3s, metrics: [error-rate]}
    - setWeight: 50
    - analysis: {duration: 3s, metrics: [error-rate]}
  analysis:
    interval: 1s
    failureLimit: 0
    inconclusiveLimit: 30
    metrics:
      - name: error-rate
        provider: {local: {stat: error_rate}}
        window: 5s
        minSamples: 20
        thresholds: {max: 0.05}
"""

GATEWAY = "{router: gateway-api, parentRefs: [{name: public}], hostnames: [web.example]}"
ISTIO = "{router: istio, hosts: [web.example], gateways: [public]}"


def release_run(
    c: Cluster, router: str, scenario: str, kubectl: Kubectl
) -> tuple[int, list[Any], Controller]:
    """First deploy (v1), then v2 under the quick policy; the split seen at each change
    and the exit code of `rollout status --watch`."""
    routing = GATEWAY if router == "gateway-api" else ISTIO
    controller = Controller(
        c.kubeconfig,
        c.tmp / "controller.log",
        "--scenario",
        scenario,
        "--rps",
        "200",
        "--scrape-delay",
        "0.5",
    )
    c.apply(QUICK, "policy.yaml")
    c.apply(service_yaml("v1", policy="quick", routing=routing), "v1.yaml")
    wait_for(
        lambda: c.rsvc().get("status", {}).get("stableRevision") == "web-00001",
        30,
        f"the first revision to take traffic; controller log:\n{controller.output()}",
    )
    c.wait_split((("web-00001", 100),), 10, router=router)
    recorder = c.record(router)
    c.apply(service_yaml("v2", policy="quick", routing=routing), "v2.yaml")
    watched = rollout(c.kubeconfig, "status", "web", "--watch", "--timeout", "60s", timeout=90)
    wait_for(
        lambda: recorder.splits and recorder.splits[-1] in FINAL,
        10,
        f"the final split; seen {recorder.splits}\nstatus: {watched.stdout}{watched.stderr}\n"
        f"controller log:\n{controller.output()[-5000:]}",
    )
    splits = recorder.stop()
    assert watched.returncode in (0, 1), watched.stderr + controller.output()
    return watched.returncode, splits, controller


FINAL = {(("web-00001", 100),), (("web-00002", 100),)}


def check_workloads(c: Cluster) -> None:
    for rev in ("web-00001", "web-00002"):
        revision = c.obj("rollout.dev", "v1alpha1", "revisions", rev)
        assert revision is not None
        for group, plural in (("apps", "deployments"), ("", "services")):
            obj = c.obj(group, "v1", plural, rev)
            assert obj is not None, f"{plural}/{rev}"
            owners = obj["metadata"]["ownerReferences"]
            assert [(o["kind"], o["name"], o["uid"]) for o in owners] == [
                ("Revision", rev, revision["metadata"]["uid"])
            ]
            assert obj["metadata"]["labels"]["rollout.dev/revision"] == rev
    stable = c.obj("", "v1", "services", "web")
    assert stable is not None


@pytest.mark.parametrize("router", ["gateway-api"])
def test_a_bad_canary_is_rolled_back_step_by_step(
    cluster: Cluster, router: str, kubectl: Kubectl
) -> None:
    code, splits, controller = release_run(cluster, router, "bad-20pct", kubectl)
    try:
        assert code == 1
        assert splits == [
            (("web-00001", 100),),
            (("web-00001", 80), ("web-00002", 20)),
            (("web-00001", 100),),
        ], splits
        release = json.loads(rollout(cluster.kubeconfig, "get", "release", "-o", "json").stdout)
        check_workloads(cluster)
        assert_granted(cluster.emu)
        assert cluster.rsvc()["status"]["stableRevision"] == "web-00001"
        assert release
    finally:
        assert controller.stop() == 0, controller.output()


@pytest.mark.parametrize("router", ["gateway-api", "istio"])
def test_a_good_canary_is_promoted_through_every_step(
    cluster: Cluster, router: str, kubectl: Kubectl
) -> None:
    code, splits, controller = release_run(cluster, router, "good", kubectl)
    try:
        assert code == 0, controller.output()
        assert splits == [
            (("web-00001", 100),),
            (("web-00001", 80), ("web-00002", 20)),
            (("web-00001", 50), ("web-00002", 50)),
            (("web-00002", 100),),
        ], splits
        check_workloads(cluster)
        assert_granted(cluster.emu)
        assert cluster.rsvc()["status"]["stableRevision"] == "web-00002"
        table = kubectl(cluster.kubeconfig, "get", "rsvc,rrel")
        assert table.returncode == 0, table.stderr
        lines = [line.split() for line in table.stdout.splitlines() if line.strip()]
        assert lines[0] == ["NAME", "STABLE", "LATEST", "RELEASE", "READY", "URL", "AGE"]
        assert lines[1][:6] == [
            "service.rollout.dev/web",
            "web-00002",
            "web-00002",
            "web-00002",
            "True",
            "http://web.example",
        ]
        assert lines[2][:7] == ["NAME", "SERVICE", "PHASE", "STEP", "WEIGHT", "STABLE", "CANARY"]
        assert lines[3][:7] == [
            "release.rollout.dev/web-00002",
            "web",
            "Succeeded",
            "4/4",  # the last step, counted from 1
            "100",
            "web-00001",
            "web-00002",
        ]
        assert {"ReleaseStarted", "StepAdvanced", "Promoted"} <= event_reasons(
            cluster, "Release", "web-00002"
        )
        assert {"RevisionCreated", "ReleaseStarted"} <= event_reasons(cluster, "Service", "web")
    finally:
        assert controller.stop() == 0, controller.output()
