"""Discovery: version, groups, resource lists (with /status), CRDs appearing, kubectl's view."""

from __future__ import annotations

import pathlib
from typing import Any

import kubeemu
import kubernetes.client
import pytest
from kubeemu import rawclient

SERVICE_CRD = pathlib.Path(__file__).resolve().parents[2] / "crds" / "rollout.dev_services.yaml"
AGGREGATED = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)


def _get(emu: kubeemu.Emulator, path: str, **headers: str) -> Any:
    reply = rawclient.call(emu.url, "GET", path, headers=headers)
    assert reply.status == 200, reply.body
    return reply.body


def _resource(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in doc["resources"] if r["name"] == name)


def test_version_reports_a_1_32_server(emulator: kubeemu.Emulator) -> None:
    """/version is the official client's VersionApi answer (1.32, so kubectl does not warn)."""
    info = kubernetes.client.VersionApi(emulator.api_client()).get_code()
    assert (info.major, info.minor) == ("1", "32")
    assert info.git_version.startswith("v1.32.")


def test_core_group_documents(emulator: kubeemu.Emulator) -> None:
    """/api lists v1; /api/v1 has namespaces (cluster-scoped) and the namespaced built-ins."""
    assert _get(emulator, "/api")["versions"] == ["v1"]
    core = _get(emulator, "/api/v1")
    assert (core["kind"], core["groupVersion"]) == ("APIResourceList", "v1")
    namespaces = _resource(core, "namespaces")
    assert namespaces["namespaced"] is False
    assert namespaces["shortNames"] == ["ns"]
    assert "deletecollection" not in namespaces["verbs"]
    for name, kind in [("services", "Service"), ("configmaps", "ConfigMap"), ("events", "Event")]:
        entry = _resource(core, name)
        assert (entry["kind"], entry["namespaced"]) == (kind, True)
        assert set(entry["verbs"]) >= {
            "get",
            "list",
            "watch",
            "create",
            "update",
            "patch",
            "delete",
        }
    assert _resource(core, "namespaces/status")["verbs"] == ["get", "patch", "update"]


@pytest.mark.parametrize(
    ("group", "version", "plural", "kind", "has_status"),
    [
        ("apps", "v1", "deployments", "Deployment", True),
        ("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True),
        ("coordination.k8s.io", "v1", "leases", "Lease", False),
        ("events.k8s.io", "v1", "events", "Event", False),
        (
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            True,
        ),
    ],
    ids=["deployments", "hpa", "leases", "events", "crds"],
)
def test_builtin_groups_are_served(
    emulator: kubeemu.Emulator, group: str, version: str, plural: str, kind: str, has_status: bool
) -> None:
    """Each built-in group is in /apis, has its group document and its resource list."""
    groups = {g["name"]: g for g in _get(emulator, "/apis")["groups"]}
    assert groups[group]["preferredVersion"]["groupVersion"] == f"{group}/{version}"
    assert _get(emulator, f"/apis/{group}")["name"] == group
    doc = _get(emulator, f"/apis/{group}/{version}")
    assert doc["groupVersion"] == f"{group}/{version}"
    assert _resource(doc, plural)["kind"] == kind
    names = {r["name"] for r in doc["resources"]}
    assert (f"{plural}/status" in names) is has_status


def test_a_posted_crd_is_discoverable_at_once(crds_applied: kubeemu.Emulator) -> None:
    """After the CRDs are POSTed, /apis and /apis/rollout.dev/v1alpha1 list their resources."""
    groups = {g["name"]: g for g in _get(crds_applied, "/apis")["groups"]}
    assert groups["rollout.dev"]["versions"] == [
        {"groupVersion": "rollout.dev/v1alpha1", "version": "v1alpha1"}
    ]
    doc = _get(crds_applied, "/apis/rollout.dev/v1alpha1")
    service = _resource(doc, "services")
    assert service == {
        "name": "services",
        "singularName": "service",
        "namespaced": True,
        "kind": "Service",
        "verbs": [
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ],
        "shortNames": ["rsvc"],
        "categories": ["rollout"],
    }
    names = {r["name"] for r in doc["resources"]}
    assert {"services/status", "releases/status", "revisions/status", "routes/status"} <= names
    assert "rolloutpolicies/status" not in names  # that CRD has no status subresource


def test_multi_version_crd_and_categories(mesh_crds: kubeemu.Emulator) -> None:
    """VirtualService is served at v1 and v1beta1 (v1 preferred), with its categories."""
    group = _get(mesh_crds, "/apis/networking.istio.io")
    assert [v["version"] for v in group["versions"]] == ["v1", "v1beta1"]
    assert group["preferredVersion"]["version"] == "v1"
    for version in ("v1", "v1beta1"):
        entry = _resource(
            _get(mesh_crds, f"/apis/networking.istio.io/{version}"), "virtualservices"
        )
        assert entry["categories"] == ["istio-io", "networking-istio-io"]
        assert entry["shortNames"] == ["vs"]


def test_aggregated_discovery_request_gets_plain_documents(emulator: kubeemu.Emulator) -> None:
    """Asked for aggregated discovery, the emulator answers the legacy kinds as application/json."""
    reply = rawclient.call(emulator.url, "GET", "/apis", headers={"Accept": AGGREGATED})
    assert reply.headers["content-type"] == "application/json"
    assert reply.body["kind"] == "APIGroupList"


def test_openapi_v2_is_not_served(emulator: kubeemu.Emulator) -> None:
    """/openapi/v2 answers 404 (kubectl is used with --validate=false)."""
    assert rawclient.call(emulator.url, "GET", "/openapi/v2").status == 404


def test_openapi_v3_serves_the_crd_schemas(crds_applied: kubeemu.Emulator) -> None:
    """/openapi/v3 lists the custom group/versions only; each document holds every kind's
    `openAPIV3Schema` under its GVK, and a get path naming it (what kubectl explain reads)."""
    index = _get(crds_applied, "/openapi/v3")
    assert list(index["paths"]) == ["apis/rollout.dev/v1alpha1"]
    url = index["paths"]["apis/rollout.dev/v1alpha1"]["serverRelativeURL"]
    schemas = _get(crds_applied, url)["components"]["schemas"]
    service = schemas["dev.rollout.v1alpha1.Service"]
    assert service["x-kubernetes-group-version-kind"] == [
        {"group": "rollout.dev", "version": "v1alpha1", "kind": "Service"}
    ]
    assert "template" in service["properties"]["spec"]["properties"]
    assert rawclient.call(crds_applied.url, "GET", "/openapi/v3/apis/apps/v1").status == 404


def test_kubectl_discovers_builtins_and_crds(emulator: kubeemu.Emulator, kubectl: Any) -> None:
    """kubectl sees a CRD applied a moment before, though it cached discovery without it."""
    cached = kubectl(emulator, "get", "deployments")
    assert cached.returncode == 0, cached.stderr
    assert "No resources found in default namespace." in cached.stderr
    applied = kubectl(emulator, "apply", "--validate=false", "-f", str(SERVICE_CRD))
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.strip() == (
        "customresourcedefinition.apiextensions.k8s.io/services.rollout.dev created"
    )
    shown = kubectl(emulator, "get", "rsvc")
    assert shown.returncode == 0, shown.stderr
    assert "No resources found in default namespace." in shown.stderr
    listed = kubectl(emulator, "api-resources", "--api-group=rollout.dev", "--no-headers")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == ["services", "rsvc", "rollout.dev/v1alpha1", "true", "Service"]
    names = kubectl(emulator, "api-resources", "--no-headers", "-o", "name")
    assert {"deployments.apps", "leases.coordination.k8s.io", "namespaces"} <= set(
        names.stdout.split()
    )
