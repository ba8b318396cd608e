"""A write is no news to its writer: the event of an object a reconcile wrote does not
queue the key whose reconcile wrote it; the same change made by anyone else does."""

from __future__ import annotations

from rollout import clock as clocks
from rollout.api import names, revision, service
from rollout.controller import manager
from rollout.platforms import memory as memory_platform
from rollout.reconcilers import base
from rollout.store import memory

WEB = base.Key("Service", "default", "web")


def a_service() -> service.Service:
    return service.Service.model_validate(
        {
            "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "command": ["app"]}]}}},
        }
    )


def queued_after(controller: manager.Controller, clock: clocks.FakeClock) -> list[base.Key]:
    """Deliver every event, then empty the queue of what is due: the keys it held."""
    for kind in manager.KINDS:
        controller.pump(kind, 0)
    keys = []
    while (key := controller.queue.pop(clock.now())) is not None:
        assert isinstance(key, base.Key)
        keys.append(key)
        controller.queue.done(key)
    return keys


def test_a_service_is_not_woken_by_the_children_it_created() -> None:
    """The Service's first reconcile creates its Revision and Route: their creation
    queues them, not the Service again."""
    clock = clocks.FakeClock()
    store = memory.MemoryStore(now=clock.now)
    controller = manager.Controller(store, memory_platform.make(clock), clock)
    store.create(a_service())
    controller.list_all()
    assert controller.queue.pop(clock.now()) == WEB
    controller.process(WEB)
    assert sorted(queued_after(controller, clock)) == [
        base.Key("Revision", "default", "web-00001"),
        base.Key("Route", "default", "web"),
    ]


def test_a_child_created_by_someone_else_wakes_the_service() -> None:
    """The same creation, made outside the Service's reconcile, queues the Service."""
    clock = clocks.FakeClock()
    store = memory.MemoryStore(now=clock.now)
    controller = manager.Controller(store, memory_platform.make(clock), clock)
    svc = store.create(a_service())
    controller.list_all()
    queued_after(controller, clock)
    assert isinstance(svc, service.Service)
    rev = revision.Revision.model_validate(
        {
            "metadata": {"name": "web-00001", "labels": {names.SERVICE_LABEL: "web"}},
            "spec": {"service": "web", "template": svc.spec.template.model_dump()},
        }
    )
    store.create(rev)
    assert WEB in queued_after(controller, clock)
