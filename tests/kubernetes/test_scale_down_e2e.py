"""Retired revisions scale down on the API emulator (issue 17): the real CLI, a
controller process with the kubernetes platform, Deployments made available as the
Deployment controller would.

An aborted canary's Deployment goes to `replicas: 0` after the service's
`scaleDownDelay` (2 s) and not before; its Revision says `ScaledToZero` with Ready
kept. `rollout retry` scales it up, and no weight reaches it while its pods are not
ready (the test holds them); once they are, the release moves traffic. After the
promotion, the replaced stable goes to 0 in turn.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kubecluster import Cluster, Controller, assert_granted, rollout, service_yaml, wait_for

HOLD = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: hold}
spec:
  steps: [{setWeight: 20}, {pause: {}}]
"""

GROUP, VERSION = "rollout.dev", "v1alpha1"


def with_delay(text: str, delay: str) -> str:
    return text.replace("spec:\n", f"spec:\n  scaleDownDelay: {delay}\n", 1)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def revision_(c: Cluster, name: str) -> dict[str, Any]:
    obj = c.obj(GROUP, VERSION, "revisions", name)
    assert obj is not None
    return obj


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == type_), {})


def deployment_replicas(c: Cluster, name: str) -> int | None:
    dep = c.obj("apps", "v1", "deployments", name)
    return None if dep is None else int(dep["spec"]["replicas"])


def phase(c: Cluster, name: str) -> str | None:
    rel = c.obj(GROUP, VERSION, "releases", name)
    return None if rel is None else rel.get("status", {}).get("phase")


def scaled_to_zero(c: Cluster, name: str) -> bool:
    rev = c.obj(GROUP, VERSION, "revisions", name)
    if rev is None or deployment_replicas(c, name) != 0:
        return False
    return condition(rev, "Active").get("reason") == "ScaledToZero"


def test_retired_revisions_go_to_zero_and_retry_brings_one_back_before_traffic(
    cluster: Cluster,
) -> None:
    c = cluster
    assert c.deployments is not None
    controller = Controller(c.kubeconfig, c.tmp / "controller.log", "--scenario", "good")
    log = controller.output
    try:
        c.apply(HOLD, "policy.yaml")
        c.apply(with_delay(service_yaml("v1", policy="hold"), "2s"), "v1.yaml")
        c.wait_split((("web-00001", 100),), 30, log=log())
        c.apply(with_delay(service_yaml("v2", policy="hold"), "2s"), "v2.yaml")
        c.wait_split((("web-00001", 80), ("web-00002", 20)), 30, log=log())
        wait_for(lambda: phase(c, "web-00002") == "Paused", 30, "the pause step")
        aborted = rollout(c.kubeconfig, "abort", "web")
        assert aborted.returncode == 0, aborted.stderr
        wait_for(lambda: phase(c, "web-00002") == "Aborted", 30, f"the abort\n{log()}")
        c.wait_split((("web-00001", 100),), 10, log=log())

        # The aborted canary goes to 0 after the delay, not before; Ready is kept.
        wait_for(lambda: scaled_to_zero(c, "web-00002"), 30, f"web-00002 at 0\n{log()}")
        rev = revision_(c, "web-00002")
        rel = c.obj(GROUP, VERSION, "releases", "web-00002")
        assert rel is not None
        stopped = at(condition(rev, "Active")["lastTransitionTime"])
        assert (stopped - at(rel["status"]["finishedAt"])).total_seconds() >= 2
        assert condition(rev, "Ready")["status"] == "True"
        assert rev["status"]["desiredReplicas"] == 0
        assert rev["metadata"]["labels"]["rollout.dev/routing-state"] == "reserve"
        assert deployment_replicas(c, "web-00001") == 1
        svc = c.rsvc()
        assert condition(svc, "Ready")["status"] == "True", svc["status"]

        # retry: scaled up, and no weight while its pods are not ready.
        c.deployments.hold("web-00002")
        retried = rollout(c.kubeconfig, "retry", "web")
        assert retried.returncode == 0, retried.stderr
        wait_for(
            lambda: (
                deployment_replicas(c, "web-00002") == 1
                and condition(revision_(c, "web-00002"), "Active").get("reason") == "Activating"
            ),
            30,
            f"web-00002 asked to run again\n{log()}",
        )
        recorder = c.record()
        wait_for(lambda: phase(c, "web-00002-2") == "Pending", 10, "the retried release")
        again = c.obj(GROUP, VERSION, "releases", "web-00002-2")
        assert again is not None
        assert again["status"].get("weights") is None
        assert c.split() == (("web-00001", 100),)
        c.deployments.release("web-00002")
        moved = (("web-00001", 80), ("web-00002", 20))
        wait_for(lambda: recorder.splits[-1:] == [moved], 30, f"the first weight\n{log()}")
        splits = recorder.stop()
        assert splits[0] == (("web-00001", 100),)
        assert splits[1:] == [moved], splits

        # promote: the replaced stable goes to 0 in turn.
        wait_for(lambda: phase(c, "web-00002-2") == "Paused", 30, "the pause step again")
        promoted = rollout(c.kubeconfig, "promote", "web")
        assert promoted.returncode == 0, promoted.stderr
        wait_for(lambda: phase(c, "web-00002-2") == "Succeeded", 30, f"promoted\n{log()}")
        c.wait_split((("web-00002", 100),), 10, log=log())
        wait_for(lambda: scaled_to_zero(c, "web-00001"), 30, f"web-00001 at 0\n{log()}")
        assert deployment_replicas(c, "web-00002") == 1
        table = rollout(c.kubeconfig, "get", "revisions")
        assert table.returncode == 0, table.stderr
        assert "ScaledToZero" in table.stdout
        assert_granted(c.emu)
    finally:
        assert controller.stop() == 0, controller.output()
