"""A watch that falls too far behind the store's log lists again and loses nothing."""

from __future__ import annotations

from rollout import clock as clocks
from rollout.api import service
from rollout.controller import manager
from rollout.platforms import memory
from rollout.reconcilers import base
from rollout.store import memory as memory_store


def make_service(name: str) -> service.Service:
    return service.Service.model_validate(
        {
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "command": ["app"]}]}}},
        }
    )


def test_expired_watch_relists_and_enqueues_what_it_missed():
    """Objects written while the watch was expired are found by the relist."""
    clock = clocks.FakeClock()
    store = memory_store.MemoryStore(now=clock.now, log_size=2)
    controller = manager.Controller(store, memory.make(clock), clock)
    controller.list_all()
    for i in range(10):  # far more changes than the log keeps
        store.create(make_service(f"svc-{i}"))
    assert controller.pump("Service", 0) == 0  # expired: listed again instead
    popped = set()
    while (key := controller.queue.pop(clock.now())) is not None:
        popped.add(key)
        controller.queue.done(key)
    assert {base.Key("Service", "default", f"svc-{i}") for i in range(10)} <= popped
    store.create(make_service("later"))
    assert controller.pump("Service", 0) == 1  # watching again from the relist
