"""`rollout validate` refuses a Route whose request rules its router cannot express,
at the rules' line, with the router's reason (`loader.route_rule_problems`)."""

from __future__ import annotations

import pathlib

import pytest
from click.testing import CliRunner

from rollout.cli import main

ROUTE = """\
apiVersion: rollout.dev/v1alpha1
kind: Route
metadata:
  name: web
spec:
  service: web
  traffic:
  - {{revisionName: web-00001, percent: {stable}, tag: stable}}
  - {{revisionName: web-00002, percent: {canary}, tag: canary}}
  routing: {{router: {router}}}
  mirrors:
  - name: shadow
    percent: 20
    revisionName: web-00002
"""


@pytest.mark.parametrize("router", ["istio", "gateway-api"])
def test_a_mirror_to_a_revision_with_weight_is_refused(tmp_path: pathlib.Path, router: str) -> None:
    """Both routers would copy what the weights send to the canary: exit 2, the reason."""
    path = tmp_path / "route.yaml"
    path.write_text(ROUTE.format(stable=90, canary=10, router=router), encoding="utf-8")
    result = CliRunner().invoke(main.cli, ["validate", "-f", str(path)])
    assert result.exit_code == 2
    assert f"route.yaml:11: spec: {router}: mirror 'shadow' copies requests to web-00002" in (
        result.stderr
    )
    assert "which also gets weight" in result.stderr


def test_the_mirror_at_weight_zero_is_valid(tmp_path: pathlib.Path) -> None:
    """Shadowing a canary that serves nobody is what the data planes do: valid."""
    path = tmp_path / "route.yaml"
    path.write_text(ROUTE.format(stable=100, canary=0, router="gateway-api"), encoding="utf-8")
    result = CliRunner().invoke(main.cli, ["validate", "-f", str(path)])
    assert result.exit_code == 0, result.stderr
    assert "1 resource(s) valid" in result.output
