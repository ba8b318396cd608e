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


EVENT = """\
apiVersion: v1
kind: Event
metadata: {{name: {name}, namespace: default}}
involvedObject: {{apiVersion: {api}, kind: {kind}, name: {object}, namespace: default}}
reason: {reason}
message: {reason} of {object}
type: {type}
eventTime: "{at}"
reportingComponent: rollout-controller
reportingInstance: rollout-controller
action: Reconcile
"""


def test_events_lists_the_event_objects_about_our_kinds(cluster: Cluster, kubectl: Any) -> None:
    """`rollout events web --backend kubernetes`: the core/v1 Events about web and its
    children, oldest first; not those about other kinds (a Pod of the same name)."""
    c = cluster
    at = datetime.now(UTC) - timedelta(seconds=30)
    for i, (api, kind, name, reason, type_) in enumerate(
        [
            ("rollout.dev/v1alpha1", "Service", "web", "RevisionCreated", "Normal"),
            ("rollout.dev/v1alpha1", "Revision", "web-00001", "CrashLoop", "Warning"),
            ("v1", "Pod", "web", "Pulled", "Normal"),
        ]
    ):
        text = EVENT.format(
            name=f"e{i}",
            api=api,
            kind=kind,
            object=name,
            reason=reason,
            type=type_,
            at=(at + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        )
        made = kubectl(c.kubeconfig, "apply", "--validate=false", "-f", "-", stdin=text)
        assert made.returncode == 0, made.stderr
    result = rollout(c.kubeconfig, "events", "web", "-o", "json")
    assert result.returncode == 0, result.stderr
    found = [(e["kind"], e["name"], e["reason"], e["warning"]) for e in json.loads(result.stdout)]
    assert found == [
        ("Service", "web", "RevisionCreated", False),
        ("Revision", "web-00001", "CrashLoop", True),
    ]
