"""A release through an unreliable API server: the emulator answers the controller's
requests with 409 Conflict, 500 and timeouts on a share of them and drops its watch
streams every few seconds. The release still walks every step once, in order, ends
Succeeded, and the status the controller wrote is all there (history, weights, the
Service's stable revision, the Route's applied split)."""

from __future__ import annotations

from kubecluster import (
    Cluster,
    Controller,
    Recorder,
    assert_granted,
    rollout,
    service_yaml,
    wait_for,
)
from kubeemu import Faults

STEPPED = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: stepped}
spec:
  steps:
    - setWeight: 25
    - pause: {duration: 3s}
    - setWeight: 50
    - pause: {duration: 3s}
    - setWeight: 75
    - pause: {duration: 3s}
"""


def test_a_release_finishes_correctly_through_api_faults(cluster: Cluster) -> None:
    c = cluster
    c.emu.faults = Faults(
        conflict_rate=0.1,
        error_rate=0.1,
        timeout_rate=0.03,
        timeout_s=1.0,
        drop_watch_after_s=2.0,
        seed=7,
        user_agent_contains="rollout-controller",
    )
    controller = Controller(c.kubeconfig, c.tmp / "controller.log")
    recorder: Recorder | None = None
    try:
        c.apply(STEPPED, "policy.yaml")
        c.apply(service_yaml("v1", policy="stepped"), "v1.yaml")
        c.wait_split(
            (("web-00001", 100),), 60, log=f"controller log:\n{controller.output()[-3000:]}"
        )
        recorder = c.record()
        c.apply(service_yaml("v2", policy="stepped"), "v2.yaml")
        watched = rollout(c.kubeconfig, "status", "web", "--watch", "--timeout", "90s", timeout=120)
        assert watched.returncode == 0, (
            watched.stdout + watched.stderr + "\ncontroller log:\n" + controller.output()[-6000:]
        )
        wait_for(
            lambda: recorder is not None and recorder.splits[-1] == (("web-00002", 100),),
            30,
            "all traffic on web-00002",
        )
        splits = recorder.stop()
        assert splits == [
            (("web-00001", 100),),
            (("web-00001", 75), ("web-00002", 25)),
            (("web-00001", 50), ("web-00002", 50)),
            (("web-00001", 25), ("web-00002", 75)),
            (("web-00002", 100),),
        ], splits
        faulted = [r for r in c.emu.requests.snapshot() if r.status_code in (0, 409, 500)]
        assert len(faulted) >= 10, "the faults were not exercised"
        rel = c.obj("rollout.dev", "v1alpha1", "releases", "web-00002")
        assert rel is not None
        status = rel["status"]
        assert status["phase"] == "Succeeded"
        weights = [h["weights"]["canary"] for h in status["history"] if h.get("weights")]
        assert weights == sorted(weights)
        assert {25, 50, 75, 100} <= set(weights)
        wait_for(
            lambda: c.rsvc().get("status", {}).get("stableRevision") == "web-00002",
            30,
            "the Service's status to name web-00002 stable",
        )
        wait_for(
            lambda: (
                [
                    (t["revisionName"], t["percent"])
                    for t in (c.obj("rollout.dev", "v1alpha1", "routes", "web") or {})
                    .get("status", {})
                    .get("traffic", [])
                    if t["percent"]
                ]
                == [("web-00002", 100)]
            ),
            30,
            "the Route's status to show the applied split",
        )
        assert_granted(c.emu)
    finally:
        if recorder is not None:
            recorder.stop()
        c.emu.faults = Faults()
        assert controller.stop() == 0, controller.output()
