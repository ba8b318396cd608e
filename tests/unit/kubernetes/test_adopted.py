"""A stored Deployment as the Workloads port reads it (`adopted.workload_of`), and the
patches that adopt, scale and give it back."""

from __future__ import annotations

from typing import Any

import pytest

from rollout.api import names
from rollout.platforms.kubernetes import adopted


def stored(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {"name": "web-app", "namespace": "prod", "generation": 4},
        "spec": {
            "replicas": 3,
            "template": {
                "metadata": {
                    "labels": {"app": "web", "pod-template-hash": "5d9f8c7b6"},
                    "annotations": {"prometheus.io/scrape": "true"},
                    "creationTimestamp": None,
                },
                "spec": {"containers": [{"name": "app", "image": "web:v1"}]},
            },
        },
        "status": {"observedGeneration": 4, "availableReplicas": 3},
    }
    for key, value in changes.items():
        body[key] = {**body[key], **value}
    return body


def test_the_pod_template_without_the_deployment_controllers_label() -> None:
    """Labels without pod-template-hash, annotations kept, other pod metadata dropped."""
    got = adopted.workload_of(stored())
    assert got.name == "web-app"
    assert got.template == {
        "metadata": {"labels": {"app": "web"}, "annotations": {"prometheus.io/scrape": "true"}},
        "spec": {"containers": [{"name": "app", "image": "web:v1"}]},
    }
    assert (got.replicas, got.available_replicas) == (3, 3)
    assert (got.original_replicas, got.adopted_by) == (None, None)


@pytest.mark.parametrize(
    ("changes", "field", "value"),
    [
        pytest.param(
            {"status": {"observedGeneration": 3}}, "available_replicas", 0, id="unobserved"
        ),
        pytest.param({"spec": {"replicas": None}}, "replicas", 1, id="replicas-default-1"),
        pytest.param(
            {
                "metadata": {
                    "name": "web-app",
                    "labels": {names.ADOPTED_BY_LABEL: "web"},
                    "annotations": {names.ORIGINAL_REPLICAS_ANNOTATION: "5"},
                }
            },
            "original_replicas",
            5,
            id="adoption-recorded",
        ),
        pytest.param(
            {
                "metadata": {
                    "name": "web-app",
                    "annotations": {names.ORIGINAL_REPLICAS_ANNOTATION: "x"},
                }
            },
            "original_replicas",
            None,
            id="record-unreadable",
        ),
    ],
)
def test_what_is_read(changes: dict[str, Any], field: str, value: Any) -> None:
    assert getattr(adopted.workload_of(stored(**changes)), field) == value


def test_the_patches() -> None:
    """Adoption on the Deployment's own metadata (no pod restarts); release deletes it."""
    assert adopted.adopt_patch("web", 3) == {
        "metadata": {
            "labels": {"rollout.dev/adopted-by": "web"},
            "annotations": {"rollout.dev/original-replicas": "3"},
        }
    }
    assert adopted.scale_patch(0) == {"spec": {"replicas": 0}}
    assert adopted.release_patch() == {
        "metadata": {
            "labels": {"rollout.dev/adopted-by": None},
            "annotations": {"rollout.dev/original-replicas": None},
        }
    }
