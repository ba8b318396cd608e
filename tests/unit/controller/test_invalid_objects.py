"""The controller and stored objects that do not decode (`rollout.controller.invalid`):
every other object of the kind reconciles; the bad one gets `Ready=False,
reason=InvalidSpec` with `rollout validate`'s message once per generation (not again
on its own status event, a relist or a second look), a Warning Event and the
`rollout_invalid_objects` gauge; fixed, it reconciles normally. Memory store and
platform, fake clock."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from rollout import clock as clocks
from rollout.api import condition, rolloutpolicy, route, service, split
from rollout.controller import invalid, manager
from rollout.platforms import memory
from rollout.reconcilers import base
from rollout.store import errors, objects, port
from rollout.store import memory as memory_store

MESSAGE = "spec.traffic: percents must sum to 100 (they sum to 140)"


class Env:
    def __init__(self) -> None:
        self.clock = clocks.FakeClock()
        self.store = memory_store.MemoryStore(now=self.clock.now)
        self.platform = memory.make(self.clock, ready_after=timedelta(0))
        self.controller = manager.Controller(self.store, self.platform, self.clock)

    def plant(self, kind: str, name: str, change: dict[str, object]) -> None:
        """Overwrite an object's stored spec fields behind the store's back."""
        data = json.loads(objects.dumps(self.store.get(kind, "default", name)))
        data["spec"].update(change)
        self.put(data)

    def put(self, data: dict[str, Any]) -> None:
        """Store `data` as it is, with a new resourceVersion and its watch event."""
        key = (data["kind"], "default", data["metadata"]["name"])
        with self.store._lock:
            data["metadata"]["resourceVersion"] = str(self.store._rv + 1)
            self.store._put(key, json.dumps(data), port.EventType.MODIFIED, None)

    def bad(self, kind: str, name: str) -> port.InvalidObject:
        with pytest.raises(errors.Undecodable) as raised:
            self.store.get(kind, "default", name)
        return raised.value.object

    def gauge(self, kind: str) -> float | None:
        registry = self.controller.metrics.registry
        return registry.get_sample_value("rollout_invalid_objects", {"kind": kind})

    def events(self, name: str) -> list[str]:
        events = self.platform.events
        assert isinstance(events, memory.MemoryEvents)
        return [e.reason for e in events.events if e.name == name and e.warning]


def make_service(name: str, policy: str | None = None, command: str = "app") -> service.Service:
    return service.Service.model_validate(
        {
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "policy": policy,
                "template": {"spec": {"containers": [{"name": "app", "command": [command]}]}},
            },
        }
    )


def a_route(name: str) -> route.Route:
    target = split.TrafficTarget(revision_name=f"{name}-00001", percent=100)
    return route.Route(
        metadata={"name": name, "namespace": "default"},  # type: ignore[arg-type]
        spec=route.RouteSpec(service=name, traffic=[target]),
    )


@pytest.fixture
def env() -> Env:
    return Env()


def test_a_bad_route_is_marked_once_and_the_rest_reconciles(env: Env) -> None:
    """At start: the Service deploys, the bad Route is marked once (its status event,
    a relist and a restart write nothing more), with one Event; fixed, it reconciles
    normally and InvalidSpec is gone."""
    env.store.create(a_route("odd"))
    env.plant("Route", "odd", {"traffic": [{"revisionName": "odd-00001", "percent": 70}] * 2})
    env.store.create(make_service("web"))
    env.controller.run_until_idle()
    web = env.store.get("Service", "default", "web")
    assert isinstance(web, service.Service)
    assert web.status.latest_created_revision == "web-00001"
    bad = env.bad("Route", "odd")
    ready = invalid._stored_ready(bad.status)
    assert ready is not None
    assert (ready.status, ready.reason, ready.message) == (
        condition.ConditionStatus.FALSE,
        condition.INVALID_SPEC,
        MESSAGE,
    )
    assert ready.observed_generation == bad.metadata.generation
    assert env.events("odd") == ["InvalidSpec"]
    assert env.gauge("Route") == 1
    marked = bad.metadata.resource_version
    env.controller.list_all()  # a relist (a watch expired) looks again: nothing to write
    env.controller.run_until_idle()
    again = manager.Controller(env.store, env.platform, env.clock)  # a restart
    again.run_until_idle()
    assert env.bad("Route", "odd").metadata.resource_version == marked
    assert env.events("odd") == ["InvalidSpec"]

    fixed = a_route("odd").model_copy(update={"metadata": bad.metadata})
    env.store.update(fixed)
    env.controller.run_until_idle()
    rt = env.store.get("Route", "default", "odd")
    assert isinstance(rt, route.Route)
    ready = rt.status.ready_condition()
    assert ready is not None
    assert ready.reason != condition.INVALID_SPEC
    assert ready.observed_generation == rt.metadata.generation == 2
    assert env.gauge("Route") == 0


def test_a_bad_object_arriving_by_watch_is_marked(env: Env) -> None:
    """A Service made invalid after start is marked at its new generation, and marked
    again when it changes while still invalid (a new generation, a new message)."""
    env.store.create(make_service("web"))
    env.controller.run_until_idle()
    data = json.loads(objects.dumps(env.store.get("Service", "default", "web")))
    data["spec"]["template"]["spec"]["containers"] = []
    data["metadata"]["generation"] = 2  # a new spec, as an update would make it
    env.put(data)
    env.controller.run_until_idle()
    bad = env.bad("Service", "web")
    ready = invalid._stored_ready(bad.status)
    assert ready is not None
    assert (ready.reason, ready.observed_generation) == (condition.INVALID_SPEC, 2)
    assert "spec.template.spec.containers" in ready.message
    assert bad.status.get("latestCreatedRevision") == "web-00001"  # the rest kept
    assert env.events("web") == ["InvalidSpec"]
    assert env.gauge("Service") == 1


def test_a_bad_policy_gets_an_event_and_its_services_say_why(env: Env) -> None:
    """A RolloutPolicy has no status: one Event per generation; the Service naming it
    fails with the policy's message on its ReconcileError condition."""
    policy = {
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"steps": [{"setWeight": 50}]},
    }
    env.store.create(rolloutpolicy.RolloutPolicy.model_validate(policy))
    env.plant("RolloutPolicy", "p", {"steps": [{"setWeight": 50}, {"setWeight": 20}]})
    env.store.create(make_service("web", policy="p"))
    env.controller.run_until_idle()
    env.controller.list_all()
    env.controller.run_until_idle()
    assert env.events("p") == ["InvalidSpec"]
    assert env.gauge("RolloutPolicy") == 1
    web = env.store.get("Service", "default", "web")
    assert isinstance(web, service.Service)
    v2 = make_service("web", policy="p", command="app-v2")
    env.store.update(v2.model_copy(update={"metadata": web.metadata}))  # a release reads p
    env.controller.run_until_idle()
    web = env.store.get("Service", "default", "web")
    assert isinstance(web, service.Service)
    error = condition.get_condition(web.status.conditions, base.ERROR_CONDITION)
    assert error is not None
    assert error.message.startswith("RolloutPolicy default/p is not valid: spec.steps")
