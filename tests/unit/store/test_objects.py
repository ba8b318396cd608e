"""The write rules of `rollout.store.objects`, which work on stored JSON: what they
write loads back as the object the rules describe, for a release in full flight
(history, analysis, weights, times and durations)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollout import clock as clocks
from rollout.api import documents, kinds, release
from rollout.controller import manager
from rollout.platforms import memory as memory_platform
from rollout.store import errors, memory, objects

POLICY = {
    "apiVersion": "rollout.dev/v1alpha1",
    "kind": "RolloutPolicy",
    "metadata": {"name": "canary"},
    "spec": {
        "steps": [{"setWeight": 10}, {"analysis": {"duration": "1m"}}, {"setWeight": 50}],
        "analysis": {
            "interval": "15s",
            "metrics": [
                {
                    "name": "error-rate",
                    "provider": {"local": {"stat": "error_rate"}},
                    "thresholds": {"max": 0.01},
                }
            ],
        },
    },
}


def service(version: str) -> dict[str, Any]:
    return {
        "apiVersion": "rollout.dev/v1alpha1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {
            "policy": "canary",
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "command": ["app"],
                            "env": [{"name": "V", "value": version}],
                        }
                    ]
                }
            },
        },
    }


def load(data: dict[str, Any]) -> kinds.Resource:
    obj, problems = documents.validate_data(data)
    assert obj is not None, problems
    return obj


@pytest.fixture(scope="module")
def flight() -> release.Release:
    """A release 40 s into its analysis step, stored by a real controller."""
    clock = clocks.FakeClock(datetime(2030, 1, 1, tzinfo=UTC))
    store = memory.MemoryStore(now=clock.now)
    controller = manager.Controller(store, memory_platform.make(clock), clock)
    store.create(load(POLICY))
    store.create(load(service("v1")))
    for _ in range(5):
        controller.run_until_idle()
        clock.advance(timedelta(seconds=1))
    current = store.get("Service", "default", "web")
    store.update(load(service("v2")).model_copy(update={"metadata": current.metadata}))
    for _ in range(45):
        controller.run_until_idle()
        clock.advance(timedelta(seconds=1))
    (rel,) = store.list("Release").items
    assert isinstance(rel, release.Release)
    assert rel.status.history
    assert rel.status.analysis
    return rel


def test_status_updated_writes_the_new_status_and_nothing_else(flight: release.Release) -> None:
    """Identity, metadata and spec stay; the status is the one given; the new version."""
    status = flight.status.model_copy(update={"message": "changed", "step_index": 2})
    written = objects.status_updated(
        objects.dumps(flight),
        flight.model_copy(update={"status": status, "spec": flight.spec.model_copy()}),
        resource_version="99",
    )
    meta = flight.metadata.model_copy(update={"resource_version": "99"})
    assert objects.loads("Release", written) == flight.model_copy(
        update={"metadata": meta, "status": status}
    )


@pytest.mark.parametrize("spec_changes", [False, True], ids=["same-spec", "spec-changed"])
def test_updated_writes_metadata_and_spec_over_the_stored_status(
    flight: release.Release, spec_changes: bool
) -> None:
    """Labels and spec from the object given; identity and status from the stored one;
    the generation moves only with the spec."""
    spec = flight.spec.model_copy(update={"paused": True}) if spec_changes else flight.spec
    given = flight.model_copy(
        update={
            "metadata": flight.metadata.model_copy(
                update={"labels": {"x": "y"}, "uid": "forged", "generation": 7}
            ),
            "spec": spec,
            "status": release.ReleaseStatus(message="ignored"),
        }
    )
    written = objects.loads(
        "Release", objects.updated(objects.dumps(flight), given, resource_version="99")
    )
    generation = (flight.metadata.generation or 1) + spec_changes
    assert written == flight.model_copy(
        update={
            "metadata": flight.metadata.model_copy(
                update={"labels": {"x": "y"}, "resource_version": "99", "generation": generation}
            ),
            "spec": spec,
        }
    )


@pytest.mark.parametrize("rule", [objects.updated, objects.status_updated])
def test_a_stale_resource_version_is_a_conflict(flight: release.Release, rule: Any) -> None:
    """Both rules refuse an object read before the stored version."""
    stale = flight.model_copy(
        update={"metadata": flight.metadata.model_copy(update={"resource_version": "1"})}
    )
    with pytest.raises(errors.Conflict):
        rule(objects.dumps(flight), stale, resource_version="99")
