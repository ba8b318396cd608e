"""End to end on the API emulator: a Service that adopts an existing Deployment
(`spec.workloadRef`), with the real CLI, kubectl and a controller process.

A Deployment `web-app` (3 replicas, image v1, labels `app: web`) exists; the Service
`web` names it. Checked per `scaleDown` mode: the first revision is made from its pod
template (without `pod-template-hash`) with its replicas and takes all traffic; the
original is scaled as the mode says and its replicas recorded; `kubectl set image` on
the original makes the next revision and a release, promoted; deleting the Service
(a finalizer holds it) gives the original back its replicas and removes the record;
every request the controller made is granted by the install's RBAC.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubecluster import Cluster, Controller, Kubectl, assert_granted, event_reasons, wait_for
from kubernetes import client

ORIGINAL = "web-app"
POLICY = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: quick}
spec:
  steps:
    - setWeight: 50
    - analysis: {duration: 2s, metrics: [error-rate]}
  analysis:
    interval: 1s
    failureLimit: 0
    inconclusiveLimit: 30
    metrics:
      - name: error-rate
        provider: {local: {stat: error_rate}}
        window: 5s
        minSamples: 5
        thresholds: {max: 0.05}
"""


def service(scale_down: str) -> str:
    return f"""\
apiVersion: rollout.dev/v1alpha1
kind: Service
metadata: {{name: web, namespace: default}}
spec:
  policy: quick
  workloadRef: {{apiVersion: apps/v1, kind: Deployment, name: {ORIGINAL}, scaleDown: {scale_down}}}
"""


def make_original(c: Cluster) -> None:
    labels = {"app": "web"}
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": ORIGINAL, "namespace": "default", "labels": labels},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": {**labels, "pod-template-hash": "5d9f8c7b6"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.example/web:v1",
                            "ports": [{"containerPort": 8080}],
                        }
                    ]
                },
            },
        },
    }
    client.AppsV1Api(c.emu.api_client()).create_namespaced_deployment("default", body)


def original(c: Cluster) -> dict[str, Any]:
    found = c.obj("apps", "v1", "deployments", ORIGINAL)
    assert found is not None
    return found


def image_of(c: Cluster, revision: str) -> str:
    rev = c.obj("rollout.dev", "v1alpha1", "revisions", revision)
    assert rev is not None, revision
    return str(rev["spec"]["template"]["spec"]["containers"][0]["image"])


@pytest.mark.parametrize(
    ("mode", "scaled_to"), [("onsuccess", 0), ("progressively", 0), ("never", 3)]
)
def test_an_adopted_deployment_is_released_scaled_and_given_back(
    cluster: Cluster, kubectl: Kubectl, mode: str, scaled_to: int
) -> None:
    c = cluster
    make_original(c)
    controller = Controller(
        c.kubeconfig,
        c.tmp / "controller.log",
        "--scenario",
        "good",
        "--rps",
        "200",
        "--scrape-delay",
        "0.5",
    )
    try:
        c.apply(POLICY, "policy.yaml")
        c.apply(service(mode), "web.yaml")
        wait_for(
            lambda: c.rsvc().get("status", {}).get("stableRevision") == "web-00001",
            30,
            "the first revision to take traffic",
        )
        c.wait_split((("web-00001", 100),), 10)
        # made from the Deployment's pod template, with its replicas
        rev = c.obj("rollout.dev", "v1alpha1", "revisions", "web-00001")
        assert rev is not None
        assert rev["spec"]["template"]["metadata"]["labels"] == {"app": "web"}
        assert image_of(c, "web-00001") == "registry.example/web:v1"
        assert rev["spec"]["scaling"]["minReplicas"] == 3
        deployment = c.obj("apps", "v1", "deployments", "web-00001")
        assert deployment is not None
        assert deployment["spec"]["replicas"] == 3
        assert c.rsvc()["metadata"]["finalizers"] == ["rollout.dev/restore-workload"]
        # the original, scaled as the mode says, its replicas recorded
        wait_for(
            lambda: original(c)["spec"]["replicas"] == scaled_to,
            10,
            f"the original at {scaled_to}",
        )
        meta = original(c)["metadata"]
        assert meta["annotations"]["rollout.dev/original-replicas"] == "3"
        assert meta["labels"]["rollout.dev/adopted-by"] == "web"
        # a new image on the original: the next revision, released under the policy
        done = kubectl(
            c.kubeconfig, "set", "image", f"deployment/{ORIGINAL}", "app=registry.example/web:v2"
        )
        assert done.returncode == 0, done.stderr
        wait_for(
            lambda: c.rsvc().get("status", {}).get("stableRevision") == "web-00002",
            40,
            "web-00002 promoted",
        )
        assert image_of(c, "web-00002") == "registry.example/web:v2"
        release = c.obj("rollout.dev", "v1alpha1", "releases", "web-00002")
        assert release is not None
        assert release["status"]["phase"] == "Succeeded"
        assert release["spec"]["stableRevision"] == "web-00001"
        c.wait_split((("web-00002", 100),), 10)
        assert original(c)["spec"]["replicas"] == scaled_to
        reasons = event_reasons(c, "Service", "web")
        assert {"WorkloadAdopted", "ReleaseStarted"} <= reasons
        assert ("WorkloadScaled" in reasons) == (mode != "never")
        # deleting the Service gives the original back its replicas
        deleted = kubectl(c.kubeconfig, "delete", "rsvc", "web", "--timeout=30s", timeout=40)
        assert deleted.returncode == 0, deleted.stderr
        assert c.obj("rollout.dev", "v1alpha1", "services", "web") is None
        meta = original(c)["metadata"]
        assert original(c)["spec"]["replicas"] == 3
        assert "rollout.dev/original-replicas" not in (meta.get("annotations") or {})
        assert "rollout.dev/adopted-by" not in (meta.get("labels") or {})
        assert original(c)["spec"]["template"]["spec"]["containers"][0]["image"].endswith("v2")
        wait_for(  # owned: collected, a moment after the Service (the garbage collector)
            lambda: c.obj("apps", "v1", "deployments", "web-00002") is None,
            10,
            "web-00002's Deployment collected",
        )
        assert_granted(c.emu)
    except BaseException:
        print(controller.output()[-8000:])  # shown by pytest with the failure
        raise
    finally:
        assert controller.stop() == 0, controller.output()[-4000:]


def test_a_missing_deployment_is_said_and_adopted_once_it_exists(
    cluster: Cluster, kubectl: Kubectl
) -> None:
    """No Deployment yet: WorkloadNotFound on Ready; once created, it is adopted."""
    c = cluster
    controller = Controller(c.kubeconfig, c.tmp / "controller.log", "--scenario", "good")
    try:
        c.apply(POLICY, "policy.yaml")
        c.apply(service("onsuccess"), "web.yaml")

        def ready_reason() -> str | None:
            conditions = c.rsvc().get("status", {}).get("conditions") or []
            return next((x["reason"] for x in conditions if x["type"] == "Ready"), None)

        wait_for(lambda: ready_reason() == "WorkloadNotFound", 20, "WorkloadNotFound")
        make_original(c)
        wait_for(
            lambda: c.rsvc().get("status", {}).get("stableRevision") == "web-00001",
            30,
            f"adopted once it exists; log:\n{controller.output()[-4000:]}",
        )
        got = kubectl(c.kubeconfig, "get", "rsvc", "web", "-o", "json")
        assert json.loads(got.stdout)["spec"]["workloadRef"]["name"] == ORIGINAL
    finally:
        assert controller.stop() == 0, controller.output()[-4000:]
