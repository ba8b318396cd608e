"""Objects the CRD schema accepts but our model refuses (a Route naming a revision of
another service), on the API emulator: the store lists them apart and delivers them by watch
(`platforms/kubernetes/store.py`, `feed.py`); the controller process reconciles every
other object, marks the bad one `Ready=False, reason=InvalidSpec` once (one status
write), with a Warning Event — at start and when one arrives by watch — and
reconciles it normally once it is fixed with kubectl."""

from __future__ import annotations

from typing import Any

import kubeemu
import pytest
import yaml
from kubecluster import (
    Cluster,
    Controller,
    Kubectl,
    assert_granted,
    event_reasons,
    service_yaml,
    wait_for,
)
from kubernetes import client

from rollout.api import route, split
from rollout.platforms.kubernetes import store as kstore
from rollout.store import errors


# Accepted by the CRD schema and its CEL rules (which check sums and tags), refused by
# the model: a rule of `rollout validate` the CRDs do not carry (rollout/api/crdrules.py).
def message(name: str) -> str:
    return (
        f"spec.traffic[0].revisionName: 'other-00001' is not a revision of service"
        f" '{name}' (revisions are named {name}-00001, {name}-00002, …)"
    )


GROUP, VERSION = "rollout.dev", "v1alpha1"


def route_doc(name: str, percents: tuple[int, ...], *, of: str | None = None) -> dict[str, Any]:
    """A Route over revisions of service `of` (default: its own, `name`)."""
    traffic = [
        {"revisionName": f"{of or name}-0000{i + 1}", "percent": p} for i, p in enumerate(percents)
    ]
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Route",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"service": name, "traffic": traffic},
    }


def test_the_store_lists_a_bad_object_apart_and_watches_it(
    crds_applied: kubeemu.Emulator,
) -> None:
    """list (all namespaces, and scoped): the good Routes, and the bad one in `invalid`
    with `rollout validate`'s message; get raises Undecodable; its watch event is
    delivered and raises on `object`; its status can be written."""
    emu = crds_applied
    store = kstore.KubernetesStore(emu.api_client(), request_timeout=10)
    scoped = kstore.KubernetesStore(emu.api_client(), request_timeout=10, namespaces=("default",))
    try:
        for name in ("a", "c"):
            target = split.TrafficTarget(revision_name=f"{name}-00001", percent=100)
            store.create(
                route.Route(
                    metadata={"name": name},  # type: ignore[arg-type]
                    spec=route.RouteSpec(service=name, traffic=[target]),
                )
            )
        custom = client.CustomObjectsApi(emu.api_client())
        since = store.list("Route").resource_version
        custom.create_namespaced_custom_object(
            GROUP, VERSION, "default", "routes", route_doc("b", (100,), of="other")
        )
        for each in (store, scoped):
            listed = each.list("Route")
            assert [o.metadata.name for o in listed.items] == ["a", "c"]
            assert [(o.key, o.message) for o in listed.invalid] == [
                (("Route", "default", "b"), message("b"))
            ]
        bad = store.list("Route").invalid[0]
        assert bad.metadata.uid
        assert bad.metadata.generation == 1
        with pytest.raises(errors.Undecodable):
            store.get("Route", "default", "b")
        (event,) = list(store.watch("Route", since=since, timeout=5))
        assert event.key == ("Route", "default", "b")
        with pytest.raises(errors.Undecodable):
            _ = event.object
        store.update_invalid_status(bad, {"url": "http://marked"})
        with pytest.raises(errors.Conflict):
            store.update_invalid_status(bad, {"url": "http://stale"})
        stored = emu.get_object(GROUP, VERSION, "routes", "default", "b")
        assert stored is not None
        assert stored["status"] == {"url": "http://marked"}
        assert stored["spec"]["traffic"][0]["revisionName"] == "other-00001"
    finally:
        store.close()
        scoped.close()


def ready_of(c: Cluster, name: str) -> dict[str, Any] | None:
    obj = c.obj(GROUP, VERSION, "routes", name)
    conditions = (obj or {}).get("status", {}).get("conditions", [])
    return next((x for x in conditions if x["type"] == "Ready"), None)


def status_writes(emu: kubeemu.Emulator, name: str) -> int:
    return sum(
        1
        for r in emu.requests.snapshot()
        if (r.verb, r.resource, r.subresource, r.name) == ("update", "routes", "status", name)
    )


def test_the_controller_marks_bad_objects_and_reconciles_the_rest(
    cluster: Cluster, kubectl: Kubectl
) -> None:
    """A bad Route applied before start does not stop the valid Service from deploying;
    it is marked InvalidSpec once, with an Event; one applied after start is marked
    too; the first, fixed with kubectl, reconciles and InvalidSpec is gone."""

    def kubectl_apply(*docs: dict[str, Any] | str) -> None:
        text = "\n---\n".join(d if isinstance(d, str) else yaml.safe_dump(d) for d in docs)
        done = kubectl(cluster.kubeconfig, "apply", "--validate=false", "-f", "-", stdin=text)
        assert done.returncode == 0, done.stderr

    web = service_yaml("v1", policy="none").replace("  policy: none\n", "")
    kubectl_apply(route_doc("odd", (100,), of="other"), web)
    controller = Controller(cluster.kubeconfig, cluster.tmp / "controller.log")
    try:
        wait_for(
            lambda: cluster.rsvc().get("status", {}).get("stableRevision") == "web-00001",
            30,
            f"the valid Service to deploy; controller log:\n{controller.output()}",
        )
        ready = wait_for(lambda: ready_of(cluster, "odd"), 10, "odd's condition")
        assert (ready["status"], ready["reason"], ready["message"]) == (
            "False",
            "InvalidSpec",
            message("odd"),
        )
        assert ready["observedGeneration"] == 1
        wait_for(lambda: "InvalidSpec" in event_reasons(cluster, "Route", "odd"), 10, "an Event")
        # Marked once: its own status event came back long ago, and no write followed.
        assert status_writes(cluster.emu, "odd") == 1

        kubectl_apply(route_doc("late", (100,), of="other"), route_doc("odd", (50, 50)))
        ready = wait_for(lambda: ready_of(cluster, "late"), 10, "late's condition (by watch)")
        assert (ready["reason"], ready["observedGeneration"]) == ("InvalidSpec", 1)
        wait_for(
            lambda: (ready_of(cluster, "odd") or {}).get("reason") != "InvalidSpec",
            10,
            f"odd reconciled once fixed; controller log:\n{controller.output()[-3000:]}",
        )
        assert (ready_of(cluster, "odd") or {}).get("observedGeneration") == 2
        assert status_writes(cluster.emu, "late") == 1
        assert_granted(cluster.emu)  # the GET and the status PUT, the Events
    finally:
        assert controller.stop() == 0, controller.output()
