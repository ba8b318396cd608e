"""The emulator's Deployment controller (`kubeemu/deployments.py`): statuses and pods
as a cluster makes them, and the failure modes a test picks."""

from __future__ import annotations

import time
from typing import Any

import kubeemu
import pytest
from kubeemu import rawclient

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


def a_deployment(name: str, *, replicas: int = 2, deadline: int = 600) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "progressDeadlineSeconds": deadline,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "registry.example/web:nope"}]},
            },
        },
    }


def create(emu: kubeemu.Emulator, body: dict[str, Any]) -> None:
    answer = rawclient.call(emu.url, "POST", DEPLOYMENTS, body=body)
    assert answer.status == 201, answer.body


def wait_status(emu: kubeemu.Emulator, name: str, check: Any, timeout: float = 5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        dep = emu.get_object("apps", "v1", "deployments", "default", name)
        status = (dep or {}).get("status") or {}
        if check(status):
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {name} status {status}")
        time.sleep(0.02)


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status.get("conditions") or []}


def test_nothing_is_written_until_started(emulator: kubeemu.Emulator) -> None:
    create(emulator, a_deployment("web"))
    time.sleep(0.1)
    dep = emulator.get_object("apps", "v1", "deployments", "default", "web")
    assert dep is not None
    assert dep.get("status", {}).get("observedGeneration") is None


def test_a_deployment_becomes_available_after_the_delay(
    emulator: kubeemu.Emulator,
) -> None:
    emulator.deployments.start(ready_after=0.3)
    started = time.monotonic()
    create(emulator, a_deployment("web"))
    starting = wait_status(emulator, "web", lambda s: s.get("observedGeneration") == 1)
    assert starting.get("availableReplicas") is None  # omitempty, as the apiserver
    assert conditions(starting)["Progressing"]["reason"] == "ReplicaSetUpdated"
    ready = wait_status(emulator, "web", lambda s: s.get("availableReplicas") == 2)
    assert time.monotonic() - started >= 0.3
    assert (ready["replicas"], ready["updatedReplicas"], ready["readyReplicas"]) == (2, 2, 2)
    assert conditions(ready)["Available"]["status"] == "True"
    assert conditions(ready)["Progressing"]["reason"] == "NewReplicaSetAvailable"

    # scaled to zero: no pods, available at once
    patch = rawclient.call(
        emulator.url,
        "PATCH",
        f"{DEPLOYMENTS}/web",
        body={"spec": {"replicas": 0}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert patch.status == 200, patch.body
    zero = wait_status(emulator, "web", lambda s: s.get("observedGeneration") == 2)
    assert "replicas" not in zero
    assert conditions(zero)["Available"]["status"] == "True"


@pytest.mark.parametrize("mode", ["image-pull", "progress-deadline", "hold"])
def test_a_deployment_that_never_becomes_available_exceeds_its_deadline(
    emulator: kubeemu.Emulator, mode: str
) -> None:
    emulator.deployments.start(time_scale=0.1)  # 3 s of deadline: 0.3 s
    emulator.deployments.fail(mode, name="web")
    create(emulator, a_deployment("web", deadline=3))
    progressing = wait_status(emulator, "web", lambda s: s.get("replicas") == 2)
    assert conditions(progressing)["Progressing"]["status"] == "True"
    assert conditions(progressing)["Available"]["reason"] == "MinimumReplicasUnavailable"
    assert progressing["unavailableReplicas"] == 2
    failed = wait_status(
        emulator, "web", lambda s: conditions(s).get("Progressing", {}).get("status") == "False"
    )
    assert conditions(failed)["Progressing"]["reason"] == "ProgressDeadlineExceeded"
    assert conditions(failed)["Progressing"]["message"].endswith("has timed out progressing.")

    emulator.deployments.heal(name="web")
    wait_status(emulator, "web", lambda s: s.get("availableReplicas") == 2)


def test_pod_security_refuses_the_pods(emulator: kubeemu.Emulator) -> None:
    emulator.deployments.start()
    emulator.deployments.fail("pod-security", selector="app in (web)")
    create(emulator, a_deployment("web"))
    refused = wait_status(emulator, "web", lambda s: "ReplicaFailure" in conditions(s))
    failure = conditions(refused)["ReplicaFailure"]
    assert (failure["status"], failure["reason"]) == ("True", "FailedCreate")
    assert failure["message"].startswith('pods "web-')
    assert 'is forbidden: violates PodSecurity "restricted:latest": ' in failure["message"]
    assert "replicas" not in refused
    assert refused["unavailableReplicas"] == 2
    with pytest.raises(ValueError, match="unknown mode"):
        emulator.deployments.fail("nope", name="web")
