"""The pure decisions about an adopted Deployment (`spec.workloadRef`): the template
and scaling its revisions get, how far the original is scaled per `scaleDown`, what
giving it back takes — and that the plan makes revisions from the resolved template."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from rollout.api import route, service, split, workload
from rollout.platforms import ports
from rollout.reconcilers.service import adoption
from rollout.reconcilers.service import plan as planning

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def deployment_template(image: str = "web:v1") -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": image}]},
    }


def wl(
    *, replicas: int = 3, original: int | None = None, available: int = 0, image: str = "web:v1"
) -> ports.Workload:
    return ports.Workload(
        name="web-app",
        template=deployment_template(image),
        replicas=replicas,
        available_replicas=available,
        original_replicas=original,
        adopted_by="web" if original is not None else None,
    )


# ---- resolve ------------------------------------------------------------------------


def test_the_template_is_the_deployments_and_its_replicas_the_scaling() -> None:
    """Revisions get the Deployment's pod template and, without spec.scaling, its replicas."""
    got = adoption.resolve(wl(replicas=3), None)
    assert got.template == workload.PodTemplate.model_validate(deployment_template())
    assert got.scaling == workload.Scaling(min_replicas=3)
    assert got.problem == ""


@pytest.mark.parametrize(
    ("workload_", "scaling", "replicas"),
    [
        pytest.param(wl(replicas=0, original=3), None, 3, id="scaled-down-uses-the-recorded-count"),
        pytest.param(wl(replicas=0), None, 1, id="adopted-at-zero-runs-one"),
        pytest.param(wl(replicas=3), workload.Scaling(min_replicas=5), 5, id="spec-scaling-wins"),
    ],
)
def test_the_scaling_of_revisions(
    workload_: ports.Workload, scaling: workload.Scaling | None, replicas: int
) -> None:
    """The recorded count (not the scaled-down one), at least 1; spec.scaling wins."""
    got = adoption.resolve(workload_, scaling)
    assert got.scaling is not None
    assert got.scaling.min_replicas == replicas


def test_a_template_that_cannot_run_is_a_problem_naming_the_field() -> None:
    """A pod spec our validation refuses: no template, and why, with the field path."""
    bad = dataclasses.replace(wl(), template={"spec": {"containers": [{"name": "app"}]}})
    got = adoption.resolve(bad, None)
    assert got.template is None
    assert got.problem.startswith("the pod template of Deployment web-app cannot be run: spec")


# ---- original_target ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "served", "ready", "target"),
    [
        pytest.param("never", False, 0, None, id="never-before"),
        pytest.param("never", True, 3, None, id="never-after"),
        pytest.param("onsuccess", False, 3, None, id="onsuccess-ready-not-serving"),
        pytest.param("onsuccess", True, 3, 0, id="onsuccess-serving"),
        pytest.param("progressively", False, 0, 3, id="progressively-none-ready"),
        pytest.param("progressively", False, 2, 1, id="progressively-two-ready"),
        pytest.param("progressively", False, 5, 0, id="progressively-more-ready-than-original"),
        pytest.param("progressively", True, 1, 0, id="progressively-serving"),
    ],
)
def test_the_original_is_scaled_as_its_mode_says(
    mode: Any, served: bool, ready: int, target: int | None
) -> None:
    """never: untouched; onsuccess: 0 once served; progressively: original − ready,
    then 0 once served."""
    assert adoption.original_target(mode, 3, served=served, ready_replicas=ready) == target


def applied(*targets: tuple[str, int]) -> route.Route:
    rt = route.Route.model_validate(
        {"metadata": {"name": "web"}, "spec": {"service": "web", "traffic": []}}
    )
    rt.status.traffic = [split.TrafficStatus(revision_name=n, percent=p) for n, p in targets]
    return rt


@pytest.mark.parametrize(
    ("stable", "rt", "serves"),
    [
        pytest.param(None, applied(("web-00001", 100)), False, id="no-stable"),
        pytest.param("web-00001", None, False, id="no-route"),
        pytest.param("web-00001", applied(), False, id="nothing-applied"),
        pytest.param("web-00001", applied(("web-00001", 100)), True, id="all-applied"),
        pytest.param(
            "web-00001", applied(("web-00001", 80), ("web-00002", 20)), True, id="a-release"
        ),
    ],
)
def test_the_first_revision_serves_once_the_route_carries_all_traffic(
    stable: str | None, rt: route.Route | None, serves: bool
) -> None:
    assert adoption.serving(stable, rt) is serves


# ---- restore_steps --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("adopted", "waited", "expected"),
    [
        pytest.param([], False, adoption.Restore(done=True), id="nothing-adopted"),
        pytest.param(
            [wl(replicas=0, original=3)],
            False,
            adoption.Restore(scale=(("web-app", 3),)),
            id="scaled-down-is-scaled-back",
        ),
        pytest.param(
            [wl(replicas=3, original=3, available=1)],
            False,
            adoption.Restore(),
            id="waits-for-its-pods",
        ),
        pytest.param(
            [wl(replicas=5, original=3, available=5)],
            False,
            adoption.Restore(release=("web-app",), done=True),
            id="scaled-up-by-hand-is-not-lowered",
        ),
        pytest.param(
            [wl(replicas=3, original=3, available=1)],
            True,
            adoption.Restore(release=("web-app",), done=True),
            id="not-past-the-deadline",
        ),
        pytest.param(
            [wl(replicas=3, original=3, available=3)],
            False,
            adoption.Restore(release=("web-app",), done=True),
            id="available-is-given-back",
        ),
    ],
)
def test_giving_back(
    adopted: list[ports.Workload], waited: bool, expected: adoption.Restore
) -> None:
    """Scale back to the recorded count, give back once available (or the deadline passed)."""
    assert adoption.restore_steps(adopted, waited_enough=waited) == expected


# ---- the plan with a resolved template ----------------------------------------------------


def adopting_service() -> service.Service:
    return service.Service.model_validate(
        {
            "metadata": {"name": "web", "namespace": "prod", "uid": "u-web", "generation": 1},
            "spec": {"workloadRef": {"name": "web-app"}},
        }
    )


def test_the_plan_makes_the_first_revision_from_the_resolved_template() -> None:
    resolved = adoption.resolve(wl(), None)
    assert resolved.template is not None
    observed = planning.Observed(
        service=adopting_service(),
        revisions=[],
        releases=[],
        route=None,
        policy=None,
        workload=(resolved.template, resolved.scaling),
    )
    decided = planning.plan(observed, T0)
    assert decided.new_revision is not None
    assert decided.new_revision.spec.template == resolved.template
    assert decided.new_revision.spec.scaling == workload.Scaling(min_replicas=3)


def test_a_changed_deployment_template_makes_the_next_revision() -> None:
    """The same template: no new revision; a new image on the Deployment: the next one."""
    first = adoption.resolve(wl(), None)
    assert first.template is not None
    observed = planning.Observed(
        service=adopting_service(),
        revisions=[],
        releases=[],
        route=None,
        policy=None,
        workload=(first.template, first.scaling),
    )
    made = planning.plan(observed, T0).new_revision
    assert made is not None
    made = made.model_copy(update={"metadata": made.metadata.model_copy(update={"uid": "r1"})})
    same = planning.plan(dataclasses.replace(observed, revisions=[made]), T0)
    assert same.new_revision is None
    second = adoption.resolve(wl(image="web:v2", original=3, replicas=0), None)
    assert second.template is not None
    changed = dataclasses.replace(
        observed, revisions=[made], workload=(second.template, second.scaling)
    )
    decided = planning.plan(changed, T0)
    assert decided.new_revision is not None
    assert decided.new_revision.metadata.name == "web-00002"
