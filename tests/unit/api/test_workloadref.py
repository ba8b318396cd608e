"""`spec.workloadRef`: exactly one of it and `spec.template`, its fields checked, and
`rollout validate` accepts it (a Kubernetes feature, checked offline like the rest)."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
from click.testing import CliRunner

from rollout.api import service, workloadref
from rollout.cli import main


def svc(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web"}, "spec": spec}


TEMPLATE = {"spec": {"containers": [{"name": "app", "image": "web:v1"}]}}


def messages(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(pydantic.ValidationError) as caught:
        service.Service.model_validate(data)
    return [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in caught.value.errors()]


def test_a_workload_ref_alone_is_valid_with_its_defaults() -> None:
    got = service.Service.model_validate(svc(workloadRef={"name": "web-app"}))
    assert got.spec.workload_ref == workloadref.WorkloadRef(name="web-app")
    assert got.spec.workload_ref.scale_down == "onsuccess"
    assert got.spec.workload_ref.api_version == "apps/v1"
    assert got.spec.template is None


@pytest.mark.parametrize(
    ("spec", "where", "says"),
    [
        pytest.param({}, "spec.template", "or spec.workloadRef", id="neither"),
        pytest.param(
            {"template": TEMPLATE, "workloadRef": {"name": "web-app"}},
            "spec.workloadRef",
            "cannot be combined with spec.template",
            id="both",
        ),
        pytest.param(
            {"workloadRef": {"kind": "StatefulSet", "name": "db"}},
            "spec.workloadRef.kind",
            "'Deployment'",
            id="not-a-deployment",
        ),
        pytest.param(
            {"workloadRef": {"name": "web-app", "scaleDown": "later"}},
            "spec.workloadRef.scaleDown",
            "'never', 'onsuccess' or 'progressively'",
            id="unknown-scale-down",
        ),
        pytest.param(
            {"workloadRef": {"name": "Web_App"}},
            "spec.workloadRef.name",
            "not a valid name",
            id="bad-name",
        ),
        pytest.param({"workloadRef": {}}, "spec.workloadRef.name", "required", id="no-name"),
    ],
)
def test_workload_ref_problems(spec: dict[str, Any], where: str, says: str) -> None:
    found = messages(svc(**spec))
    assert any(loc == where and says in msg for loc, msg in found), found


def test_scaling_may_sit_next_to_a_workload_ref() -> None:
    got = service.Service.model_validate(
        svc(workloadRef={"name": "web-app", "scaleDown": "never"}, scaling={"minReplicas": 2})
    )
    assert got.spec.scaling is not None
    assert got.spec.scaling.min_replicas == 2


def test_rollout_validate_accepts_a_workload_ref(tmp_path: Any) -> None:
    """Offline validation accepts it (the local controller is what refuses it)."""
    path = tmp_path / "web.yaml"
    path.write_text(
        "apiVersion: rollout.dev/v1alpha1\nkind: Service\nmetadata: {name: web}\n"
        "spec:\n  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: web-app}\n"
    )
    result = CliRunner().invoke(main.cli, ["validate", "-f", str(path)])
    assert result.exit_code == 0, result.output
    bad = tmp_path / "both.yaml"
    bad.write_text(
        path.read_text() + "  template: {spec: {containers: [{name: app, image: web:v1}]}}\n"
    )
    result = CliRunner().invoke(main.cli, ["validate", "-f", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:5: spec.workloadRef: cannot be combined with spec.template" in result.output
