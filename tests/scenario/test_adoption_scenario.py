"""`spec.workloadRef` through the real controller and reconcilers on the memory store:
a platform without Deployments refuses it with a condition; with a Workloads port
(a fake one here; Kubernetes' is tested on the emulator), the Deployment is adopted,
released on change, scaled per mode, and given back when the Service is deleted."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from rollout.api import names
from rollout.platforms import ports
from rollout.reconcilers import base
from rollout.store import errors


class FakeWorkloads:
    """Deployments as the Workloads port sees them, in memory."""

    def __init__(self) -> None:
        self.items: dict[str, ports.Workload] = {}
        self.scaled: list[tuple[str, int]] = []

    def put(self, name: str, image: str, replicas: int = 3) -> None:
        current = self.items.get(name)
        template = {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": image, "command": ["app"]}]},
        }
        if current is None:
            self.items[name] = ports.Workload(name, template, replicas, available_replicas=replicas)
        else:
            self.items[name] = dataclasses.replace(current, template=template)

    def read(self, namespace: str, name: str) -> ports.Workload | None:
        return self.items.get(name)

    def adopted(self, namespace: str, service: str) -> list[ports.Workload]:
        return [w for w in self.items.values() if w.adopted_by == service]

    def adopt(self, namespace: str, name: str, *, service: str, original_replicas: int) -> None:
        self.items[name] = dataclasses.replace(
            self.items[name], adopted_by=service, original_replicas=original_replicas
        )

    def scale(self, namespace: str, name: str, replicas: int) -> None:
        self.scaled.append((name, replicas))
        self.items[name] = dataclasses.replace(
            self.items[name], replicas=replicas, available_replicas=replicas
        )

    def release(self, namespace: str, name: str) -> None:
        self.items[name] = dataclasses.replace(
            self.items[name], adopted_by=None, original_replicas=None
        )


def adopting(env: Any, scale_down: str = "onsuccess", **spec: Any) -> dict[str, Any]:
    data = env.service()
    del data["spec"]["template"]
    data["spec"]["workloadRef"] = {"name": "web-app", "scaleDown": scale_down, **spec}
    return data


def ready_condition(env: Any) -> tuple[str, str]:
    svc = env.get_service()
    ready = svc.status.ready_condition()
    assert ready is not None
    return ready.reason, ready.message


def test_a_platform_without_deployments_refuses_a_workload_ref(env: Any) -> None:
    """The local (here: memory) platform says WorkloadRefUnsupported and makes nothing."""
    env.apply(adopting(env))
    env.advance(1)
    reason, message = ready_condition(env)
    assert reason == "WorkloadRefUnsupported"
    assert "has no Deployments to adopt" in message
    assert env.revisions() == []
    assert env.get_service().metadata.finalizers == []


@pytest.fixture
def fake(env: Any) -> FakeWorkloads:
    workloads = FakeWorkloads()
    platform = dataclasses.replace(env.platform, workloads=workloads)
    env.platform = platform
    env.controller.ctx.platform = platform
    return workloads


@pytest.mark.parametrize(("mode", "scaled"), [("onsuccess", 0), ("progressively", 0), ("never", 3)])
def test_adopt_release_scale_and_give_back(
    env: Any, fake: FakeWorkloads, mode: str, scaled: int
) -> None:
    """Adopted with its replicas recorded, scaled per mode, a template change released,
    and on deletion scaled back and given back before the finalizer goes."""
    fake.put("web-app", "web:v1")
    env.apply(env.policy("canary-fast"))
    data = adopting(env, mode)
    data["spec"]["policy"] = "canary-fast"
    env.apply(data)
    env.until(lambda: env.get_service().status.stable_revision == "web-00001", within=30)
    env.advance(2)
    assert env.get_service().metadata.finalizers == [names.WORKLOAD_FINALIZER]
    assert fake.items["web-app"].adopted_by == "web"
    assert fake.items["web-app"].original_replicas == 3
    assert fake.items["web-app"].replicas == scaled
    # a new image on the Deployment: the next revision and a release
    fake.put("web-app", "web:v2")
    env.controller.wake(base.Key("Service", "default", "web"))  # what the watch does
    env.advance(1)
    assert env.revisions() == ["web-00001", "web-00002"]
    assert [r.metadata.name for r in env.releases()] == ["web-00002"]
    # deletion: the finalizer holds the Service until the original is back
    env.store.delete("Service", "default", "web")  # marked: the finalizer holds it
    assert env.get_service().metadata.deletion_timestamp is not None
    env.advance(5)
    assert fake.items["web-app"].replicas == 3
    assert fake.items["web-app"].adopted_by is None
    with pytest.raises(errors.NotFound):  # the finalizer removed: the deletion happened
        env.get_service()


def test_a_service_that_stops_naming_a_deployment_gives_it_back(
    env: Any, fake: FakeWorkloads
) -> None:
    """workloadRef replaced by a template: the original is scaled back and given back,
    the finalizer goes, and the template's revision follows."""
    fake.put("web-app", "web:v1")
    env.apply(adopting(env))
    env.until(lambda: fake.items["web-app"].replicas == 0, within=30)
    env.apply(env.service(version="v9"))
    env.advance(5)
    assert fake.items["web-app"].replicas == 3
    assert fake.items["web-app"].adopted_by is None
    assert env.get_service().metadata.finalizers == []
    assert env.revisions() == ["web-00001", "web-00002"]
