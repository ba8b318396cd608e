"""The memory store deletes as a cluster does when an object has finalizers: `delete`
marks it (`deletionTimestamp`, a MODIFIED event) and keeps it; the update that removes
its last finalizer deletes it, with what it owns (the rehearsal platform and the
scenario tests meet the same terminating window as the Kubernetes store)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rollout.api import meta, route, split
from rollout.reconcilers import base
from rollout.store import errors, memory, port

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def a_route(name: str, **fields: object) -> route.Route:
    return route.Route(
        metadata=meta.ObjectMeta(name=name, **fields),  # type: ignore[arg-type]
        spec=route.RouteSpec(
            service=name, traffic=[split.TrafficTarget(revision_name=f"{name}-00001", percent=100)]
        ),
    )


def test_delete_marks_an_object_with_finalizers_and_the_last_removal_deletes_it() -> None:
    store = memory.MemoryStore(now=lambda: NOW)
    owner = store.create(a_route("web", finalizers=["example.com/hold"]))
    store.create(a_route("child", owner_references=[base.owner_reference(owner)]))
    since = store.list("Route").resource_version

    store.delete("Route", "default", "web")
    marked = store.get("Route", "default", "web")
    assert marked.metadata.deletion_timestamp == NOW
    store.delete("Route", "default", "web")  # again: nothing changes
    assert store.get("Route", "default", "web").metadata.resource_version == (
        marked.metadata.resource_version
    )
    assert store.get("Route", "default", "child") is not None  # nothing collected yet

    store.update(
        marked.model_copy(
            update={"metadata": marked.metadata.model_copy(update={"finalizers": []})}
        )
    )
    with pytest.raises(errors.NotFound):
        store.get("Route", "default", "web")
    with pytest.raises(errors.NotFound):
        store.get("Route", "default", "child")
    events = [(e.type, e.key[2]) for e in store.watch("Route", since=since, timeout=0)]
    assert events == [
        (port.EventType.MODIFIED, "web"),
        (port.EventType.MODIFIED, "web"),
        (port.EventType.DELETED, "web"),
        (port.EventType.DELETED, "child"),
    ]


def test_an_object_without_finalizers_goes_at_once() -> None:
    store = memory.MemoryStore(now=lambda: NOW)
    store.create(a_route("web"))
    store.delete("Route", "default", "web")
    with pytest.raises(errors.NotFound):
        store.get("Route", "default", "web")
