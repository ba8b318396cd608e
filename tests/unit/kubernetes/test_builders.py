"""The Kubernetes builders (`workloads`, `traffic`, `gateway_api`, `istio`, `events`):
Revision → Deployment/Service/HPA, Route → stable Service and HTTPRoute/VirtualService,
stored objects → RuntimeState and applied splits, Events."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import kubernetes.client
import pytest

from rollout.api import names, revision, route, split
from rollout.platforms.kubernetes import events, gateway_api, istio, traffic, workloads

T0 = datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)


def make_rev(
    template: dict[str, Any] | None = None,
    scaling: dict[str, Any] | None = None,
    **meta: Any,
) -> revision.Revision:
    """A stored revision of service `web` in namespace `shop`."""
    return revision.Revision.model_validate(
        {
            "metadata": {
                "name": "web-00002",
                "namespace": "shop",
                "uid": "uid-rev",
                "resourceVersion": "7",
                **meta,
            },
            "spec": {
                "service": "web",
                "template": template or pod(container()),
                "scaling": scaling,
                "progressDeadline": "5m",
            },
        }
    )


def container(**fields: Any) -> dict[str, Any]:
    return {"name": "app", "image": "web:2", **fields}


def pod(*containers: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    """A pod template of these containers (`metadata`: its labels and annotations)."""
    template: dict[str, Any] = {"spec": {"containers": list(containers)}}
    if metadata:
        template["metadata"] = metadata
    return template


def make_route(traffic: list[dict[str, Any]], routing: dict[str, Any] | None = None) -> route.Route:
    """A stored route of service `web` in namespace `shop`."""
    return route.Route.model_validate(
        {
            "metadata": {"name": "web", "namespace": "shop", "uid": "uid-route"},
            "spec": {"service": "web", "traffic": traffic, "routing": routing},
        }
    )


def target(rev: str, percent: int, tag: str | None = None) -> dict[str, Any]:
    return {"revisionName": rev, "percent": percent, "tag": tag}


REV_OWNER = {
    "apiVersion": "rollout.dev/v1alpha1",
    "kind": "Revision",
    "name": "web-00002",
    "uid": "uid-rev",
    "controller": True,
    "blockOwnerDeletion": True,
}
ROUTE_OWNER = {**REV_OWNER, "kind": "Route", "name": "web", "uid": "uid-route"}


def only_container(obj: dict[str, Any], index: int = 0) -> dict[str, Any]:
    containers: list[dict[str, Any]] = obj["spec"]["template"]["spec"]["containers"]
    return containers[index]


def env_of(c: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in c.get("env", [])}


# ---- labels -----------------------------------------------------------------------


def test_labels_are_the_reconcilers_labels() -> None:
    """The Kubernetes objects carry the same labels as the stored resources."""
    labels = workloads.make_deployment(make_rev())["metadata"]["labels"]
    assert labels[names.SERVICE_LABEL] == "web"
    assert labels[names.REVISION_LABEL] == "web-00002"
    stable = traffic.make_stable_service(make_route([target("web-00002", 100)]), port=8080)
    assert stable["metadata"]["labels"][names.SERVICE_LABEL] == "web"


# ---- Deployment -------------------------------------------------------------------


def test_deployment_identity_selector_and_owner() -> None:
    """Named after the revision, selects its pods only, owned by the Revision."""
    dep = workloads.make_deployment(make_rev(pod(container(), labels={"team": "a"})))
    assert dep["apiVersion"] == "apps/v1"
    assert dep["kind"] == "Deployment"
    assert dep["metadata"]["name"] == "web-00002"
    assert dep["metadata"]["namespace"] == "shop"
    assert dep["metadata"]["ownerReferences"] == [REV_OWNER]
    expected = {
        "team": "a",
        "rollout.dev/service": "web",
        "rollout.dev/revision": "web-00002",
        "app.kubernetes.io/managed-by": "rollout",
    }
    assert dep["metadata"]["labels"] == expected
    assert dep["spec"]["template"]["metadata"]["labels"] == expected
    assert dep["spec"]["selector"] == {"matchLabels": {"rollout.dev/revision": "web-00002"}}
    assert dep["spec"]["progressDeadlineSeconds"] == 300


def test_template_labels_cannot_take_over_ours() -> None:
    """A template label named like ours does not change the selector's label."""
    labels = {"rollout.dev/revision": "other", "rollout.dev/service": "other"}
    dep = workloads.make_deployment(make_rev(pod(container(), labels=labels)))
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["rollout.dev/revision"] == "web-00002"
    assert pod_labels["rollout.dev/service"] == "web"


def test_template_annotations_go_on_the_pods() -> None:
    """Template annotations (e.g. for a mesh or a scraper) land on the pod template."""
    annotations = {"prometheus.io/scrape": "true"}
    dep = workloads.make_deployment(make_rev(pod(container(), annotations=annotations)))
    assert dep["spec"]["template"]["metadata"]["annotations"] == annotations


@pytest.mark.parametrize(
    ("scaling", "replicas"),
    [
        pytest.param(None, 1, id="no-scaling-one-replica"),
        pytest.param({"minReplicas": 3}, 3, id="min-replicas"),
        pytest.param({"minReplicas": 2, "maxReplicas": 9}, 2, id="autoscaled-starts-at-min"),
    ],
)
def test_deployment_replicas(scaling: dict[str, Any] | None, replicas: int) -> None:
    """Replicas start at scaling.minReplicas, else 1."""
    dep = workloads.make_deployment(make_rev(pod(container()), scaling))
    assert dep["spec"]["replicas"] == replicas


@pytest.mark.parametrize(
    ("scaling", "asked", "replicas"),
    [
        pytest.param(None, 0, 0, id="scaled-to-zero"),
        pytest.param({"minReplicas": 10}, 3, 3, id="a-matched-canarys-count"),
        pytest.param({"minReplicas": 2, "maxReplicas": 9}, 0, 0, id="autoscaled-to-zero"),
        pytest.param({"minReplicas": 2, "maxReplicas": 9}, 5, 2, id="autoscaled-count-via-hpa"),
    ],
)
def test_deployment_replicas_asked_for(
    scaling: dict[str, Any] | None, asked: int, replicas: int
) -> None:
    """The count the Revision reconciler asks for; with an HPA, minReplicas (or 0):
    the HPA's bounds carry the count, and the autoscaler owns the replicas."""
    rev = make_rev(pod(container()), scaling)
    dep = workloads.make_deployment(rev, replicas=asked)
    assert dep["spec"]["replicas"] == replicas


@pytest.mark.parametrize(
    ("asked", "bounds"),
    [
        pytest.param(1, (2, 6), id="below-min-keeps-min"),
        pytest.param(4, (4, 6), id="canary-count-raises-min"),
        pytest.param(8, (8, 8), id="above-max-raises-both"),
        pytest.param(0, (2, 6), id="at-zero-bounds-kept"),
    ],
)
def test_hpa_bounds_follow_the_count_asked_for(asked: int, bounds: tuple[int, int]) -> None:
    rev = make_rev(pod(container()), {"minReplicas": 2, "maxReplicas": 6})
    hpa = workloads.make_hpa(rev, replicas=asked)
    assert hpa is not None
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == bounds


@pytest.mark.parametrize(
    ("fields", "port_env", "ports"),
    [
        pytest.param(
            {},
            "8080",
            [{"containerPort": 8080, "protocol": "TCP", "name": "http"}],
            id="no-port-declared-8080",
        ),
        pytest.param(
            {"ports": [{"containerPort": 9000, "name": "web"}, {"containerPort": 9100}]},
            "9000",
            [{"containerPort": 9000, "name": "web"}, {"containerPort": 9100}],
            id="first-declared-port",
        ),
        pytest.param(
            {"ports": [{"containerPort": 9000}], "env": [{"name": "PORT", "value": "5000"}]},
            "5000",
            [{"containerPort": 9000}],
            id="template-sets-port",
        ),
    ],
)
def test_serving_port_and_port_env(
    fields: dict[str, Any], port_env: str, ports: list[dict[str, Any]]
) -> None:
    """PORT is the serving port (as locally) unless the template sets it; declared ports
    stay as written, and `http` is declared only when the container declares none."""
    c = only_container(workloads.make_deployment(make_rev(pod(container(**fields)))))
    assert env_of(c)["PORT"] == port_env
    assert [e["name"] for e in c["env"]].count("PORT") == 1
    assert c["ports"] == ports


def test_container_fields_are_mapped_and_absent_ones_left_out() -> None:
    """Image, command, args, workingDir, env and resources keep their Kubernetes names."""
    full = container(
        command=["/bin/web"],
        args=["--flag"],
        workingDir="/srv",
        env=[{"name": "MODE", "value": "canary"}],
        resources={"requests": {"cpu": "50m"}, "limits": {"memory": "64Mi"}},
    )
    c = only_container(workloads.make_deployment(make_rev(pod(full))))
    assert c["image"] == "web:2"
    assert c["command"] == ["/bin/web"]
    assert c["args"] == ["--flag"]
    assert c["workingDir"] == "/srv"
    assert c["env"] == [{"name": "MODE", "value": "canary"}, {"name": "PORT", "value": "8080"}]
    assert c["resources"] == {"requests": {"cpu": "50m"}, "limits": {"memory": "64Mi"}}
    bare = only_container(workloads.make_deployment(make_rev(pod(container()))))
    assert not {"command", "args", "workingDir", "resources", "readinessProbe"} & bare.keys()


def test_only_the_first_container_serves() -> None:
    """A sidecar keeps its own env and ports: PORT goes to the first container only."""
    dep = workloads.make_deployment(make_rev(pod(container(), {"name": "proxy", "image": "envoy"})))
    sidecar = only_container(dep, 1)
    assert "PORT" not in env_of(sidecar)
    assert "ports" not in sidecar


@pytest.mark.parametrize(
    "probe",
    [
        pytest.param({"httpGet": {"path": "/healthz", "port": 9000}}, id="http-get"),
        pytest.param(
            {
                "httpGet": {"path": "/ready", "port": "web", "scheme": "HTTP"},
                "initialDelaySeconds": 2,
                "periodSeconds": 5,
                "timeoutSeconds": 3,
                "failureThreshold": 6,
            },
            id="named-port-and-timings",
        ),
        pytest.param({"tcpSocket": {"port": 9000}}, id="tcp-socket"),
        pytest.param({"exec": {"command": ["cat", "/tmp/ready"]}}, id="exec"),
    ],
)
def test_readiness_probe_is_kept_as_written(probe: dict[str, Any]) -> None:
    """The probe reaches the Deployment as written: no default filled in (the API server
    fills Kubernetes' own), no port rewritten."""
    ports = [{"containerPort": 9000, "name": "web"}]
    rev = make_rev(pod(container(ports=ports, readinessProbe=copy.deepcopy(probe))))
    c = only_container(workloads.make_deployment(rev))
    assert c["readinessProbe"] == probe


def test_container_without_image_is_refused() -> None:
    """A command-only container (fine locally) cannot run on Kubernetes."""
    rev = make_rev(pod({"name": "app", "command": ["app"]}))
    with pytest.raises(ValueError, match="app have no image"):
        workloads.make_deployment(rev)


def test_owner_without_uid_is_refused() -> None:
    """An owner reference needs the owner's uid: only stored objects own."""
    with pytest.raises(ValueError, match="no uid"):
        workloads.make_deployment(make_rev(uid=None))


# ---- revision Service and HPA -------------------------------------------------------


def test_revision_service_targets_its_pods_on_the_serving_port() -> None:
    """Port 80 → the serving port, selecting the revision's pods, owned by the Revision."""
    rev = make_rev(pod(container(ports=[{"containerPort": 9000}])))
    svc = workloads.make_revision_service(rev)
    assert (svc["apiVersion"], svc["kind"]) == ("v1", "Service")
    assert svc["metadata"]["name"] == "web-00002"
    assert svc["metadata"]["ownerReferences"] == [REV_OWNER]
    assert svc["spec"]["selector"] == {"rollout.dev/revision": "web-00002"}
    assert svc["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": 9000, "protocol": "TCP"}
    ]


@pytest.mark.parametrize(
    ("scaling", "expected"),
    [
        pytest.param(None, None, id="no-scaling"),
        pytest.param({"minReplicas": 2}, None, id="no-max"),
        pytest.param({"minReplicas": 3, "maxReplicas": 3}, None, id="max-equals-min"),
        pytest.param({"minReplicas": 2, "maxReplicas": 10}, (2, 10, 80), id="default-cpu-80"),
        pytest.param(
            {"minReplicas": 1, "maxReplicas": 4, "targetCpuUtilizationPercentage": 65},
            (1, 4, 65),
            id="cpu-target",
        ),
    ],
)
def test_hpa_only_when_scaling_asks(
    scaling: dict[str, Any] | None, expected: tuple[int, int, int] | None
) -> None:
    """An HPA exists when maxReplicas > minReplicas, scaling the revision's Deployment."""
    hpa = workloads.make_hpa(make_rev(pod(container()), scaling))
    if expected is None:
        assert hpa is None
        return
    assert hpa is not None
    assert (hpa["apiVersion"], hpa["kind"]) == ("autoscaling/v2", "HorizontalPodAutoscaler")
    assert hpa["metadata"]["ownerReferences"] == [REV_OWNER]
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "web-00002",
    }
    cpu = spec["metrics"][0]["resource"]
    assert cpu["name"] == "cpu"
    utilization = cpu["target"]["averageUtilization"]
    assert (spec["minReplicas"], spec["maxReplicas"], utilization) == expected


# ---- deployment_state ---------------------------------------------------------------


def stored_deployment(
    *,
    status: dict[str, Any] | None,
    generation: int = 2,
    replicas: int = 2,
    created: datetime = T0 - timedelta(minutes=1),
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web-00002",
            "namespace": "shop",
            "generation": generation,
            "creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "spec": {"replicas": replicas, "progressDeadlineSeconds": 300},
        "status": status,
    }


def counts(replicas: int, ready: int, available: int, updated: int) -> dict[str, int]:
    return {
        "observedGeneration": 2,
        "replicas": replicas,
        "readyReplicas": ready,
        "availableReplicas": available,
        "updatedReplicas": updated,
    }


def cond(type_: str, status: str, reason: str, message: str = "") -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": message}


PDE = "ReplicaSet web-00002-abc has timed out progressing."
PSA = (
    'pods "web-00002-abc-x1" is forbidden: violates PodSecurity "restricted:latest":'
    ' runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true)'
)


@pytest.mark.parametrize(
    ("deployment", "ready", "reason", "failed", "message"),
    [
        pytest.param(
            stored_deployment(status=None),
            False,
            "Starting",
            False,
            "waiting for the Deployment controller to observe the latest generation",
            id="no-status-yet",
        ),
        pytest.param(
            stored_deployment(status={**counts(2, 2, 2, 2), "observedGeneration": 1}),
            False,
            "Starting",
            False,
            "waiting for the Deployment controller to observe the latest generation",
            id="observed-generation-lagging",
        ),
        pytest.param(
            stored_deployment(status=None, created=T0 - timedelta(minutes=6)),
            False,
            "Starting",
            False,
            "no Deployment controller has observed it within 300s:"
            " is kube-controller-manager running?",
            id="never-observed-past-deadline",
        ),
        pytest.param(
            stored_deployment(
                status={
                    **counts(2, 2, 2, 2),
                    "conditions": [cond("Progressing", "True", "NewReplicaSetAvailable")],
                }
            ),
            True,
            "Ready",
            False,
            "",
            id="ready",
        ),
        pytest.param(
            stored_deployment(
                status={
                    **counts(2, 1, 1, 2),
                    "conditions": [cond("Progressing", "True", "ReplicaSetUpdated")],
                }
            ),
            False,
            "Starting",
            False,
            "1/2 replicas available",
            id="rolling-out",
        ),
        pytest.param(
            stored_deployment(
                status={
                    **counts(2, 1, 1, 2),
                    "conditions": [
                        {
                            **cond("Progressing", "True", "ReplicaSetUpdated"),
                            "lastUpdateTime": "2026-03-01T11:57:30Z",
                        }
                    ],
                }
            ),
            False,
            "Starting",
            False,
            "1/2 replicas available"
            " (why: kubectl describe pods -n shop -l rollout.dev/revision=web-00002)",
            id="stalled-for-half-the-deadline",
        ),
        pytest.param(
            stored_deployment(status=counts(3, 2, 2, 1)),
            False,
            "Starting",
            False,
            "2/2 replicas available, 1/2 updated",
            id="updated-replicas-lagging",
        ),
        pytest.param(
            stored_deployment(
                status={
                    **counts(2, 0, 0, 2),
                    "conditions": [
                        cond("Progressing", "False", "ProgressDeadlineExceeded", PDE),
                        cond("Available", "False", "MinimumReplicasUnavailable"),
                    ],
                }
            ),
            False,
            "ProgressDeadlineExceeded",
            True,
            "ReplicaSet web-00002-abc has timed out progressing: 0/2 replicas available"
            " (why: kubectl describe pods -n shop -l rollout.dev/revision=web-00002)",
            id="progress-deadline-exceeded",
        ),
        pytest.param(
            stored_deployment(
                status={
                    **counts(0, 0, 0, 0),
                    "conditions": [
                        cond("Progressing", "False", "ProgressDeadlineExceeded", PDE),
                        cond("ReplicaFailure", "True", "FailedCreate", "exceeded quota: pods"),
                    ],
                }
            ),
            False,
            "ProgressDeadlineExceeded",
            True,
            "ReplicaSet web-00002-abc has timed out progressing:"
            " FailedCreate: exceeded quota: pods",
            id="progress-deadline-exceeded-pods-refused",
        ),
        pytest.param(
            stored_deployment(
                status={
                    **counts(0, 0, 0, 0),
                    "conditions": [
                        cond("ReplicaFailure", "True", "FailedCreate", "exceeded quota: pods")
                    ],
                }
            ),
            False,
            "ReplicaFailure",
            False,
            "FailedCreate: exceeded quota: pods",
            id="replica-failure",
        ),
        pytest.param(
            stored_deployment(
                status={
                    **counts(0, 0, 0, 0),
                    "conditions": [cond("ReplicaFailure", "True", "FailedCreate", PSA)],
                }
            ),
            False,
            "ReplicaFailure",
            True,
            f"FailedCreate: {PSA}",
            id="pod-security-refused",
        ),
        pytest.param(
            stored_deployment(
                status={
                    **counts(2, 1, 1, 2),
                    "conditions": [
                        cond("Progressing", "True", "NewReplicaSetAvailable"),
                        cond(
                            "Available",
                            "False",
                            "MinimumReplicasUnavailable",
                            "Deployment does not have minimum availability.",
                        ),
                    ],
                }
            ),
            False,
            "Unavailable",
            False,
            "1/2 replicas available: Deployment does not have minimum availability.",
            id="lost-pods-after-completing",
        ),
    ],
)
def test_deployment_state(
    deployment: dict[str, Any], ready: bool, reason: str, failed: bool, message: str
) -> None:
    """A stored Deployment's status, read only once it observed the current generation."""
    state = workloads.deployment_state(deployment, T0)
    assert (state.ready, state.reason, state.failed, state.message) == (
        ready,
        reason,
        failed,
        message,
    )
    assert state.url == "http://web-00002.shop.svc.cluster.local"


@pytest.mark.parametrize(
    ("status", "message"),
    [
        pytest.param(counts(2, 2, 2, 2), "scaled to zero (2 pods stopping)", id="stopping"),
        pytest.param({"observedGeneration": 2}, "scaled to zero", id="stopped"),
    ],
)
def test_a_deployment_at_zero_is_scaled_to_zero_not_failed(
    status: dict[str, Any], message: str
) -> None:
    """spec.replicas 0: ScaledToZero — never ready, never failed, whatever the status."""
    state = workloads.deployment_state(stored_deployment(status=status, replicas=0), T0)
    assert (state.ready, state.reason, state.failed, state.message) == (
        False,
        "ScaledToZero",
        False,
        message,
    )


def test_deployment_state_reports_replica_counts() -> None:
    """replicas and readyReplicas come from the status."""
    state = workloads.deployment_state(stored_deployment(status=counts(3, 2, 2, 3)), T0)
    assert (state.replicas, state.ready_replicas) == (3, 2)


# ---- stable Service -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("targets", "selected"),
    [
        pytest.param([target("web-00001", 100)], "web-00001", id="single"),
        pytest.param(
            [target("web-00001", 90, "stable"), target("web-00002", 10, "canary")],
            "web-00001",
            id="canary-at-10",
        ),
        pytest.param(
            [target("web-00001", 20), target("web-00002", 80)], "web-00002", id="canary-ahead"
        ),
        pytest.param(
            [target("web-00001", 50), target("web-00002", 50)], "web-00001", id="tie-first-listed"
        ),
        pytest.param(
            [target("web-00002", 0, "canary"), target("web-00001", 100, "stable")],
            "web-00001",
            id="blue-green-at-0",
        ),
        pytest.param([], "", id="no-traffic-selects-nothing"),
    ],
)
def test_stable_service_selects_the_primary_revision(
    targets: list[dict[str, Any]], selected: str
) -> None:
    """The service's own Service selects the pods of its highest-percent revision."""
    svc = traffic.make_stable_service(make_route(targets), port=9000)
    assert svc["metadata"]["name"] == "web"
    assert svc["metadata"]["ownerReferences"] == [ROUTE_OWNER]
    assert svc["spec"]["selector"] == {
        "rollout.dev/service": "web",
        "rollout.dev/revision": selected,
    }
    assert svc["spec"]["ports"][0]["port"] == 80
    assert svc["spec"]["ports"][0]["targetPort"] == 9000


# ---- HTTPRoute ----------------------------------------------------------------------

CANARY = [target("web-00001", 90, "stable"), target("web-00002", 10, "canary")]
GATEWAY = {
    "parentRefs": [{"name": "public", "namespace": "infra", "sectionName": "https"}],
    "hostnames": ["web.example.com"],
}


def backend(name: str, weight: int) -> dict[str, Any]:
    return {"group": "", "kind": "Service", "name": name, "port": 80, "weight": weight}


def tag_match(tag: str) -> list[dict[str, Any]]:
    return [
        {
            "path": {"type": "PathPrefix", "value": "/"},
            "headers": [{"type": "Exact", "name": "Rollout-Tag", "value": tag}],
        }
    ]


ALL_PATHS = [{"path": {"type": "PathPrefix", "value": "/"}}]


def test_httproute_tag_rules_first_then_weights() -> None:
    """One rule per tag on the Rollout-Tag header, then the weighted catch-all."""
    obj = gateway_api.build(make_route(CANARY, GATEWAY))
    assert obj["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert obj["kind"] == "HTTPRoute"
    assert obj["metadata"]["name"] == "web"
    assert obj["metadata"]["ownerReferences"] == [ROUTE_OWNER]
    assert obj["metadata"]["labels"] == {
        "rollout.dev/service": "web",
        "app.kubernetes.io/managed-by": "rollout",
    }
    assert obj["spec"]["rules"] == [
        {"matches": tag_match("stable"), "backendRefs": [backend("web-00001", 1)]},
        {"matches": tag_match("canary"), "backendRefs": [backend("web-00002", 1)]},
        {
            "matches": ALL_PATHS,
            "backendRefs": [backend("web-00001", 90), backend("web-00002", 10)],
        },
    ]


@pytest.mark.parametrize(
    ("routing", "spec"),
    [
        pytest.param(None, {}, id="no-routing"),
        pytest.param(
            GATEWAY,
            {
                "parentRefs": [
                    {
                        "group": "gateway.networking.k8s.io",
                        "kind": "Gateway",
                        "name": "public",
                        "namespace": "infra",
                        "sectionName": "https",
                    }
                ],
                "hostnames": ["web.example.com"],
            },
            id="parent-refs-and-hostnames",
        ),
        pytest.param(
            {"router": "gateway-api", "parentRefs": [{"name": "mesh", "kind": "Mesh"}]},
            {
                "parentRefs": [
                    {"group": "gateway.networking.k8s.io", "kind": "Mesh", "name": "mesh"}
                ]
            },
            id="parent-kind-no-hostnames",
        ),
    ],
)
def test_httproute_routing_fields(routing: dict[str, Any] | None, spec: dict[str, Any]) -> None:
    """parentRefs and hostnames come from spec.routing, absent when not given."""
    obj = gateway_api.build(make_route([target("web-00001", 100)], routing))
    assert {k: v for k, v in obj["spec"].items() if k != "rules"} == spec


def test_httproute_zero_percent_target_is_reached_by_tag_only() -> None:
    """Blue-green at 0%: the canary is no weighted backend, its tag still reaches it."""
    traffic = [target("web-00001", 100, "stable"), target("web-00002", 0, "canary")]
    rules = gateway_api.build(make_route(traffic))["spec"]["rules"]
    assert rules[-1]["backendRefs"] == [backend("web-00001", 100)]
    assert rules[1] == {"matches": tag_match("canary"), "backendRefs": [backend("web-00002", 1)]}


def test_httproute_without_traffic_keeps_an_empty_catch_all() -> None:
    """No traffic: the catch-all stays, with no backend, so nothing falls through."""
    obj = gateway_api.build(make_route([]))
    assert obj["spec"]["rules"] == [{"matches": ALL_PATHS, "backendRefs": []}]
    assert gateway_api.applied(obj) == []


def test_httproute_backend_port() -> None:
    """backendRefs use the revision Services' port, 80 unless told otherwise."""
    obj = gateway_api.build(make_route([target("web-00001", 100)]), backend_port=8080)
    assert obj["spec"]["rules"][0]["backendRefs"][0]["port"] == 8080


# ---- VirtualService -----------------------------------------------------------------


def dest(name: str, weight: int) -> dict[str, Any]:
    host = f"{name}.shop.svc.cluster.local"
    return {"destination": {"host": host, "port": {"number": 80}}, "weight": weight}


def test_virtualservice_tag_routes_first_then_weights() -> None:
    """Lower-case header matches per tag, then the weighted route over revision FQDNs."""
    obj = istio.build(make_route(CANARY))
    assert obj["apiVersion"] == "networking.istio.io/v1beta1"
    assert obj["kind"] == "VirtualService"
    assert obj["metadata"]["name"] == "web"
    assert obj["metadata"]["ownerReferences"] == [ROUTE_OWNER]
    assert obj["spec"] == {
        "hosts": ["web.shop.svc.cluster.local"],
        "http": [
            {
                "name": "tag-stable",
                "match": [{"headers": {"rollout-tag": {"exact": "stable"}}}],
                "route": [dest("web-00001", 100)],
            },
            {
                "name": "tag-canary",
                "match": [{"headers": {"rollout-tag": {"exact": "canary"}}}],
                "route": [dest("web-00002", 100)],
            },
            {"name": "weighted", "route": [dest("web-00001", 90), dest("web-00002", 10)]},
        ],
    }


def test_virtualservice_hosts_and_gateways_from_routing() -> None:
    """routing.hosts replace the default host; routing.gateways are passed as given."""
    routing = {"router": "istio", "hosts": ["web.example.com"], "gateways": ["infra/public"]}
    spec = istio.build(make_route([target("web-00001", 100)], routing))["spec"]
    assert spec["hosts"] == ["web.example.com"]
    assert spec["gateways"] == ["infra/public"]


def test_virtualservice_without_traffic_aborts_everything() -> None:
    """No traffic: a catch-all that answers 503 (Istio requires a destination anyway)."""
    obj = istio.build(make_route([]))
    (only,) = obj["spec"]["http"]
    assert only["fault"]["abort"] == {"httpStatus": 503, "percentage": {"value": 100.0}}
    assert istio.applied(obj) == []


# ---- read-back round trips and drift ------------------------------------------------


def norm(items: list[Any]) -> list[tuple[str, int, str | None]]:
    """A split as the Route reconciler compares it: untagged 0% targets ignored."""
    return sorted((t.revision_name, t.percent, t.tag) for t in items if t.percent or t.tag)


SPLITS = [
    pytest.param([target("web-00001", 100)], id="all-on-one"),
    pytest.param(CANARY, id="canary-tagged"),
    pytest.param([target("web-00001", 75), target("web-00002", 25)], id="untagged"),
    pytest.param(
        [target("web-00001", 100, "stable"), target("web-00002", 0, "canary")],
        id="blue-green-zero",
    ),
    pytest.param(
        [target("web-00002", 0, "canary"), target("web-00001", 100, "stable")],
        id="tag-only-first",
    ),
    pytest.param([target("web-00001", 100), target("web-00003", 0)], id="untagged-zero-dropped"),
    pytest.param(
        [target("web-00001", 100, "stable"), target("web-00001", 0, "current")],
        id="two-tags-one-revision",
    ),
    pytest.param([], id="empty"),
]


@pytest.mark.parametrize("traffic", SPLITS)
def test_httproute_round_trip(traffic: list[dict[str, Any]]) -> None:
    """gateway_api.build → gateway_api.applied gives back the route's split."""
    rt = make_route(traffic, GATEWAY)
    applied = gateway_api.applied(gateway_api.build(rt))
    assert norm(applied) == norm(rt.spec.traffic)
    assert all(t.url == ("http://web.example.com" if t.tag else None) for t in applied)


@pytest.mark.parametrize("traffic", SPLITS)
def test_virtualservice_round_trip(traffic: list[dict[str, Any]]) -> None:
    """istio.build → istio.applied gives back the route's split."""
    rt = make_route(traffic)
    applied = istio.applied(istio.build(rt))
    assert norm(applied) == norm(rt.spec.traffic)
    assert all(t.url == ("http://web.shop.svc.cluster.local" if t.tag else None) for t in applied)


def test_tag_urls_need_a_concrete_host() -> None:
    """Without a hostname (or with a wildcard) a tag has no URL."""
    obj = gateway_api.build(make_route(CANARY, {"hostnames": ["*.example.com"]}))
    assert [t.url for t in gateway_api.applied(obj)] == [None, None]
    assert gateway_api.url(obj) is None


def edited_httproute(mutate: Any) -> dict[str, Any]:
    obj = copy.deepcopy(gateway_api.build(make_route(CANARY)))
    mutate(obj["spec"]["rules"])
    return obj


def set_weights(*weights: int) -> Any:
    def mutate(rules: list[dict[str, Any]]) -> None:
        for ref, weight in zip(rules[-1]["backendRefs"], weights, strict=True):
            ref["weight"] = weight

    return mutate


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(
            set_weights(1, 1),
            [("web-00001", 50, "stable"), ("web-00002", 50, "canary")],
            id="weights-not-percents",
        ),
        pytest.param(
            set_weights(90, 20),
            [("web-00001", 82, "stable"), ("web-00002", 18, "canary")],
            id="weights-over-100",
        ),
        pytest.param(
            set_weights(1, 2),
            [("web-00001", 33, "stable"), ("web-00002", 67, "canary")],
            id="largest-remainder",
        ),
        pytest.param(
            set_weights(0, 0),
            [("web-00001", 0, "stable"), ("web-00002", 0, "canary")],
            id="all-weights-zero",
        ),
        pytest.param(
            lambda rules: rules[-1]["backendRefs"][1].pop("weight"),
            [("web-00001", 99, "stable"), ("web-00002", 1, "canary")],
            id="weight-defaults-to-1",
        ),
        pytest.param(
            lambda rules: rules[1]["backendRefs"][0].update(name="web-00001"),
            [("web-00001", 90, "stable"), ("web-00002", 10, None), ("web-00001", 0, "canary")],
            id="tag-pointed-elsewhere",
        ),
        pytest.param(
            lambda rules: rules.pop(0),
            [("web-00001", 90, None), ("web-00002", 10, "canary")],
            id="tag-rule-deleted",
        ),
    ],
)
def test_httproute_drift_is_read_back(
    mutate: Any, expected: list[tuple[str, int, str | None]]
) -> None:
    """A hand-edited HTTPRoute reads back as what it really splits."""
    applied = gateway_api.applied(edited_httproute(mutate))
    assert [(t.revision_name, t.percent, t.tag) for t in applied] == expected


def test_virtualservice_drift_is_read_back() -> None:
    """Hand-edited Istio weights and a single destination without weight."""
    obj = copy.deepcopy(istio.build(make_route(CANARY)))
    weighted = obj["spec"]["http"][-1]["route"]
    weighted[0]["weight"], weighted[1]["weight"] = 40, 60
    applied = istio.applied(obj)
    assert [(t.revision_name, t.percent) for t in applied] == [("web-00001", 40), ("web-00002", 60)]
    del weighted[1]
    del weighted[0]["weight"]
    applied = istio.applied(obj)
    assert [(t.revision_name, t.percent, t.tag) for t in applied] == [
        ("web-00001", 100, "stable"),
        ("web-00002", 0, "canary"),
    ]


# ---- Events -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("warning", "type_"),
    [pytest.param(False, "Normal", id="normal"), pytest.param(True, "Warning", id="warning")],
)
def test_event_about_a_resource(warning: bool, type_: str) -> None:
    """A core v1 Event naming its object, with client-go's `<name>.<hex nanos>` name."""
    event = events.make_event(
        make_rev(), "Ready", "the revision is ready", warning, T0, instance="rollout-abc"
    )
    nanos = int(T0.timestamp()) * 10**9 + 250_000_000
    assert event["metadata"] == {"name": f"web-00002.{nanos:x}", "namespace": "shop"}
    assert event["involvedObject"] == {
        "apiVersion": "rollout.dev/v1alpha1",
        "kind": "Revision",
        "name": "web-00002",
        "namespace": "shop",
        "uid": "uid-rev",
        "resourceVersion": "7",
    }
    assert event["type"] == type_
    assert (event["reason"], event["message"], event["count"]) == (
        "Ready",
        "the revision is ready",
        1,
    )
    assert event["firstTimestamp"] == event["lastTimestamp"] == "2026-03-01T12:00:00Z"
    assert event["eventTime"] == "2026-03-01T12:00:00.250000Z"
    assert event["source"] == {"component": "rollout-controller"}
    assert event["reportingComponent"] == "rollout-controller"
    assert event["reportingInstance"] == "rollout-abc"
    assert event["action"]


def test_event_defaults_and_limits() -> None:
    """Namespace defaults to `default`, instance to the component; long notes are cut."""
    rt = route.Route.model_validate(
        {"metadata": {"name": "web"}, "spec": {"service": "web", "traffic": []}}
    )
    event = events.make_event(rt, "Drift", "x" * 5000, True, T0, component="rollout")
    assert event["metadata"]["namespace"] == event["involvedObject"]["namespace"] == "default"
    assert "uid" not in event["involvedObject"]
    assert event["reportingInstance"] == "rollout"
    assert len(event["message"]) == 1024


def test_event_about_a_reference_equals_event_about_the_object() -> None:
    """An EventSubject (what the EventRecorder port knows) gives the same Event."""
    subject = events.EventSubject(
        "rollout.dev/v1alpha1", "Revision", "web-00002", "shop", "uid-rev", "7"
    )
    assert events.make_event(subject, "Ready", "ok", False, T0) == events.make_event(
        make_rev(), "Ready", "ok", False, T0
    )


def test_read_back_statuses_are_valid_traffic_statuses() -> None:
    """What is read back validates as the Route status model."""
    applied = gateway_api.applied(gateway_api.build(make_route(CANARY)))
    assert all(isinstance(t, split.TrafficStatus) for t in applied)
    route.RouteStatus(traffic=applied)


# ---- shapes, checked against the official client's models --------------------------

CLIENT = kubernetes.client.ApiClient()


def through_client_models(doc: dict[str, Any], model: str) -> Any:
    """`doc` read into the official client's model and written back: a misspelt or
    misplaced field does not survive the trip."""
    # the private reader: the public `deserialize` changed its signature across versions
    model_object = CLIENT._ApiClient__deserialize(copy.deepcopy(doc), model)
    return CLIENT.sanitize_for_serialization(model_object)


FULL = make_rev(
    pod(
        container(
            command=["/bin/web"],
            args=["--flag"],
            workingDir="/srv",
            env=[{"name": "MODE", "value": "canary"}],
            ports=[{"containerPort": 9000, "name": "web"}],
            readinessProbe={"httpGet": {"path": "/ready", "port": "web"}, "periodSeconds": 2},
            resources={"requests": {"cpu": "50m"}, "limits": {"memory": "64Mi"}},
        ),
        {"name": "sidecar", "image": "envoy", "readinessProbe": {"tcpSocket": {"port": 9901}}},
        labels={"team": "a"},
        annotations={"note": "x"},
    ),
    {"minReplicas": 2, "maxReplicas": 5},
)


@pytest.mark.parametrize(
    ("build", "model"),
    [
        pytest.param(lambda: workloads.make_deployment(FULL), "V1Deployment", id="deployment"),
        pytest.param(lambda: workloads.make_revision_service(FULL), "V1Service", id="service"),
        pytest.param(lambda: workloads.make_hpa(FULL), "V2HorizontalPodAutoscaler", id="hpa"),
        pytest.param(
            lambda: traffic.make_stable_service(make_route(CANARY), port=9000),
            "V1Service",
            id="stable-service",
        ),
    ],
)
def test_objects_match_the_kubernetes_models(build: Any, model: str) -> None:
    """Every field we write is a field of the Kubernetes API, in the right place."""
    doc = build()
    assert through_client_models(doc, model) == doc


def test_event_matches_the_kubernetes_model() -> None:
    """The Event's fields are the core v1 Event's (timestamps compared as instants)."""
    doc = events.make_event(make_rev(), "Ready", "ready", False, T0)
    back = through_client_models(doc, "CoreV1Event")
    stamps = ("firstTimestamp", "lastTimestamp", "eventTime")
    for key in stamps:
        assert datetime.fromisoformat(back[key]) == datetime.fromisoformat(doc[key])
    assert {k: v for k, v in back.items() if k not in stamps} == {
        k: v for k, v in doc.items() if k not in stamps
    }
