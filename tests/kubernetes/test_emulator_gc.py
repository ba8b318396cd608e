"""DELETE: ownerReference cascade (background, foreground, orphan) by an asynchronous
garbage collector, finalizers and deletionTimestamp, namespaces, answers."""

from __future__ import annotations

import itertools
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import kubeemu
import kubernetes.client
import pytest
from kubeemu import gc, rawclient
from kubernetes.client.exceptions import ApiException


def _owner_ref(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
    }


def _post(emu: kubeemu.Emulator, path: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = rawclient.call(emu.url, "POST", path, body=body)
    assert reply.status == 201, reply.body
    return dict(reply.body)


def _cm(
    emu: kubeemu.Emulator,
    name: str,
    *owners: dict[str, Any],
    ns: str = "default",
    blocking: bool = False,
    finalizers: tuple[str, ...] = (),
) -> dict:
    meta: dict[str, Any] = {"name": name}
    if owners:
        meta["ownerReferences"] = [
            {**_owner_ref(o), **({"blockOwnerDeletion": True} if blocking else {})} for o in owners
        ]
    if finalizers:
        meta["finalizers"] = list(finalizers)
    return _post(
        emu,
        f"/api/v1/namespaces/{ns}/configmaps",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta},
    )


def _deployment(emu: kubeemu.Emulator, name: str, owner: dict[str, Any]) -> dict[str, Any]:
    labels = {"app": name}
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "ownerReferences": [_owner_ref(owner)]},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "x"}]},
            },
        },
    }
    return _post(emu, "/apis/apps/v1/namespaces/default/deployments", body)


def _events(emu: kubeemu.Emulator, path: str, after: str, count: int) -> list[tuple[str, str]]:
    """The next `count` watch events of `path` after rv `after`, as (type, name)."""
    query = urllib.parse.urlencode({"watch": "1", "resourceVersion": after})
    stream = rawclient.watch_lines(emu.url, f"{path}?{query}", timeout=5)
    try:
        return [
            (e["type"], e["object"]["metadata"]["name"]) for e in itertools.islice(stream, count)
        ]
    finally:
        stream.close()


def _exists(emu: kubeemu.Emulator, group: str, version: str, plural: str, name: str) -> bool:
    return emu.get_object(group, version, plural, "default", name) is not None


def _eventually(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Wait for the garbage collector (it works on its own thread, after `gc_delay`)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _cm_gone(emu: kubeemu.Emulator, name: str, ns: str = "default") -> None:
    _eventually(lambda: emu.get_object("", "v1", "configmaps", ns, name) is None, f"{name} gone")


def _delete(emu: kubeemu.Emulator, path: str, policy: str | None = None) -> Any:
    body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy}
    reply = rawclient.call(emu.url, "DELETE", path, body=body if policy else None)
    assert reply.status == 200, reply.body
    return reply.body


def test_cascade_is_recursive_and_across_kinds(crds_applied: kubeemu.Emulator) -> None:
    """Deleting a Service deletes what it owns, what those own, and so on, across kinds."""
    emu = crds_applied
    service = _post(
        emu,
        "/apis/rollout.dev/v1alpha1/namespaces/default/services",
        {
            "apiVersion": "rollout.dev/v1alpha1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "x"}]}}},
        },
    )
    deployment = _deployment(emu, "web-1", service)
    config = _cm(emu, "web-1-config", deployment)
    grandchild = _cm(emu, "web-1-extra", config)
    bystander = _cm(emu, "other")
    start = str(int(bystander["metadata"]["resourceVersion"]))
    custom = kubernetes.client.CustomObjectsApi(emu.api_client())
    answer = custom.delete_namespaced_custom_object(
        "rollout.dev", "v1alpha1", "default", "services", "web"
    )
    assert answer["metadata"]["uid"] == service["metadata"]["uid"]  # CRs answer the object
    assert not _exists(emu, "rollout.dev", "v1alpha1", "services", "web")
    _cm_gone(emu, grandchild["metadata"]["name"])
    assert not _exists(emu, "apps", "v1", "deployments", "web-1")
    assert not _exists(emu, "", "v1", "configmaps", config["metadata"]["name"])
    assert _exists(emu, "", "v1", "configmaps", "other")
    cm_events = _events(emu, "/api/v1/namespaces/default/configmaps", start, 2)
    assert cm_events == [("DELETED", "web-1-config"), ("DELETED", "web-1-extra")]
    deploy_events = _events(emu, "/apis/apps/v1/namespaces/default/deployments", start, 1)
    assert deploy_events == [("DELETED", "web-1")]
    assert emu.get_object("", "v1", "namespaces", None, "default") is not None
    writes = int(
        rawclient.call(emu.url, "GET", "/api/v1/configmaps").body["metadata"]["resourceVersion"]
    )
    assert writes == int(start) + 4  # one DELETED per object: service, deployment, two configmaps


def test_builtin_delete_answers_a_success_status(emulator: kubeemu.Emulator) -> None:
    """Built-ins other than Namespaces and CRDs answer a Status{Success, details}."""
    owner = _cm(emulator, "owner")
    core = kubernetes.client.CoreV1Api(emulator.api_client())
    status = core.delete_namespaced_config_map("owner", "default")
    assert (status["kind"], status["status"]) == ("Status", "Success")
    assert status["details"] == {
        "name": "owner",
        "kind": "configmaps",
        "uid": owner["metadata"]["uid"],
    }


DELETED_BA = [("DELETED", "b"), ("DELETED", "a")]


def test_foreground_deletes_dependents_first_background_owner_first(
    emulator: kubeemu.Emulator,
) -> None:
    """Foreground: the owner is marked (deletionTimestamp, `foregroundDeletion`) and
    answered as it is; so is a dependent with dependents; the deepest go first, the
    owner last. Background: the owner goes at once, its dependents after it."""
    for policy, expected in [
        (
            "Foreground",
            [("MODIFIED", "a"), ("MODIFIED", "b"), ("DELETED", "c"), *DELETED_BA],
        ),
        ("Background", [("DELETED", "a"), ("DELETED", "b"), ("DELETED", "c")]),
    ]:
        a = _cm(emulator, "a")
        b = _cm(emulator, "b", a, blocking=True)
        start = _cm(emulator, "c", b, blocking=True)["metadata"]["resourceVersion"]
        answer = _delete(emulator, "/api/v1/namespaces/default/configmaps/a", policy)
        if policy == "Foreground":
            assert answer["kind"] == "ConfigMap"  # not removed yet: the object
            assert answer["metadata"]["finalizers"] == ["foregroundDeletion"]
            assert answer["metadata"]["deletionTimestamp"]
        events = _events(emulator, "/api/v1/namespaces/default/configmaps", start, len(expected))
        assert events == expected, policy


def test_orphan_keeps_dependents_and_drops_their_reference(emulator: kubeemu.Emulator) -> None:
    """propagationPolicy=Orphan deletes only the owner; dependents lose that owner reference."""
    owner = _cm(emulator, "owner")
    other = _cm(emulator, "other-owner")
    child = _cm(emulator, "child", owner, other)
    grandchild = _cm(emulator, "grandchild", child)
    core = kubernetes.client.CoreV1Api(emulator.api_client())
    core.delete_namespaced_config_map("owner", "default", propagation_policy="Orphan")
    _cm_gone(emulator, "owner")  # once the collector has taken its `orphan` finalizer
    kept = emulator.get_object("", "v1", "configmaps", "default", "child")
    assert kept is not None
    assert [r["uid"] for r in kept["metadata"]["ownerReferences"]] == [other["metadata"]["uid"]]
    assert int(kept["metadata"]["resourceVersion"]) > int(child["metadata"]["resourceVersion"])
    assert emulator.get_object("", "v1", "configmaps", "default", "grandchild") == {
        **grandchild,
    }


def test_a_dependent_with_another_live_owner_survives(emulator: kubeemu.Emulator) -> None:
    """With two owners, deleting one strips its reference; deleting the last deletes the child."""
    first, second = _cm(emulator, "first"), _cm(emulator, "second")
    _cm(emulator, "shared", first, second)
    core = kubernetes.client.CoreV1Api(emulator.api_client())
    core.delete_namespaced_config_map("first", "default")

    def stripped() -> bool:
        shared = emulator.get_object("", "v1", "configmaps", "default", "shared")
        assert shared is not None
        return [r["name"] for r in shared["metadata"]["ownerReferences"]] == ["second"]

    _eventually(stripped, "the reference to the deleted owner stripped")
    core.delete_namespaced_config_map("second", "default")
    _cm_gone(emulator, "shared")


def test_owner_scope_rules(emulator: kubeemu.Emulator) -> None:
    """A namespaced owner owns only its namespace; a cluster-scoped owner owns any namespace."""
    core = kubernetes.client.CoreV1Api(emulator.api_client())
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    owner = _cm(emulator, "owner")
    _cm(emulator, "same-ns", owner)
    _cm(emulator, "other-ns", owner, ns="team")
    core.delete_namespaced_config_map("owner", "default")
    _cm_gone(emulator, "same-ns")
    assert emulator.get_object("", "v1", "configmaps", "team", "other-ns") is not None

    cluster_owner = _post(
        emulator,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "gadgets.example.com"},
            "spec": {
                "group": "example.com",
                "scope": "Cluster",
                "names": {"plural": "gadgets", "kind": "Gadget"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {"openAPIV3Schema": {"type": "object"}},
                    }
                ],
            },
        },
    )
    gadget = _post(
        emulator,
        "/apis/example.com/v1/gadgets",
        {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}},
    )
    _cm(emulator, "owned-here", gadget)
    _cm(emulator, "owned-there", gadget, ns="team")
    reply = rawclient.call(emulator.url, "DELETE", "/apis/example.com/v1/gadgets/g")
    assert reply.status == 200
    _cm_gone(emulator, "owned-here")
    _cm_gone(emulator, "owned-there", ns="team")
    assert cluster_owner["status"]["conditions"][1]["type"] == "Established"


def test_deleting_a_namespace_deletes_its_contents(emulator: kubeemu.Emulator) -> None:
    """A Namespace's objects go with it (at once: no Terminating phase); it answers the object."""
    core = kubernetes.client.CoreV1Api(emulator.api_client())
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    _cm(emulator, "inside", ns="team")
    _cm(emulator, "outside")
    reply = rawclient.call(emulator.url, "DELETE", "/api/v1/namespaces/team")
    assert reply.status == 200
    assert reply.body["kind"] == "Namespace"
    assert emulator.get_object("", "v1", "configmaps", "team", "inside") is None
    assert emulator.get_object("", "v1", "configmaps", "default", "outside") is not None
    assert emulator.get_object("", "v1", "namespaces", None, "team") is None


def test_delete_preconditions(emulator: kubeemu.Emulator) -> None:
    """DeleteOptions.preconditions (uid, resourceVersion) that do not hold are 409 Conflict."""
    made = _cm(emulator, "a")
    core = kubernetes.client.CoreV1Api(emulator.api_client())
    for preconditions in ({"uid": "someone-else"}, {"resourceVersion": "1"}):
        with pytest.raises(ApiException) as caught:
            core.delete_namespaced_config_map("a", "default", body={"preconditions": preconditions})
        assert caught.value.status == 409
    core.delete_namespaced_config_map(
        "a", "default", body={"preconditions": {"uid": made["metadata"]["uid"]}}
    )
    assert emulator.get_object("", "v1", "configmaps", "default", "a") is None


def test_delete_collection_with_a_selector(emulator: kubeemu.Emulator) -> None:
    """deletecollection deletes what the selector matches (with cascade) and lists what went."""
    core = kubernetes.client.CoreV1Api(emulator.api_client())
    for name, app in [("a", "web"), ("b", "web"), ("c", "db")]:
        core.create_namespaced_config_map(
            "default",
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "labels": {"app": app}},
            },
        )
    reply = rawclient.call(
        emulator.url, "DELETE", "/api/v1/namespaces/default/configmaps?labelSelector=app%3Dweb"
    )
    assert reply.status == 200
    assert [i["metadata"]["name"] for i in reply.body["items"]] == ["a", "b"]
    remaining = core.list_namespaced_config_map("default").items
    assert [c.metadata.name for c in remaining] == ["c"]


def test_plan_is_pure_and_ignores_dangling_owners() -> None:
    """A dependent whose other owner does not exist (dangling) is deleted with its live owner."""
    cm = ("", "configmaps")

    def obj(name: str, uid: str, *owners: str) -> dict[str, Any]:
        refs = [{"uid": u} for u in owners]
        return {"metadata": {"name": name, "namespace": "d", "uid": uid, "ownerReferences": refs}}

    owner, child = obj("o", "1"), obj("c", "2", "1", "missing")
    plan = gc.plan_delete((cm, owner), [(cm, owner), (cm, child)])
    assert [r.name for r in plan.deletes] == ["o", "c"]
    assert plan.strip == ()


def test_finalizers_hold_the_deletion_until_the_last_is_removed(
    emulator: kubeemu.Emulator,
) -> None:
    """DELETE of an object with finalizers sets deletionTimestamp (generation bumped) and
    keeps it and its dependents; adding a finalizer then is refused; the update that
    removes the last one deletes it, its dependents with it."""
    meta = {"name": "held", "finalizers": ["example.com/cleanup"]}
    owner = _post(
        emulator,
        "/api/v1/namespaces/default/configmaps",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta},
    )
    _cm(emulator, "dependent", owner)
    path = "/api/v1/namespaces/default/configmaps/held"
    reply = rawclient.call(emulator.url, "DELETE", path)
    assert reply.status == 200
    marked = emulator.get_object("", "v1", "configmaps", "default", "held")
    assert marked is not None
    assert marked["metadata"]["deletionTimestamp"]
    assert _exists(emulator, "", "v1", "configmaps", "dependent")
    again = rawclient.call(emulator.url, "DELETE", path)  # idempotent: the same mark
    assert again.status == 200
    assert emulator.get_object("", "v1", "configmaps", "default", "held") == marked
    more = {"metadata": {"finalizers": ["example.com/cleanup", "example.com/other"]}}
    refused = rawclient.call(
        emulator.url,
        "PATCH",
        path,
        body=more,
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert refused.status == 422
    assert "no new finalizers" in refused.body["message"]
    done = rawclient.call(
        emulator.url,
        "PATCH",
        path,
        body={"metadata": {"finalizers": None}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert done.status == 200
    assert not _exists(emulator, "", "v1", "configmaps", "held")
    _cm_gone(emulator, "dependent")


def test_background_dependents_outlive_their_owner_for_a_while(emulator: kubeemu.Emulator) -> None:
    """Background: the owner is gone when DELETE answers, its dependents only once the
    garbage collector has run (paused here: the window a controller must survive)."""
    owner = _cm(emulator, "owner")
    _cm(emulator, "child", owner, blocking=True)
    emulator.pause_gc()
    try:
        _delete(emulator, "/api/v1/namespaces/default/configmaps/owner")
        assert not _exists(emulator, "", "v1", "configmaps", "owner")
        time.sleep(0.2)  # several gc_delays: nothing is collected while paused
        assert _exists(emulator, "", "v1", "configmaps", "child")
    finally:
        emulator.resume_gc()
    _cm_gone(emulator, "child")


def test_foreground_waits_for_blocking_dependents_only(emulator: kubeemu.Emulator) -> None:
    """Foreground: every dependent is deleted; the owner waits for the ones with
    blockOwnerDeletion — here one held by a finalizer — and goes once they are gone."""
    owner = _cm(emulator, "owner")
    _cm(emulator, "held", owner, blocking=True, finalizers=("example.com/hold",))
    _cm(emulator, "loose", owner)
    marked = _delete(emulator, "/api/v1/namespaces/default/configmaps/owner", "Foreground")
    assert marked["metadata"]["finalizers"] == ["foregroundDeletion"]
    _cm_gone(emulator, "loose")

    def held_marked() -> bool:
        held = emulator.get_object("", "v1", "configmaps", "default", "held")
        return held is not None and bool(held["metadata"].get("deletionTimestamp"))

    _eventually(held_marked, "the held dependent marked for deletion")
    assert _exists(emulator, "", "v1", "configmaps", "owner")  # it waits for "held"
    _cm(emulator, "late", owner, blocking=True)  # made again under it: collected too
    _cm_gone(emulator, "late")
    reply = rawclient.call(
        emulator.url,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/held",
        body={"metadata": {"finalizers": None}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert reply.status == 200
    _cm_gone(emulator, "owner")


def _obj(name: str, uid: str, *owners: str, **meta: Any) -> dict[str, Any]:
    refs = [{"uid": u, "blockOwnerDeletion": True} for u in owners]
    return {
        "metadata": {"name": name, "namespace": "d", "uid": uid, "ownerReferences": refs, **meta}
    }


DELETING = {"deletionTimestamp": "2026-01-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("objects", "gone", "strip", "delete", "finish"),
    [
        pytest.param(
            [_obj("c", "2", "1")], {"1": "d"}, [], [("c", "Background")], [], id="dangling"
        ),
        pytest.param([_obj("c", "2", "1")], {"1": "other"}, [], [], [], id="other-namespace"),
        pytest.param([_obj("c", "2", "9")], {}, [], [], [], id="never-existed-alone"),
        pytest.param(
            [_obj("o", "3"), _obj("c", "2", "1", "3")],
            {"1": "d"},
            [("c", {"1"})],
            [],
            [],
            id="live-owner-left",
        ),
        pytest.param(
            [_obj("o", "1", finalizers=["foregroundDeletion"], **DELETING), _obj("c", "2", "1")],
            {},
            [],
            [("c", "Background")],
            [],
            id="foreground-deletes-dependent",
        ),
        pytest.param(
            [
                _obj("o", "1", finalizers=["foregroundDeletion"], **DELETING),
                _obj("c", "2", "1"),
                _obj("g", "3", "2"),
            ],
            {},
            [],
            [("c", "Foreground")],
            [],
            id="foreground-cascades",
        ),
        pytest.param(
            [_obj("o", "1", finalizers=["foregroundDeletion", "x/y"], **DELETING)],
            {},
            [],
            [],
            [("o", "foregroundDeletion")],
            id="foreground-done",
        ),
        pytest.param(
            [_obj("o", "1", finalizers=["orphan"], **DELETING), _obj("c", "2", "1")],
            {},
            [("c", {"1"})],
            [],
            [("o", "orphan")],
            id="orphan",
        ),
    ],
)
def test_sweep(
    objects: list[dict[str, Any]],
    gone: dict[str, str],
    strip: list[tuple[str, set[str]]],
    delete: list[tuple[str, str]],
    finish: list[tuple[str, str]],
) -> None:
    """One round of the garbage collector, as a pure function of the objects."""
    work = gc.sweep([(("", "configmaps"), o) for o in objects], gone)
    assert [(r.name, set(uids)) for r, _, uids in work.strip] == strip
    assert [(r.name, policy) for r, _, policy in work.delete] == delete
    assert [(r.name, f) for r, _, f in work.finish] == finish
