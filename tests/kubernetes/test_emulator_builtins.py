"""Built-ins: the apiserver's defaults (so desired-vs-actual diffs behave) and its checks."""

from __future__ import annotations

import copy
from typing import Any

import kubeemu
import kubernetes.client
import pytest
from kubeemu import builtins, rawclient

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
SERVICES = "/api/v1/namespaces/default/services"
HPAS = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers"


def a_deployment(image: str = "app:1.0") -> dict[str, Any]:
    labels = {"app": "web"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": image,
                            "ports": [{"containerPort": 8080}],
                            "readinessProbe": {"httpGet": {"path": "/", "port": 8080}},
                        }
                    ]
                },
            },
        },
    }


def a_service(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}], **spec},
    }


def _post(emu: kubeemu.Emulator, path: str, body: dict[str, Any]) -> Any:
    return rawclient.call(emu.url, "POST", path, body=body)


def test_deployment_defaults(emulator: kubeemu.Emulator) -> None:
    """A created Deployment reads back with the apiserver's defaults filled in."""
    made = _post(emulator, DEPLOYMENTS, a_deployment()).body
    spec = made["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert (spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (10, 600)
    assert spec["template"]["metadata"]["creationTimestamp"] is None
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Always"
    assert pod["terminationGracePeriodSeconds"] == 30
    assert pod["dnsPolicy"] == "ClusterFirst"
    assert pod["schedulerName"] == "default-scheduler"
    [container] = pod["containers"]
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["resources"] == {}
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert container["readinessProbe"] == {
        "httpGet": {"path": "/", "port": 8080, "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("app", "Always"),
        ("app:latest", "Always"),
        ("registry:5000/app", "Always"),
        ("registry:5000/app:1.2", "IfNotPresent"),
        ("app@sha256:abc", "IfNotPresent"),
    ],
)
def test_image_pull_policy_default(image: str, policy: str) -> None:
    """imagePullPolicy is Always for :latest or no tag, IfNotPresent otherwise."""
    obj = a_deployment(image)
    builtins.default(("apps", "deployments"), obj, None, builtins.Allocator())
    assert obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_resending_the_desired_deployment_is_not_a_change(emulator: kubeemu.Emulator) -> None:
    """A PUT of the same (undefaulted) Deployment is a no-op: defaults do not count as changes."""
    made = _post(emulator, DEPLOYMENTS, a_deployment()).body
    again = rawclient.call(emulator.url, "PUT", f"{DEPLOYMENTS}/web", body=a_deployment()).body
    assert again["metadata"]["resourceVersion"] == made["metadata"]["resourceVersion"]
    assert again["metadata"]["generation"] == 1
    changed = rawclient.call(
        emulator.url, "PUT", f"{DEPLOYMENTS}/web", body=a_deployment("app:2.0")
    ).body
    assert changed["metadata"]["generation"] == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["spec"].pop("selector"), "spec.selector"),
        (
            lambda d: d["spec"]["template"]["metadata"].update(labels={"app": "other"}),
            "spec.template.metadata.labels",
        ),
        (
            lambda d: d["spec"]["template"]["spec"].update(containers=[]),
            "spec.template.spec.containers",
        ),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("name"),
            "spec.template.spec.containers[0].name",
        ),
    ],
    ids=["no-selector", "selector-mismatch", "no-containers", "unnamed-container"],
)
def test_deployment_checks(emulator: kubeemu.Emulator, change: Any, field: str) -> None:
    """What the apiserver refuses in a Deployment is a 422 naming the field."""
    body = a_deployment()
    change(body)
    reply = _post(emulator, DEPLOYMENTS, body)
    assert reply.status == 422
    assert field in [c["field"] for c in reply.body["details"]["causes"]]


def test_deployment_selector_is_immutable(emulator: kubeemu.Emulator) -> None:
    """apps/v1 selectors cannot change."""
    _post(emulator, DEPLOYMENTS, a_deployment())
    body = a_deployment()
    body["spec"]["selector"]["matchLabels"]["tier"] = "x"
    body["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    reply = rawclient.call(emulator.url, "PUT", f"{DEPLOYMENTS}/web", body=body)
    assert reply.status == 422
    assert "field is immutable" in reply.body["message"]


def test_service_defaults_and_cluster_ip(emulator: kubeemu.Emulator) -> None:
    """Services get type, ports' protocol/targetPort and a ClusterIP, kept across updates."""
    made = _post(emulator, SERVICES, a_service()).body
    spec = made["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert spec["clusterIP"].startswith("10.96.")
    assert spec["clusterIPs"] == [spec["clusterIP"]]
    assert made["status"] == {"loadBalancer": {}}
    updated = rawclient.call(
        emulator.url, "PUT", f"{SERVICES}/web", body=a_service(ports=[{"port": 81}])
    ).body
    assert updated["spec"]["clusterIP"] == spec["clusterIP"]
    moved = rawclient.call(
        emulator.url, "PUT", f"{SERVICES}/web", body=a_service(clusterIP="10.96.9.9")
    )
    assert moved.status == 422
    other = _post(emulator, SERVICES, {**a_service(), "metadata": {"name": "other"}}).body
    assert other["spec"]["clusterIP"] != spec["clusterIP"]


def test_node_ports_and_headless_services(emulator: kubeemu.Emulator) -> None:
    """NodePort Services get node ports; headless ones keep clusterIP None and need no ports."""
    node = _post(emulator, SERVICES, a_service(type="NodePort")).body
    assert 30000 <= node["spec"]["ports"][0]["nodePort"] <= 32767
    assert node["spec"]["externalTrafficPolicy"] == "Cluster"
    headless = {**a_service(clusterIP="None"), "metadata": {"name": "headless"}}
    headless["spec"].pop("ports")
    made = _post(emulator, SERVICES, headless)
    assert made.status == 201, made.body
    assert made.body["spec"]["clusterIPs"] == ["None"]


def test_service_ports_are_checked(emulator: kubeemu.Emulator) -> None:
    """Ports must be 1-65535 and named when there are several."""
    reply = _post(emulator, SERVICES, a_service(ports=[{"port": 0}, {"port": 81}]))
    assert reply.status == 422
    fields = [c["field"] for c in reply.body["details"]["causes"]]
    assert fields == ["spec.ports[0].port", "spec.ports[0].name", "spec.ports[1].name"]


def test_hpa_defaults_and_status_work_with_the_official_client(
    emulator: kubeemu.Emulator,
) -> None:
    """HPAs get minReplicas and the CPU metric; their status deserializes in the official client."""
    autoscaling = kubernetes.client.AutoscalingV2Api(emulator.api_client())
    made = autoscaling.create_namespaced_horizontal_pod_autoscaler(
        "default",
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "maxReplicas": 5,
            },
        },
    )
    assert made.spec.min_replicas == 1
    assert made.spec.metrics[0].resource.target.average_utilization == 80
    assert made.status.desired_replicas == 0
    bad = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "bad"},
        "spec": {"scaleTargetRef": {"kind": "Deployment"}, "minReplicas": 4, "maxReplicas": 2},
    }
    reply = _post(emulator, HPAS, bad)
    assert reply.status == 422
    fields = [c["field"] for c in reply.body["details"]["causes"]]
    assert fields == ["spec.scaleTargetRef.name", "spec.minReplicas"]


CORE_EVENT = {
    "apiVersion": "v1",
    "kind": "Event",
    "metadata": {"name": "web.1", "namespace": "default"},
    "involvedObject": {"kind": "Deployment", "name": "web", "namespace": "default"},
    "reason": "Scaled",
    "type": "Normal",
}


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({}, []),
        (
            {"eventTime": "2025-01-01T00:00:00.000000Z"},
            ["reportingComponent", "reportingInstance", "action"],
        ),
        (
            {
                "eventTime": "2025-01-01T00:00:00.000000Z",
                "reportingComponent": "rollout",
                "reportingInstance": "rollout-0",
                "action": "Scale",
            },
            [],
        ),
        (
            {"involvedObject": {"kind": "Deployment", "name": "web", "namespace": "other"}},
            ["involvedObject.namespace"],
        ),
        ({"involvedObject": None}, ["involvedObject"]),
    ],
    ids=[
        "legacy",
        "event-time-without-reporter",
        "event-time-complete",
        "other-namespace",
        "no-object",
    ],
)
def test_core_event_checks(
    emulator: kubeemu.Emulator, change: dict[str, Any], fields: list[str]
) -> None:
    """Core events: with eventTime they need reporter and action; the object's namespace matches."""
    body = {**copy.deepcopy(CORE_EVENT), **change}
    reply = _post(emulator, "/api/v1/namespaces/default/events", body)
    if not fields:
        assert reply.status == 201, reply.body
        return
    assert reply.status == 422
    assert [c["field"] for c in reply.body["details"]["causes"]] == fields


def test_events_k8s_io_required_fields(emulator: kubeemu.Emulator) -> None:
    """events.k8s.io/v1 events need eventTime, reason, type, reporting fields and action."""
    body = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "e"},
        "type": "Info",
    }
    reply = _post(emulator, "/apis/events.k8s.io/v1/namespaces/default/events", body)
    assert reply.status == 422
    assert [c["field"] for c in reply.body["details"]["causes"]] == [
        "eventTime",
        "reason",
        "type",
        "reportingController",
        "reportingInstance",
        "action",
    ]


def test_configmap_data_must_be_strings(emulator: kubeemu.Emulator) -> None:
    """ConfigMap data values are strings and keys are config keys."""
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"n": 1, "bad key": "x"},
    }
    reply = _post(emulator, "/api/v1/namespaces/default/configmaps", body)
    assert reply.status == 422
    assert [c["field"] for c in reply.body["details"]["causes"]] == ["data[n]", "data"]
