"""Object writes: identity fields, resourceVersion, conflicts, generation, the status split."""

from __future__ import annotations

import copy
import json
from typing import Any

import kubeemu
import kubernetes.client
import pytest
from kubeemu import rawclient
from kubernetes.client.exceptions import ApiException

RSVC = ("rollout.dev", "v1alpha1", "services")


def a_deployment(name: str = "web", *, replicas: int = 1, image: str = "app:1") -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {"name": "app", "image": image, "ports": [{"containerPort": 8080}]}
                    ]
                },
            },
        },
    }


def a_service(name: str = "echo", **spec: Any) -> dict[str, Any]:
    """A valid rollout.dev Service (as in examples/kubernetes/echo.yaml)."""
    return {
        "apiVersion": "rollout.dev/v1alpha1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "app", "image": "hashicorp/http-echo:1.0"}]}
            },
            **spec,
        },
    }


def a_policy(name: str = "p") -> dict[str, Any]:
    """A rollout.dev RolloutPolicy: its CRD has no status subresource."""
    return {
        "apiVersion": "rollout.dev/v1alpha1",
        "kind": "RolloutPolicy",
        "metadata": {"name": name},
        "spec": {"steps": [{"setWeight": 10}], "progressDeadline": "10m"},
    }


def _status(exc: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    return dict(json.loads(exc.value.body))


@pytest.fixture
def apps(emulator: kubeemu.Emulator) -> kubernetes.client.AppsV1Api:
    return kubernetes.client.AppsV1Api(emulator.api_client())


@pytest.fixture
def custom(crds_applied: kubeemu.Emulator) -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(crds_applied.api_client())


def test_create_sets_identity_and_a_new_resource_version(
    emulator: kubeemu.Emulator, apps: kubernetes.client.AppsV1Api
) -> None:
    """Create sets uid, creationTimestamp, generation 1, namespace from the URL, a fresh rv."""
    before = emulator.get_object("", "v1", "namespaces", None, "default")
    assert before is not None
    body = a_deployment()
    body["metadata"].update(uid="mine", resourceVersion="999", generation=7)
    body["status"] = {"replicas": 5}
    made = apps.create_namespaced_deployment("default", body)
    assert made.metadata.namespace == "default"
    assert made.metadata.uid not in (None, "", "mine")
    assert made.metadata.generation == 1
    assert made.metadata.creation_timestamp is not None
    assert int(made.metadata.resource_version) > int(before["metadata"]["resourceVersion"])
    assert made.status.replicas is None  # create cannot set status (subresource)
    stored = emulator.get_object("apps", "v1", "deployments", "default", "web")
    assert stored is not None
    assert stored["metadata"]["resourceVersion"] == made.metadata.resource_version
    assert stored["status"] == {}


def test_every_write_takes_the_next_global_resource_version(emulator: kubeemu.Emulator) -> None:
    """rvs are one increasing integer (as strings) shared by all kinds, one per write."""
    core = kubernetes.client.CoreV1Api(emulator.api_client())
    versions = []
    for n in range(3):
        cm = core.create_namespaced_config_map(
            "default", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{n}"}}
        )
        versions.append(int(cm.metadata.resource_version))
        ns = core.create_namespace(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"n{n}"}}
        )
        versions.append(int(ns.metadata.resource_version))
    assert versions == list(range(versions[0], versions[0] + 6))
    listed = core.list_namespaced_config_map("default")
    assert int(listed.metadata.resource_version) == versions[-1]


def test_generate_name(emulator: kubeemu.Emulator) -> None:
    """metadata.generateName gets a random 5-character suffix."""
    core = kubernetes.client.CoreV1Api(emulator.api_client())
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "cfg-"}}
    names = {core.create_namespaced_config_map("default", body).metadata.name for _ in range(3)}
    assert len(names) == 3
    assert all(n.startswith("cfg-") and len(n) == 9 for n in names)


def test_taken_name_is_409_already_exists(apps: kubernetes.client.AppsV1Api) -> None:
    """Creating a name that exists answers 409 AlreadyExists with a Status body."""
    apps.create_namespaced_deployment("default", a_deployment())
    with pytest.raises(ApiException) as caught:
        apps.create_namespaced_deployment("default", a_deployment())
    assert caught.value.status == 409
    body = _status(caught)
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "AlreadyExists", 409)
    assert body["details"] == {"name": "web", "group": "apps", "kind": "deployments"}
    assert body["message"] == 'deployments.apps "web" already exists'


@pytest.mark.parametrize("verb", ["get", "update", "patch", "delete"])
def test_missing_object_is_404_not_found(apps: kubernetes.client.AppsV1Api, verb: str) -> None:
    """get/update/patch/delete of an absent object answer 404 NotFound with a Status."""
    calls = {
        "get": lambda: apps.read_namespaced_deployment("nope", "default"),
        "update": lambda: apps.replace_namespaced_deployment(
            "nope", "default", a_deployment("nope")
        ),
        "patch": lambda: apps.patch_namespaced_deployment("nope", "default", {"spec": {}}),
        "delete": lambda: apps.delete_namespaced_deployment("nope", "default"),
    }
    with pytest.raises(ApiException) as caught:
        calls[verb]()
    assert caught.value.status == 404
    body = _status(caught)
    assert (body["status"], body["reason"]) == ("Failure", "NotFound")
    assert body["message"] == 'deployments.apps "nope" not found'


def test_create_in_a_missing_namespace_is_404(apps: kubernetes.client.AppsV1Api) -> None:
    """As on a cluster, a namespace must exist before objects are created in it."""
    with pytest.raises(ApiException) as caught:
        apps.create_namespaced_deployment("nowhere", a_deployment())
    assert caught.value.status == 404
    assert _status(caught)["message"] == 'namespaces "nowhere" not found'


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"apiVersion": "apps/v2"}, "the API version in the data (apps/v2)"),
        ({"kind": "StatefulSet"}, "kind (StatefulSet) do not match"),
        ({"metadata": {"name": "web", "namespace": "other"}}, "the namespace of the provided"),
    ],
    ids=["api-version", "kind", "namespace"],
)
def test_body_must_match_the_url(
    emulator: kubeemu.Emulator, change: dict[str, Any], message: str
) -> None:
    """A body whose apiVersion, kind or namespace differ from the URL's is a 400."""
    body = {**a_deployment(), **change}
    reply = rawclient.call(
        emulator.url, "POST", "/apis/apps/v1/namespaces/default/deployments", body=body
    )
    assert reply.status == 400
    assert reply.body["reason"] == "BadRequest"
    assert message in reply.body["message"]


@pytest.mark.parametrize(
    ("path", "name", "field"),
    [
        ("/api/v1/namespaces/default/configmaps", "Bad_Name", "metadata.name"),
        ("/api/v1/namespaces/default/services", "9lives", "metadata.name"),
        ("/api/v1/namespaces", "a.b", "metadata.name"),
        ("/api/v1/namespaces/default/configmaps", "", "metadata.name"),
    ],
    ids=["uppercase", "service-starts-with-digit", "namespace-with-dot", "no-name"],
)
def test_invalid_names_are_422(
    emulator: kubeemu.Emulator, path: str, name: str, field: str
) -> None:
    """Names follow the apiserver's rules per kind; a bad one is 422 Invalid naming the field."""
    kind = {"configmaps": "ConfigMap", "services": "Service", "namespaces": "Namespace"}
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": kind[path.rsplit("/", 1)[1]],
        "metadata": {"name": name},
    }
    if body["kind"] == "Service":
        body["spec"] = {"ports": [{"port": 80}]}
    reply = rawclient.call(emulator.url, "POST", path, body=body)
    assert reply.status == 422
    assert reply.body["reason"] == "Invalid"
    assert [c["field"] for c in reply.body["details"]["causes"]] == [field]


def test_invalid_labels_and_owner_references_are_422(emulator: kubeemu.Emulator) -> None:
    """Label values must be label-shaped strings; owner references need apiVersion/kind/name/uid."""
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "c",
            "labels": {"ok": "yes", "bad": "not ok!"},
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "o"}],
        },
    }
    reply = rawclient.call(emulator.url, "POST", "/api/v1/namespaces/default/configmaps", body=body)
    assert reply.status == 422
    fields = [c["field"] for c in reply.body["details"]["causes"]]
    assert fields == ["metadata.labels[bad]", "metadata.ownerReferences[0].uid"]


def test_stale_update_is_409_conflict_and_unconditional_update_wins(
    apps: kubernetes.client.AppsV1Api,
) -> None:
    """PUT with an old resourceVersion is 409 Conflict; PUT without one overwrites."""
    first = apps.create_namespaced_deployment("default", a_deployment())
    fresh = apps.read_namespaced_deployment("web", "default")
    fresh.spec.replicas = 2
    second = apps.replace_namespaced_deployment("web", "default", fresh)
    first.spec.replicas = 3
    with pytest.raises(ApiException) as caught:
        apps.replace_namespaced_deployment("web", "default", first)
    assert caught.value.status == 409
    body = _status(caught)
    assert body["reason"] == "Conflict"
    assert body["message"].startswith('Operation cannot be fulfilled on deployments.apps "web"')
    assert apps.read_namespaced_deployment("web", "default").spec.replicas == 2
    blind = a_deployment(replicas=4)
    third = apps.replace_namespaced_deployment("web", "default", blind)
    assert third.spec.replicas == 4
    assert int(third.metadata.resource_version) > int(second.metadata.resource_version)


def test_an_update_that_changes_nothing_is_not_a_write(apps: kubernetes.client.AppsV1Api) -> None:
    """Like the apiserver, an identical PUT keeps the resourceVersion (no event either)."""
    made = apps.create_namespaced_deployment("default", a_deployment())
    again = apps.replace_namespaced_deployment("web", "default", made)
    assert again.metadata.resource_version == made.metadata.resource_version
    blind = apps.replace_namespaced_deployment("web", "default", a_deployment())  # no rv sent
    assert blind.metadata.resource_version == made.metadata.resource_version
    assert blind.metadata.uid == made.metadata.uid


def test_deployment_generation_counts_spec_and_annotation_changes(
    emulator: kubeemu.Emulator, apps: kubernetes.client.AppsV1Api
) -> None:
    """Deployments: spec or annotations bump generation; labels and status do not."""
    made = apps.create_namespaced_deployment("default", a_deployment())
    steps = [
        ("spec", lambda d: d["spec"].update(replicas=3), 2),
        ("labels", lambda d: d["metadata"]["labels"].update(tier="web"), 2),
        ("annotations", lambda d: d["metadata"].setdefault("annotations", {}).update(a="1"), 3),
        ("status-in-body", lambda d: d.update(status={"replicas": 9}), 3),
    ]
    current = emulator.get_object("apps", "v1", "deployments", "default", "web")
    assert current is not None
    assert made.metadata.generation == 1
    for label, change, generation in steps:
        body = copy.deepcopy(current)
        change(body)
        updated = apps.replace_namespaced_deployment("web", "default", body)
        assert updated.metadata.generation == generation, label
        current = emulator.get_object("apps", "v1", "deployments", "default", "web")
        assert current is not None
    assert current["status"] == {}  # the status in a main-resource PUT was ignored


def test_status_subresource_changes_only_status(
    emulator: kubeemu.Emulator, apps: kubernetes.client.AppsV1Api
) -> None:
    """PUT/PATCH on /status replace only status (never spec, labels or generation)."""
    apps.create_namespaced_deployment("default", a_deployment())
    body = a_deployment(replicas=7)
    body["metadata"]["labels"] = {"changed": "yes"}
    body["status"] = {"replicas": 1, "availableReplicas": 1, "observedGeneration": 1}
    done = apps.replace_namespaced_deployment_status("web", "default", body)
    assert done.status.available_replicas == 1
    assert done.spec.replicas == 1
    assert done.metadata.labels == {"app": "web"}
    assert done.metadata.generation == 1
    patched = apps.patch_namespaced_deployment_status(
        "web", "default", {"status": {"readyReplicas": 1}, "spec": {"replicas": 5}}
    )
    assert patched.status.ready_replicas == 1
    assert patched.status.available_replicas == 1  # merged into the status
    assert patched.spec.replicas == 1
    assert int(patched.metadata.resource_version) > int(done.metadata.resource_version)


def test_custom_resource_generation_and_status(
    crds_applied: kubeemu.Emulator, custom: kubernetes.client.CustomObjectsApi
) -> None:
    """CRs with a status subresource: spec bumps generation; /status writes only status."""
    made = custom.create_namespaced_custom_object(
        *RSVC[:2], "default", RSVC[2], {**a_service(), "status": {"url": "ignored"}}
    )
    assert made["metadata"]["generation"] == 1
    assert "status" not in made
    labelled = copy.deepcopy(made)
    labelled["metadata"]["labels"] = {"team": "a"}
    labelled = custom.replace_namespaced_custom_object(
        *RSVC[:2], "default", RSVC[2], "echo", labelled
    )
    assert labelled["metadata"]["generation"] == 1
    respec = copy.deepcopy(labelled)
    respec["spec"]["port"] = 8080
    respec["status"] = {"url": "http://ignored"}
    respec = custom.replace_namespaced_custom_object(*RSVC[:2], "default", RSVC[2], "echo", respec)
    assert respec["metadata"]["generation"] == 2
    assert "status" not in respec
    status = copy.deepcopy(respec)
    status["status"] = {"observedGeneration": 2, "url": "http://echo"}
    status["spec"]["port"] = 9999
    done = custom.replace_namespaced_custom_object_status(
        *RSVC[:2], "default", RSVC[2], "echo", status
    )
    assert done["status"] == {"observedGeneration": 2, "url": "http://echo"}
    assert done["spec"]["port"] == 8080
    assert done["metadata"]["generation"] == 2


def test_custom_resource_without_status_subresource_counts_every_change(
    crds_applied: kubeemu.Emulator, custom: kubernetes.client.CustomObjectsApi
) -> None:
    """Without a status subresource, any change but metadata bumps generation (as the apiserver)."""
    made = custom.create_namespaced_custom_object(
        "rollout.dev", "v1alpha1", "default", "rolloutpolicies", a_policy()
    )
    assert made["metadata"]["generation"] == 1
    made["metadata"]["labels"] = {"x": "y"}
    same = custom.replace_namespaced_custom_object(
        "rollout.dev", "v1alpha1", "default", "rolloutpolicies", "p", made
    )
    assert same["metadata"]["generation"] == 1
    same["spec"]["progressDeadline"] = "20m"
    changed = custom.replace_namespaced_custom_object(
        "rollout.dev", "v1alpha1", "default", "rolloutpolicies", "p", same
    )
    assert changed["metadata"]["generation"] == 2
    status = rawclient.call(
        crds_applied.url,
        "GET",
        "/apis/rollout.dev/v1alpha1/namespaces/default/rolloutpolicies/p/status",
    )
    assert status.status == 404  # no /status subresource to write


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/namespaces/default/configmaps", {"kind": "ConfigMap", "data": {"a": "1"}}),
        (
            "/api/v1/namespaces/default/services",
            {"kind": "Service", "spec": {"ports": [{"port": 80}]}},
        ),
        ("/apis/coordination.k8s.io/v1/namespaces/default/leases", {"kind": "Lease", "spec": {}}),
    ],
    ids=["configmap", "service", "lease"],
)
def test_builtins_without_generation(
    emulator: kubeemu.Emulator, path: str, body: dict[str, Any]
) -> None:
    """ConfigMaps, Services, Leases carry no metadata.generation, like on a real cluster."""
    group_version = path.split("/namespaces/")[0].removeprefix("/api/").removeprefix("/apis/")
    sent = {"apiVersion": group_version, "metadata": {"name": "x"}, **body}
    reply = rawclient.call(emulator.url, "POST", path, body=sent)
    assert reply.status == 201, reply.body
    assert "generation" not in reply.body["metadata"]
    assert reply.body["metadata"]["uid"]


BUILTIN_BODIES = {
    "service": ("/api/v1/namespaces/default/services", {"spec": {"ports": [{"port": 80}]}}),
    "configmap": ("/api/v1/namespaces/default/configmaps", {"data": {"k": "v"}}),
    "event": (
        "/api/v1/namespaces/default/events",
        {"involvedObject": {"kind": "ConfigMap", "name": "c", "namespace": "default"}},
    ),
    "deployment": ("/apis/apps/v1/namespaces/default/deployments", a_deployment("x")),
    "hpa": (
        "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers",
        {
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"},
                "maxReplicas": 3,
            }
        },
    ),
    "lease": ("/apis/coordination.k8s.io/v1/namespaces/default/leases", {"spec": {}}),
    "events.k8s.io": (
        "/apis/events.k8s.io/v1/namespaces/default/events",
        {
            "eventTime": "2025-01-01T00:00:00.000000Z",
            "reportingController": "rollout.dev/controller",
            "reportingInstance": "controller-0",
            "action": "Reconcile",
            "reason": "Created",
            "type": "Normal",
        },
    ),
    "namespace": ("/api/v1/namespaces", {"spec": {"finalizers": ["kubernetes"]}}),
}


@pytest.mark.parametrize("kind", list(BUILTIN_BODIES))
def test_builtins_round_trip_without_schema_validation(
    emulator: kubeemu.Emulator, kind: str
) -> None:
    """Every built-in is served at once (create, get, list, delete); fields are not
    schema-checked (an unknown one is kept; the apiserver would drop it)."""
    collection, fields = BUILTIN_BODIES[kind]
    group_version = collection.split("/namespaces")[0].removeprefix("/api/").removeprefix("/apis/")
    kind_name = {"hpa": "HorizontalPodAutoscaler", "events.k8s.io": "Event"}.get(
        kind, kind.capitalize().replace("map", "Map")
    )
    body = {**copy.deepcopy(fields), "apiVersion": group_version, "kind": kind_name}
    body["metadata"] = {"name": "x"}
    body["unknownField"] = ["kept", 1]
    made = rawclient.call(emulator.url, "POST", collection, body=body)
    assert made.status == 201, made.body
    assert made.body["unknownField"] == ["kept", 1]
    assert rawclient.call(emulator.url, "GET", f"{collection}/x").body["metadata"]["name"] == "x"
    listed = rawclient.call(emulator.url, "GET", collection).body
    assert listed["kind"] == f"{kind_name}List"
    assert "x" in [i["metadata"]["name"] for i in listed["items"]]
    assert rawclient.call(emulator.url, "DELETE", f"{collection}/x").status == 200
    assert rawclient.call(emulator.url, "GET", f"{collection}/x").status == 404


def test_set_status_helper_bumps_rv_and_get_object_reads(
    emulator: kubeemu.Emulator, apps: kubernetes.client.AppsV1Api
) -> None:
    """set_status writes status directly (new rv, not recorded); get_object reads directly."""
    made = apps.create_namespaced_deployment("default", a_deployment())
    recorded = len(emulator.requests)
    stored = emulator.set_status(
        "apps", "v1", "deployments", "default", "web", {"availableReplicas": 1}
    )
    assert stored["status"] == {"availableReplicas": 1}
    assert int(stored["metadata"]["resourceVersion"]) > int(made.metadata.resource_version)
    assert stored["metadata"]["generation"] == 1
    assert apps.read_namespaced_deployment("web", "default").status.available_replicas == 1
    assert emulator.get_object("apps", "v1", "deployments", "default", "nope") is None
    assert len(emulator.requests) == recorded + 1  # only the read above
    with pytest.raises(LookupError):
        emulator.set_status("apps", "v1", "deployments", "default", "nope", {})


def test_dry_run_validates_without_storing(emulator: kubeemu.Emulator) -> None:
    """dryRun=All answers as a create would and stores nothing."""
    reply = rawclient.call(
        emulator.url,
        "POST",
        "/apis/apps/v1/namespaces/default/deployments?dryRun=All",
        body=a_deployment(),
    )
    assert reply.status == 201
    assert reply.body["metadata"]["uid"]
    assert emulator.get_object("apps", "v1", "deployments", "default", "web") is None
