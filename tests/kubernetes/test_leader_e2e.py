"""Two controller processes with leader election on the API emulator: only the
Lease holder writes; killing it (SIGKILL, no goodbye) hands over to the standby
within a lease duration (the standby notices the last renewal at its next look and
counts from a retry period before), and the release it was running finishes with
every step once, in order.

"At no time do both reconcile" is checked on the emulator's request log: every
write (other than to the Lease) comes from one identity, and all of the old
leader's writes come before the first of the new leader's.
"""

from __future__ import annotations

import time

from kubecluster import (
    Cluster,
    Controller,
    Recorder,
    assert_granted,
    service_yaml,
    wait_for,
)

LEASE = ["--lease-duration", "3", "--renew-deadline", "2", "--retry-period", "0.5"]
STEPPED = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: stepped}
spec:
  steps:
    - setWeight: 20
    - pause: {duration: 4s}
    - setWeight: 40
    - pause: {duration: 4s}
    - setWeight: 60
    - pause: {duration: 4s}
    - setWeight: 80
    - pause: {duration: 4s}
"""

WRITES = {"create", "update", "patch", "delete"}


def holder(c: Cluster) -> str | None:
    lease = c.emu.get_object("coordination.k8s.io", "v1", "leases", "default", "rollout-controller")
    return (lease or {}).get("spec", {}).get("holderIdentity")


def writers(c: Cluster) -> list[str]:
    """The identity behind each controller write, in the order they were answered."""
    out = []
    for record in c.emu.requests.snapshot():
        if record.verb not in WRITES or record.resource == "leases":
            continue
        if "rollout-controller/" in record.user_agent:
            out.append(record.user_agent.split("rollout-controller/")[1].split()[0])
    return out


def test_killing_the_leader_hands_over_and_the_release_finishes(cluster: Cluster) -> None:
    c = cluster
    a = Controller(c.kubeconfig, c.tmp / "a.log", "--leader-elect", "--identity", "a", *LEASE)
    wait_for(lambda: holder(c) == "a", 15, "a to lead")
    b = Controller(c.kubeconfig, c.tmp / "b.log", "--leader-elect", "--identity", "b", *LEASE)
    recorder: Recorder | None = None
    try:
        c.apply(STEPPED, "policy.yaml")
        c.apply(service_yaml("v1", policy="stepped"), "v1.yaml")
        c.wait_split((("web-00001", 100),), 30)
        recorder = c.record()
        c.apply(service_yaml("v2", policy="stepped"), "v2.yaml")
        wait_for(
            lambda: (
                recorder is not None and (("web-00001", 60), ("web-00002", 40)) in recorder.splits
            ),
            30,
            "the release at 40%",
        )
        assert holder(c) == "a"
        assert set(writers(c)) == {"a"}  # the standby has not written anything
        a.kill()
        killed = time.monotonic()
        wait_for(lambda: holder(c) == "b", 10, "b to take the lease")
        handover = time.monotonic() - killed
        print(f"handover after {handover:.2f} s")
        assert handover <= 3 + 0.3, handover  # a lease duration (and this poll's slack)
        wait_for(
            lambda: (
                (rel := c.obj("rollout.dev", "v1alpha1", "releases", "web-00002"))
                and rel.get("status", {}).get("phase") == "Succeeded"
            ),
            40,
            f"the release to succeed under b; b's log:\n{b.output()[-3000:]}",
        )
        wait_for(
            lambda: recorder is not None and recorder.splits[-1] == (("web-00002", 100),),
            10,
            "all traffic on web-00002",
        )
        splits = recorder.stop()
        assert splits == [
            (("web-00001", 100),),
            (("web-00001", 80), ("web-00002", 20)),
            (("web-00001", 60), ("web-00002", 40)),
            (("web-00001", 40), ("web-00002", 60)),
            (("web-00001", 20), ("web-00002", 80)),
            (("web-00002", 100),),
        ], splits
        order = writers(c)
        assert order.count("b") > 0
        first_b = order.index("b")
        assert set(order[:first_b]) == {"a"}
        assert set(order[first_b:]) == {"b"}, "a and b both wrote after the handover"
        assert_granted(c.emu)
    finally:
        if recorder is not None:
            recorder.stop()
        assert b.stop() == 0, b.output()
    assert holder(c) in (None, ""), "b gives the lease up when it stops"
