"""What the memory store does beyond the Store contract: its watch log per kind."""

from __future__ import annotations

import threading
import time

import pytest

from rollout.api import meta, route, service
from rollout.store import errors, memory

WAIT = 10.0


def a_service(name: str) -> service.Service:
    return service.Service.model_validate(
        {
            "metadata": {"name": name},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "command": ["app"]}]}}},
        }
    )


def a_route(name: str) -> route.Route:
    return route.Route(metadata=meta.ObjectMeta(name=name), spec=route.RouteSpec(service="web"))


def test_a_watch_waiting_while_its_events_are_forgotten_raises_expired() -> None:
    """Events of the watched kind forgotten during the wait are never skipped silently."""
    store = memory.MemoryStore(log_size=2)
    since = store.list("Route").resource_version
    waiting, outcome = threading.Event(), []

    def watcher() -> None:
        waiting.set()
        try:
            outcome.extend(store.watch("Route", since=since, timeout=WAIT))
        except errors.Expired as exc:
            outcome.append(exc)

    thread = threading.Thread(target=watcher)
    thread.start()
    assert waiting.wait(WAIT)
    while not store._changed["Route"]._waiters:  # type: ignore[attr-defined]
        time.sleep(0.001)  # until the watcher waits for a change
    # Six writes while holding the store's (reentrant) lock: the watcher, woken by the
    # first, cannot look before the last; by then the events it waited for are forgotten.
    with store._lock:
        obj = store.create(a_route("r"))
        for i in range(5):
            obj = store.update_status(
                obj.model_copy(update={"status": route.RouteStatus(url=f"u{i}")})
            )
    thread.join(WAIT)
    assert not thread.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], errors.Expired)


def test_a_watch_reads_only_its_kind() -> None:
    """Events of other kinds never come back from a kind's watch, however many."""
    store = memory.MemoryStore()
    since = store.list("Route").resource_version
    store.create(a_route("r"))
    for i in range(50):
        store.create(a_service(f"s{i}"))
    store.create(a_route("q"))
    events = list(store.watch("Route", since=since, timeout=0))
    assert [(e.object.kind, e.object.metadata.name) for e in events] == [
        ("Route", "r"),
        ("Route", "q"),
    ]
    assert len(list(store.watch("Service", since=since, timeout=0))) == 50


@pytest.mark.parametrize("log_size", [1, 3])
def test_the_log_keeps_the_last_log_size_events(log_size: int) -> None:
    """After many writes, a watch from the last `log_size` versions works and one from
    before raises Expired."""
    store = memory.MemoryStore(log_size=log_size)
    obj = store.create(a_route("r"))
    versions = [obj.metadata.resource_version or ""]
    for i in range(10):
        obj = store.update_status(obj.model_copy(update={"status": route.RouteStatus(url=f"u{i}")}))
        versions.append(obj.metadata.resource_version or "")
    kept = list(store.watch("Route", since=versions[-1 - log_size], timeout=0))
    assert [e.resource_version for e in kept] == versions[-log_size:]
    with pytest.raises(errors.Expired):
        list(store.watch("Route", since=versions[0], timeout=0))
