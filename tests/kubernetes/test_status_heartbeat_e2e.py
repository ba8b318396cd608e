"""`rollout status --backend kubernetes` and the controller's heartbeat (issue 19): the
leader-election Lease's `renewTime`, stale after its `leaseDurationSeconds`, says
whether a controller runs; with no Lease there is nothing to judge by, and nothing is
said."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubecluster import Cluster, rollout, service_yaml

LEASE = """\
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {{name: rollout-controller, namespace: default}}
spec:
  holderIdentity: a
  leaseDurationSeconds: 15
  renewTime: "{renewed}"
"""


def controller_problems(c: Cluster) -> list[dict[str, Any]]:
    result = rollout(c.kubeconfig, "status", "web", "-o", "json")
    assert result.returncode == 0, result.stderr
    return [p for p in json.loads(result.stdout)["problems"] if p["source"] == "controller"]


@pytest.mark.parametrize(
    ("age", "warned"),
    [pytest.param(None, False, id="no-lease"), pytest.param(2, False, id="fresh"),
     pytest.param(60, True, id="stale")],
)  # fmt: skip
def test_status_reads_the_leases_renew_time(
    cluster: Cluster, kubectl: Any, age: float | None, warned: bool
) -> None:
    c = cluster
    c.apply(service_yaml("v1", policy="none"), "v1.yaml")  # no controller runs here
    if age is not None:
        renewed = datetime.now(UTC) - timedelta(seconds=age)
        text = LEASE.format(renewed=renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        applied = kubectl(c.kubeconfig, "apply", "--validate=false", "-f", "-", stdin=text)
        assert applied.returncode == 0, applied.stderr
    found = controller_problems(c)
    if not warned:
        assert found == []
        return
    (problem,) = found
    assert problem["reason"] == "NoController"
    assert problem["message"].startswith("no controller seen for 6")
