"""PATCH: merge patch, JSON patch, strategic merge patch (built-ins only), preconditions."""

from __future__ import annotations

import json
from typing import Any

import kubeemu
import kubernetes.client
import pytest
from kubeemu import errors, patching, rawclient

MERGE = {"Content-Type": "application/merge-patch+json"}
JSON_PATCH = {"Content-Type": "application/json-patch+json"}
STRATEGIC = {"Content-Type": "application/strategic-merge-patch+json"}
DEPLOYMENT = "/apis/apps/v1/namespaces/default/deployments/web"
RSVC = "/apis/rollout.dev/v1alpha1/namespaces/default/services/echo"


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        ({"a": 1}, {"a": 2}, {"a": 2}),
        ({"a": 1}, {"b": 2}, {"a": 1, "b": 2}),
        ({"a": 1, "b": 2}, {"a": None}, {"b": 2}),
        ({"a": {"b": 1, "c": 2}}, {"a": {"b": None, "d": 3}}, {"a": {"c": 2, "d": 3}}),
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
        ({"a": 1}, {"a": {"b": None}}, {"a": {}}),
        ({"a": {"b": 1}}, {"a": 5}, {"a": 5}),
        ({"a": 1}, ["x"], ["x"]),
    ],
    ids=[
        "replace",
        "add",
        "delete",
        "nested",
        "list-replaced",
        "null-in-new",
        "to-scalar",
        "whole",
    ],
)
def test_merge_patch_rfc7386(target: Any, patch: Any, expected: Any) -> None:
    """RFC 7386: objects merge, null deletes, everything else replaces."""
    assert patching.merge_patch(target, patch) == expected


DOC = {"a": {"b": [1, 2, 3]}, "c": "x"}


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        ([{"op": "add", "path": "/d", "value": 1}], {**DOC, "d": 1}),
        ([{"op": "add", "path": "/a/b/1", "value": 9}], {"a": {"b": [1, 9, 2, 3]}, "c": "x"}),
        ([{"op": "add", "path": "/a/b/-", "value": 4}], {"a": {"b": [1, 2, 3, 4]}, "c": "x"}),
        ([{"op": "remove", "path": "/c"}], {"a": {"b": [1, 2, 3]}}),
        ([{"op": "remove", "path": "/a/b/0"}], {"a": {"b": [2, 3]}, "c": "x"}),
        ([{"op": "replace", "path": "/c", "value": "y"}], {**DOC, "c": "y"}),
        ([{"op": "move", "from": "/c", "path": "/e"}], {"a": {"b": [1, 2, 3]}, "e": "x"}),
        ([{"op": "copy", "from": "/a/b", "path": "/f"}], {**DOC, "f": [1, 2, 3]}),
        ([{"op": "test", "path": "/c", "value": "x"}], DOC),
        ([{"op": "add", "path": "/a~1b", "value": 1}], {**DOC, "a/b": 1}),
    ],
    ids=[
        "add",
        "add-index",
        "append",
        "remove",
        "remove-index",
        "replace",
        "move",
        "copy",
        "test",
        "escaped",
    ],
)
def test_json_patch_rfc6902(ops: list[dict[str, Any]], expected: Any) -> None:
    """RFC 6902 operations, JSON pointers with escapes and `-`; the input is not modified."""
    before = json.dumps(DOC)
    assert patching.json_patch(DOC, ops) == expected
    assert json.dumps(DOC) == before


@pytest.mark.parametrize(
    ("ops", "error"),
    [
        ([{"op": "test", "path": "/c", "value": "y"}], errors.Invalid),
        ([{"op": "test", "path": "/a/b/0", "value": True}], errors.Invalid),
        ([{"op": "remove", "path": "/nope"}], errors.Invalid),
        ([{"op": "replace", "path": "/a/x", "value": 1}], errors.Invalid),
        ([{"op": "add", "path": "/a/b/7", "value": 1}], errors.Invalid),
        ([{"op": "launch", "path": "/c"}], errors.BadRequest),
        ([{"op": "add", "path": "c", "value": 1}], errors.BadRequest),
        ({"op": "add"}, errors.BadRequest),
    ],
    ids=[
        "test-fails",
        "test-type",
        "remove-missing",
        "replace-missing",
        "index-range",
        "unknown-op",
        "bad-pointer",
        "not-a-list",
    ],
)
def test_json_patch_failures(ops: Any, error: type[errors.ApiError]) -> None:
    """Operations that do not apply are Invalid (422); malformed documents are BadRequest (400)."""
    with pytest.raises(error):
        patching.json_patch(DOC, ops)


def a_deployment() -> dict[str, Any]:
    labels = {"app": "web"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": labels, "finalizers": ["a"]},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "app:1",
                            "ports": [{"containerPort": 8080, "name": "http"}],
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                        },
                        {"name": "sidecar", "image": "proxy:1"},
                    ]
                },
            },
        },
    }


@pytest.fixture
def deployed(emulator: kubeemu.Emulator) -> kubeemu.Emulator:
    kubernetes.client.AppsV1Api(emulator.api_client()).create_namespaced_deployment(
        "default", a_deployment()
    )
    return emulator


def _patch(emu: kubeemu.Emulator, path: str, body: Any, headers: dict[str, str]) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return rawclient.call(emu.url, "PATCH", path, body=raw, headers=headers)


def test_official_client_patches_deployments_strategically(deployed: kubeemu.Emulator) -> None:
    """The client sends dict patches of built-ins as strategic merge: containers merge by name."""
    apps = kubernetes.client.AppsV1Api(deployed.api_client())
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}}
    done = apps.patch_namespaced_deployment("web", "default", patch)
    containers = done.spec.template.spec.containers
    assert [(c.name, c.image) for c in containers] == [("app", "app:2"), ("sidecar", "proxy:1")]
    assert containers[0].ports[0].container_port == 8080  # kept: merged, not replaced
    assert done.metadata.generation == 2


def test_strategic_merge_patch_directives(deployed: kubeemu.Emulator) -> None:
    """Merge keys (env by name, ports by containerPort), $patch: delete, primitive-list sets."""
    patch = {
        "metadata": {"finalizers": ["b"]},
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
                    "containers": [
                        {
                            "name": "app",
                            "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
                            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                        },
                        {"name": "sidecar", "$patch": "delete"},
                    ],
                }
            }
        },
    }
    reply = _patch(deployed, DEPLOYMENT, patch, STRATEGIC)
    assert reply.status == 200, reply.body
    spec = reply.body["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["containers"]] == ["app"]
    app = spec["containers"][0]
    assert app["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "3"},
        {"name": "C", "value": "4"},
    ]
    assert app["ports"] == [{"containerPort": 8080, "name": "http", "protocol": "TCP"}]
    assert reply.body["metadata"]["finalizers"] == ["a", "b"]
    assert "$setElementOrder/containers" not in spec


def test_strategic_merge_patch_is_refused_for_custom_resources(
    crds_applied: kubeemu.Emulator,
) -> None:
    """Like the apiserver, custom resources accept JSON and merge patches only (415)."""
    body = {
        "apiVersion": "rollout.dev/v1alpha1",
        "kind": "Service",
        "metadata": {"name": "echo"},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "x"}]}}},
    }
    rawclient.call(crds_applied.url, "POST", RSVC.rsplit("/", 1)[0], body=body)
    reply = _patch(crds_applied, RSVC, {"spec": {"port": 80}}, STRATEGIC)
    assert reply.status == 415
    assert reply.body["reason"] == "UnsupportedMediaType"
    assert "application/merge-patch+json" in reply.body["message"]
    assert _patch(crds_applied, RSVC, {"spec": {"port": 80}}, MERGE).status == 200


@pytest.mark.parametrize(
    "content_type",
    ["application/apply-patch+yaml", "application/json", "text/plain", ""],
)
def test_unsupported_patch_types_are_415(deployed: kubeemu.Emulator, content_type: str) -> None:
    """Server-side apply and non-patch media types are refused with 415."""
    headers = {"Content-Type": content_type} if content_type else {}
    reply = _patch(deployed, DEPLOYMENT, {"spec": {"replicas": 2}}, headers)
    assert reply.status == 415
    assert reply.body["kind"] == "Status"


def test_merge_patch_over_http(deployed: kubeemu.Emulator) -> None:
    """Merge patch: null deletes a label, lists are replaced; the generation follows the spec."""
    patch = {"metadata": {"labels": {"app": None, "tier": "web"}}, "spec": {"replicas": 3}}
    reply = _patch(deployed, DEPLOYMENT, patch, MERGE)
    assert reply.status == 200
    assert reply.body["metadata"]["labels"] == {"tier": "web"}
    assert reply.body["spec"]["replicas"] == 3
    assert reply.body["metadata"]["generation"] == 2
    containers = {"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "i"}]}}}}
    reply = _patch(deployed, DEPLOYMENT, containers, MERGE)
    assert [c["name"] for c in reply.body["spec"]["template"]["spec"]["containers"]] == ["only"]


def test_json_patch_over_http(deployed: kubeemu.Emulator) -> None:
    """JSON patch with a `test` on resourceVersion: applied when current, 422 when stale."""
    current = deployed.get_object("apps", "v1", "deployments", "default", "web")
    assert current is not None
    rv = current["metadata"]["resourceVersion"]
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "replace", "path": "/spec/replicas", "value": 5},
        {"op": "add", "path": "/metadata/annotations", "value": {"note": "x"}},
    ]
    reply = _patch(deployed, DEPLOYMENT, ops, JSON_PATCH)
    assert reply.status == 200, reply.body
    assert reply.body["spec"]["replicas"] == 5
    stale = _patch(deployed, DEPLOYMENT, ops, JSON_PATCH)
    assert stale.status == 422
    assert stale.body["reason"] == "Invalid"
    assert "testing value /metadata/resourceVersion failed" in stale.body["message"]
    malformed = _patch(deployed, DEPLOYMENT, {"spec": {}}, JSON_PATCH)
    assert malformed.status == 400
    missing = _patch(deployed, DEPLOYMENT, [{"op": "remove", "path": "/spec/nope"}], JSON_PATCH)
    assert missing.status == 422


def test_patch_resource_version_precondition(deployed: kubeemu.Emulator) -> None:
    """A patch carrying metadata.resourceVersion applies only to that version (else 409)."""
    current = deployed.get_object("apps", "v1", "deployments", "default", "web")
    assert current is not None
    rv = current["metadata"]["resourceVersion"]
    ok = _patch(
        deployed, DEPLOYMENT, {"metadata": {"resourceVersion": rv}, "spec": {"replicas": 2}}, MERGE
    )
    assert ok.status == 200
    stale = _patch(
        deployed, DEPLOYMENT, {"metadata": {"resourceVersion": rv}, "spec": {"replicas": 3}}, MERGE
    )
    assert stale.status == 409
    assert stale.body["reason"] == "Conflict"
    now = deployed.get_object("apps", "v1", "deployments", "default", "web")
    assert now is not None
    assert now["spec"]["replicas"] == 2


def test_patches_honour_the_status_subresource(deployed: kubeemu.Emulator) -> None:
    """Main-resource patches ignore status; /status patches ignore everything else."""
    main = _patch(deployed, DEPLOYMENT, {"status": {"replicas": 4}, "spec": {"replicas": 2}}, MERGE)
    assert main.body["status"] == {}
    assert main.body["spec"]["replicas"] == 2
    status = _patch(
        deployed,
        DEPLOYMENT + "/status",
        {"status": {"replicas": 4}, "spec": {"replicas": 9}, "metadata": {"labels": {"x": "y"}}},
        MERGE,
    )
    assert status.status == 200
    assert status.body["status"] == {"replicas": 4}
    assert status.body["spec"]["replicas"] == 2
    assert status.body["metadata"]["labels"] == {"app": "web"}
    assert status.body["metadata"]["generation"] == main.body["metadata"]["generation"]


def test_patch_cannot_rename(deployed: kubeemu.Emulator) -> None:
    """A patch that changes the name (or apiVersion/kind) is a 400."""
    reply = _patch(deployed, DEPLOYMENT, {"metadata": {"name": "other"}}, MERGE)
    assert reply.status == 400
    assert "does not match the name on the URL" in reply.body["message"]


def test_malformed_patch_body_is_400(deployed: kubeemu.Emulator) -> None:
    """A body that is not JSON is a 400 BadRequest."""
    reply = _patch(deployed, DEPLOYMENT, b"{not json", MERGE)
    assert reply.status == 400
    assert reply.body["reason"] == "BadRequest"
