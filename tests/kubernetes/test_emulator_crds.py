"""CRD registration and custom resources validated against the version's openAPIV3Schema."""

from __future__ import annotations

import copy
import json
from typing import Any

import kubeemu
import kubernetes.client
import podtemplates
import pytest
from kubeemu import rawclient
from kubernetes.client.exceptions import ApiException

GROUP, VERSION = "rollout.dev", "v1alpha1"


def a_service(name: str = "echo", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "template": {"spec": {"containers": [{"name": "app", "image": "echo:1"}]}},
            **spec,
        },
    }


def a_crd(
    plural: str = "widgets",
    *,
    group: str = "example.com",
    scope: str = "Namespaced",
    versions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {"size": {"type": "integer", "minimum": 1}},
            },
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": scope,
            "names": {"plural": plural, "kind": plural.capitalize()[:-1]},
            "versions": versions
            or [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


@pytest.fixture
def custom(crds_applied: kubeemu.Emulator) -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(crds_applied.api_client())


@pytest.fixture
def extensions(emulator: kubeemu.Emulator) -> kubernetes.client.ApiextensionsV1Api:
    return kubernetes.client.ApiextensionsV1Api(emulator.api_client())


def _create(custom: kubernetes.client.CustomObjectsApi, body: dict[str, Any]) -> dict[str, Any]:
    return dict(custom.create_namespaced_custom_object(GROUP, VERSION, "default", "services", body))


def _rejected(custom: kubernetes.client.CustomObjectsApi, body: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(ApiException) as caught:
        _create(custom, body)
    assert caught.value.status == 422
    return dict(json.loads(caught.value.body))


def test_valid_object_is_stored(custom: kubernetes.client.CustomObjectsApi) -> None:
    """An object that fits the schema is created as sent (int-or-string quantities both ways)."""
    body = a_service()
    body["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "50m", "memory": 64}
    }
    made = _create(custom, body)
    assert made["spec"] == body["spec"]


def test_invalid_object_is_422_with_kubernetes_causes(
    custom: kubernetes.client.CustomObjectsApi,
) -> None:
    """Every violation is a cause {reason, field, message} in a Status with reason Invalid."""
    body = a_service(port="eighty", routing={"router": "linkerd"})
    body["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 70000}]
    status = _rejected(custom, body)
    assert (status["kind"], status["status"], status["reason"], status["code"]) == (
        "Status",
        "Failure",
        "Invalid",
        422,
    )
    assert status["details"]["name"] == "echo"
    assert status["details"]["group"] == GROUP
    assert status["details"]["kind"] == "Service"
    causes = {c["field"]: c for c in status["details"]["causes"]}
    assert set(causes) == {
        "spec.port",
        "spec.routing.router",
        "spec.template.spec.containers[0].ports[0].containerPort",
    }
    assert causes["spec.port"]["reason"] == "FieldValueTypeInvalid"
    assert causes["spec.port"]["message"] == (
        'Invalid value: "eighty": spec.port in body must be of type integer: "string"'
    )
    assert causes["spec.routing.router"]["reason"] == "FieldValueNotSupported"
    assert causes["spec.template.spec.containers[0].ports[0].containerPort"]["message"].endswith(
        "should be less than or equal to 65535"
    )
    assert status["message"].startswith('Service.rollout.dev "echo" is invalid: [')


_SERVICES = f"/apis/{GROUP}/{VERSION}/namespaces/default/services"


def _with_unknown_fields() -> dict[str, Any]:
    body = a_service()
    body["spec"]["replicas"] = 3
    body["spec"]["template"]["spec"]["containers"][0]["imagePulPolicy"] = "Always"
    body["extra"] = True
    return body


_UNKNOWN = [
    'unknown field "extra"',
    'unknown field "spec.replicas"',
    'unknown field "spec.template.spec.containers[0].imagePulPolicy"',
]


@pytest.mark.parametrize("directive", ["", "Warn", "Ignore"])
def test_unknown_fields_are_pruned(crds_applied: kubeemu.Emulator, directive: str) -> None:
    """A field the schema does not declare is dropped, as the apiserver prunes it: with a
    `Warning` header each under `fieldValidation=Warn` (the default), silently under Ignore."""
    query = f"?fieldValidation={directive}" if directive else ""
    reply = rawclient.call(crds_applied.url, "POST", _SERVICES + query, body=_with_unknown_fields())
    assert reply.status == 201
    assert reply.body["spec"] == a_service()["spec"]
    assert "extra" not in reply.body
    expected = ", ".join('299 - "{}"'.format(w.replace('"', '\\"')) for w in _UNKNOWN)
    assert reply.headers.get("warning") == (None if directive == "Ignore" else expected)


def test_unknown_fields_are_refused_under_strict_field_validation(
    crds_applied: kubeemu.Emulator,
) -> None:
    """`fieldValidation=Strict` (kubectl's default) refuses unknown fields with the
    apiserver's 400 strict decoding error, naming each path."""
    reply = rawclient.call(
        crds_applied.url,
        "POST",
        _SERVICES + "?fieldValidation=Strict",
        body=_with_unknown_fields(),
    )
    assert (reply.status, reply.body["reason"]) == (400, "BadRequest")
    assert reply.body["message"] == (
        'Service in version "v1alpha1" cannot be handled as a Service: strict decoding error: '
        + ", ".join(_UNKNOWN)
    )


def test_put_of_a_custom_resource_needs_a_resource_version(
    custom: kubernetes.client.CustomObjectsApi,
) -> None:
    """A PUT without metadata.resourceVersion is 422, as for every custom resource upstream."""
    made = _create(custom, a_service())
    del made["metadata"]["resourceVersion"]
    with pytest.raises(ApiException) as put:
        custom.replace_namespaced_custom_object(GROUP, VERSION, "default", "services", "echo", made)
    assert put.value.status == 422
    assert json.loads(put.value.body)["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "field": "metadata.resourceVersion",
            "message": "Invalid value: 0x0: must be specified for an update",
        }
    ]


@pytest.mark.parametrize(
    ("value", "accepted"),
    [("500m", True), (2, True), ("1Gi", True), ("lots", False), (0.5, False)],
)
def test_pod_template_quantities_are_int_or_string(
    custom: kubernetes.client.CustomObjectsApi, value: object, accepted: bool
) -> None:
    """A template's quantity is an integer or a quantity string, as in controller-gen CRDs:
    `lots` does not match the pattern, and 0.5 must be written "0.5" or 500m."""
    body = a_service()
    body["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": value}}
    if accepted:
        assert _create(custom, body)["spec"] == body["spec"]
        return
    status = _rejected(custom, body)
    assert [c["field"] for c in status["details"]["causes"]] == [
        "spec.template.spec.containers[0].resources.limits.cpu"
    ]


def test_a_production_pod_template_is_stored_whole(
    custom: kubernetes.client.CustomObjectsApi,
) -> None:
    """The CRD's pod spec (Kubernetes' own PodSpec) accepts a production template and
    prunes none of it: what is stored is what was sent."""
    body = podtemplates.production()
    body["metadata"]["namespace"] = "default"
    made = _create(custom, body)
    assert made["spec"] == body["spec"]


def test_required_fields(custom: kubernetes.client.CustomObjectsApi) -> None:
    """Missing required fields are FieldValueRequired causes."""
    body = a_service()
    del body["spec"]["template"]
    body["spec"]["workloadRef"] = {"kind": "Deployment"}
    status = _rejected(custom, body)
    assert status["details"]["causes"] == [
        {
            "reason": "FieldValueRequired",
            "message": "Required value",
            "field": "spec.workloadRef.name",
        }
    ]


def test_nulls_are_pruned_unless_nullable(custom: kubernetes.client.CustomObjectsApi) -> None:
    """A null in a non-nullable field is dropped (apiextensions v1); nullable keeps null."""
    body = a_service(policy=None, revisionHistoryLimit=None)
    made = _create(custom, body)
    assert made["spec"]["policy"] is None
    assert "revisionHistoryLimit" not in made["spec"]


def test_date_time_format_is_checked(
    crds_applied: kubeemu.Emulator, custom: kubernetes.client.CustomObjectsApi
) -> None:
    """A `format: date-time` field must be RFC 3339; checked on /status writes too."""
    made = _create(custom, a_service())
    made["status"] = {
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "yesterday"}]
    }
    with pytest.raises(ApiException) as caught:
        custom.replace_namespaced_custom_object_status(
            GROUP, VERSION, "default", "services", "echo", made
        )
    assert caught.value.status == 422
    causes = json.loads(caught.value.body)["details"]["causes"]
    assert [c["field"] for c in causes] == ["status.conditions[0].lastTransitionTime"]
    made["status"]["conditions"][0]["lastTransitionTime"] = "2025-01-02T03:04:05Z"
    done = custom.replace_namespaced_custom_object_status(
        GROUP, VERSION, "default", "services", "echo", made
    )
    assert done["status"]["conditions"][0]["lastTransitionTime"] == "2025-01-02T03:04:05Z"


def test_updates_and_patches_are_validated(custom: kubernetes.client.CustomObjectsApi) -> None:
    """Validation applies to the result of PUT and PATCH too; a rejected write changes nothing."""
    made = _create(custom, a_service())
    bad = copy.deepcopy(made)
    bad["spec"]["port"] = 0
    with pytest.raises(ApiException) as put:
        custom.replace_namespaced_custom_object(GROUP, VERSION, "default", "services", "echo", bad)
    assert put.value.status == 422
    with pytest.raises(ApiException) as patch:
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, "default", "services", "echo", {"spec": {"port": "eighty"}}
        )
    assert patch.value.status == 422
    now = custom.get_namespaced_custom_object(GROUP, VERSION, "default", "services", "echo")
    assert now["metadata"]["resourceVersion"] == made["metadata"]["resourceVersion"]


def test_crd_gets_established_status(
    crds_applied: kubeemu.Emulator,
) -> None:
    """A created CRD reports NamesAccepted and Established, acceptedNames and storedVersions."""
    crd = crds_applied.get_object(
        "apiextensions.k8s.io", "v1", "customresourcedefinitions", None, "services.rollout.dev"
    )
    assert crd is not None
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert crd["status"]["acceptedNames"]["shortNames"] == ["rsvc"]
    assert crd["status"]["acceptedNames"]["listKind"] == "ServiceList"
    assert crd["status"]["storedVersions"] == ["v1alpha1"]
    assert crd["metadata"]["generation"] == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda c: c["metadata"].update(name="wrong.example.com"), "metadata.name"),
        (lambda c: c["spec"].update(group="nodots"), "spec.group"),
        (lambda c: c["spec"].update(scope="Global"), "spec.scope"),
        (lambda c: c["spec"]["versions"][0].update(storage=False), "spec.versions"),
        (
            lambda c: c["spec"]["versions"][0].pop("schema"),
            "spec.versions[0].schema.openAPIV3Schema",
        ),
        (
            lambda c: c["spec"]["versions"][0]["schema"]["openAPIV3Schema"].update(type="banana"),
            "spec.versions[0].schema.openAPIV3Schema",
        ),
    ],
    ids=["name", "group", "scope", "no-storage-version", "no-schema", "bad-schema"],
)
def test_invalid_crds_are_422(
    emulator: kubeemu.Emulator,
    extensions: kubernetes.client.ApiextensionsV1Api,
    change: Any,
    field: str,
) -> None:
    """CRDs are checked: name = plural.group, a dotted group, scope, one storage version, schema."""
    crd = a_crd()
    change(crd)
    with pytest.raises(ApiException) as caught:
        extensions.create_custom_resource_definition(crd)
    assert caught.value.status == 422
    causes = json.loads(caught.value.body)["details"]["causes"]
    assert field in [c["field"] for c in causes]
    assert rawclient.call(emulator.url, "GET", "/apis/example.com/v1").status == 404


def test_cluster_scoped_crd(
    emulator: kubeemu.Emulator, extensions: kubernetes.client.ApiextensionsV1Api
) -> None:
    """A Cluster-scoped CRD serves objects without a namespace and not under /namespaces."""
    extensions.create_custom_resource_definition(a_crd("gadgets", scope="Cluster"))
    custom = kubernetes.client.CustomObjectsApi(emulator.api_client())
    body = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}}
    made = custom.create_cluster_custom_object("example.com", "v1", "gadgets", body)
    assert "namespace" not in made["metadata"]
    assert made["metadata"]["generation"] == 1
    inside = rawclient.call(
        emulator.url, "GET", "/apis/example.com/v1/namespaces/default/gadgets/g"
    )
    assert inside.status == 404


def test_deleting_a_crd_deletes_its_objects_and_unserves_it(
    emulator: kubeemu.Emulator, extensions: kubernetes.client.ApiextensionsV1Api
) -> None:
    """CRD deletion removes its custom objects and the resource (404, gone from discovery)."""
    extensions.create_custom_resource_definition(a_crd())
    custom = kubernetes.client.CustomObjectsApi(emulator.api_client())
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    custom.create_namespaced_custom_object("example.com", "v1", "default", "widgets", body)
    deleted = extensions.delete_custom_resource_definition("widgets.example.com")
    assert deleted["kind"] == "CustomResourceDefinition"  # the apiserver answers the object
    assert rawclient.call(emulator.url, "GET", "/apis/example.com/v1/widgets").status == 404
    groups = rawclient.call(emulator.url, "GET", "/apis").body["groups"]
    assert "example.com" not in [g["name"] for g in groups]
    extensions.create_custom_resource_definition(a_crd())
    listed = custom.list_namespaced_custom_object("example.com", "v1", "default", "widgets")
    assert listed["items"] == []


def test_updating_a_crd_changes_what_is_served(
    emulator: kubeemu.Emulator, extensions: kubernetes.client.ApiextensionsV1Api
) -> None:
    """A CRD update (new version, new schema) is served from the next request; generation +1."""
    made = extensions.create_custom_resource_definition(a_crd())
    crd = emulator.get_object(
        "apiextensions.k8s.io", "v1", "customresourcedefinitions", None, "widgets.example.com"
    )
    assert crd is not None
    v2 = copy.deepcopy(crd["spec"]["versions"][0])
    v2["name"] = "v2"
    crd["spec"]["versions"][0]["storage"] = False
    crd["spec"]["versions"].append({**v2, "storage": True})
    updated = extensions.replace_custom_resource_definition("widgets.example.com", crd)
    assert updated.metadata.generation == made.metadata.generation + 1
    assert updated.status.stored_versions == ["v1", "v2"]
    custom = kubernetes.client.CustomObjectsApi(emulator.api_client())
    body = {"apiVersion": "example.com/v2", "kind": "Widget", "metadata": {"name": "w"}}
    custom.create_namespaced_custom_object("example.com", "v2", "default", "widgets", body)
    seen = custom.get_namespaced_custom_object("example.com", "v1", "default", "widgets", "w")
    assert seen["apiVersion"] == "example.com/v1"


def test_unserved_versions_are_not_served(
    emulator: kubeemu.Emulator, extensions: kubernetes.client.ApiextensionsV1Api
) -> None:
    """A version with served: false is neither discoverable nor reachable."""
    crd = a_crd()
    old = copy.deepcopy(crd["spec"]["versions"][0])
    crd["spec"]["versions"].append({**old, "name": "v1beta1", "served": False, "storage": False})
    extensions.create_custom_resource_definition(crd)
    assert rawclient.call(emulator.url, "GET", "/apis/example.com/v1/widgets").status == 200
    assert rawclient.call(emulator.url, "GET", "/apis/example.com/v1beta1/widgets").status == 404
    group = rawclient.call(emulator.url, "GET", "/apis/example.com").body
    assert [v["version"] for v in group["versions"]] == ["v1"]


def test_mesh_crds_keep_a_valid_spec_and_serve_two_versions(
    mesh_crds: kubeemu.Emulator,
) -> None:
    """HTTPRoute/VirtualService keep a valid spec (written with every default, so that it
    reads back the same); a VirtualService written at v1beta1 reads at v1."""
    custom = kubernetes.client.CustomObjectsApi(mesh_crds.api_client())
    backend = {"group": "", "kind": "Service", "name": "web-1", "port": 80, "weight": 90}
    every_path = {"path": {"type": "PathPrefix", "value": "/"}}
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "web"},
        "spec": {
            "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"}],
            "rules": [{"matches": [every_path], "backendRefs": [backend]}],
        },
    }
    made = custom.create_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", "default", "httproutes", route
    )
    assert made["spec"] == route["spec"]
    vs = {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "VirtualService",
        "metadata": {"name": "web"},
        "spec": {"hosts": ["web"], "http": [{"route": [{"destination": {"host": "web"}}]}]},
    }
    custom.create_namespaced_custom_object(
        "networking.istio.io", "v1beta1", "default", "virtualservices", vs
    )
    as_v1 = custom.get_namespaced_custom_object(
        "networking.istio.io", "v1", "default", "virtualservices", "web"
    )
    assert as_v1["apiVersion"] == "networking.istio.io/v1"
    assert as_v1["spec"] == vs["spec"]
    listed = custom.list_namespaced_custom_object(
        "networking.istio.io", "v1beta1", "default", "virtualservices"
    )
    assert [i["apiVersion"] for i in listed["items"]] == ["networking.istio.io/v1beta1"]
    wrong = {**vs, "apiVersion": "networking.istio.io/v1"}
    reply = rawclient.call(
        mesh_crds.url,
        "POST",
        "/apis/networking.istio.io/v1beta1/namespaces/default/virtualservices",
        body=wrong,
    )
    assert reply.status == 400  # the body's apiVersion must be the URL's
