"""List: label and field selectors, across namespaces and in one, and the list envelope."""

from __future__ import annotations

from typing import Any

import kubeemu
import kubernetes.client
import pytest
from kubeemu import errors, rawclient, selectors
from kubernetes.client.exceptions import ApiException

LABELS = {"app": "web", "tier": "front", "version": "3"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app=db", False),
        ("app!=db", True),
        ("missing!=x", True),
        ("app in (web,db)", True),
        ("app in (db)", False),
        ("app notin (db, cache)", True),
        ("missing notin (x)", True),
        ("app notin (web)", False),
        ("tier", True),
        ("missing", False),
        ("!missing", True),
        ("!tier", False),
        ("version>2", True),
        ("version<3", False),
        ("app=web,tier=front", True),
        ("app=web,tier=back", False),
        (" app = web , !missing , tier in ( front ) ", True),
        ("empty=", False),
        ("app in (web,)", True),
    ],
)
def test_label_selector_matching(selector: str, expected: bool) -> None:
    """Equality, inequality, set-based, existence and numeric requirements, ANDed."""
    parsed = selectors.parse_label_selector(selector)
    assert parsed.matches({"metadata": {"labels": LABELS}}) is expected


@pytest.mark.parametrize(
    "selector",
    [
        "=web",
        "app in web",
        "app in (web",
        "app notin ()",
        "a b",
        "app=web,",
        "v>x",
        "app=(x)",
        "-a",
    ],
)
def test_malformed_label_selectors(selector: str) -> None:
    """A malformed selector is a BadRequest that quotes it."""
    with pytest.raises(errors.BadRequest) as caught:
        selectors.parse_label_selector(selector)
    assert "unable to parse requirement" in caught.value.message


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("metadata.name=a", ["default/a", "team/a"]),
        ("metadata.name==a", ["default/a", "team/a"]),
        ("metadata.name!=a", ["default/b"]),
        ("metadata.namespace=team", ["team/a"]),
        ("metadata.name=a,metadata.namespace!=team", ["default/a"]),
    ],
)
def test_field_selectors_across_namespaces(
    emulator: kubeemu.Emulator, selector: str, expected: list[str]
) -> None:
    """metadata.name and metadata.namespace with =, ==, != over a cluster-wide list."""
    _populate(emulator)
    core = kubernetes.client.CoreV1Api(emulator.api_client())
    found = core.list_config_map_for_all_namespaces(field_selector=selector)
    assert [f"{c.metadata.namespace}/{c.metadata.name}" for c in found.items] == expected


def test_unsupported_field_selector_is_400(emulator: kubeemu.Emulator) -> None:
    """Fields other than metadata.name/namespace are refused like an unsupported field label."""
    reply = rawclient.call(emulator.url, "GET", "/api/v1/configmaps?fieldSelector=spec.x%3Dy")
    assert reply.status == 400
    assert reply.body["message"] == 'field label not supported: "spec.x"'


def test_events_select_on_their_involved_object(emulator: kubeemu.Emulator) -> None:
    """core/v1 Events take the apiserver's extra fields (involvedObject.*, reason,
    type, …) across namespaces; another resource still refuses them."""
    core = kubernetes.client.CoreV1Api(emulator.api_client())
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    for namespace, name, api, kind, type_ in [
        ("default", "a", "rollout.dev/v1alpha1", "Service", "Normal"),
        ("team", "b", "rollout.dev/v1alpha1", "Release", "Warning"),
        ("team", "c", "v1", "Pod", "Warning"),
    ]:
        core.create_namespaced_event(
            namespace,
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": {"apiVersion": api, "kind": kind, "name": name},
                "reason": "Seen",
                "type": type_,
            },
        )

    def names(selector: str) -> list[str]:
        found = core.list_event_for_all_namespaces(field_selector=selector)
        return sorted(e.metadata.name for e in found.items)

    assert names("involvedObject.apiVersion=rollout.dev/v1alpha1") == ["a", "b"]
    assert names("involvedObject.kind!=Service,type=Warning") == ["b", "c"]
    assert names("reason=Other") == []
    reply = rawclient.call(
        emulator.url, "GET", "/api/v1/configmaps?fieldSelector=involvedObject.kind%3DPod"
    )
    assert reply.status == 400


def _populate(emulator: kubeemu.Emulator) -> None:
    core = kubernetes.client.CoreV1Api(emulator.api_client())
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    for namespace, name, labels in [
        ("default", "a", {"app": "web", "tier": "front"}),
        ("default", "b", {"app": "db"}),
        ("team", "a", {"app": "web"}),
    ]:
        core.create_namespaced_config_map(
            namespace,
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}},
        )


@pytest.mark.parametrize(
    ("namespace", "selector", "expected"),
    [
        (None, "app=web", ["default/a", "team/a"]),
        (None, "app in (web,db),!tier", ["default/b", "team/a"]),
        (None, "", ["default/a", "default/b", "team/a"]),
        ("default", "app=web", ["default/a"]),
        ("team", "app!=web", []),
    ],
    ids=["all-equal", "all-set-based", "all", "one-namespace", "one-namespace-none"],
)
def test_list_with_label_selectors(
    emulator: kubeemu.Emulator, namespace: str | None, selector: str, expected: list[str]
) -> None:
    """Label selectors filter cluster-wide and namespaced lists."""
    _populate(emulator)
    core = kubernetes.client.CoreV1Api(emulator.api_client())
    if namespace is None:
        found = core.list_config_map_for_all_namespaces(label_selector=selector)
    else:
        found = core.list_namespaced_config_map(namespace, label_selector=selector)
    assert [f"{c.metadata.namespace}/{c.metadata.name}" for c in found.items] == expected


def test_malformed_selector_over_http_is_400(emulator: kubeemu.Emulator) -> None:
    """The official client gets a 400 BadRequest for a malformed label selector."""
    core = kubernetes.client.CoreV1Api(emulator.api_client())
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_config_map("default", label_selector="app in (web")
    assert caught.value.status == 400


def test_list_envelope_and_ignored_paging(crds_applied: kubeemu.Emulator) -> None:
    """Lists carry kind, apiVersion, metadata.resourceVersion; limit/continue are ignored."""
    custom = kubernetes.client.CustomObjectsApi(crds_applied.api_client())
    for name in ("a", "b", "c"):
        body: dict[str, Any] = {
            "apiVersion": "rollout.dev/v1alpha1",
            "kind": "Route",
            "metadata": {"name": name},
            "spec": {"service": "web", "traffic": [{"revisionName": "web-1", "percent": 100}]},
        }
        custom.create_namespaced_custom_object("rollout.dev", "v1alpha1", "default", "routes", body)
    reply = rawclient.call(
        crds_applied.url,
        "GET",
        "/apis/rollout.dev/v1alpha1/routes?limit=1&continue=whatever",
    )
    assert reply.status == 200
    body = reply.body
    assert (body["kind"], body["apiVersion"]) == ("RouteList", "rollout.dev/v1alpha1")
    assert body["metadata"]["resourceVersion"] == body["items"][-1]["metadata"]["resourceVersion"]
    assert "continue" not in body["metadata"]
    assert [i["metadata"]["name"] for i in body["items"]] == ["a", "b", "c"]
    assert all(i["kind"] == "Route" for i in body["items"])
