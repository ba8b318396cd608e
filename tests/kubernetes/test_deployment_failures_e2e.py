"""Deployments that fail as on a cluster (issue 18, findings 6 and 8), end to end: the
real CLI, a controller process with the kubernetes platform, the emulator's
Deployment controller with a failure mode per Deployment.

One controller, three Services released at once (v1 ready, then v2):
- `pull`: v2's image cannot be pulled: its Deployment exceeds its progress deadline
  (60 s on a 0.02 time scale); the release fails with the Deployment's message and
  the command that shows why (pods are not read: no grant).
- `psa`: Pod Security admission refuses v2's pods: the release fails at once with
  the admission's message.
- `slow`: v2's pods take 3 s to become ready: the controller watches the Deployment
  instead of reading it every second (few GETs), and the release then succeeds.
"""

from __future__ import annotations

import time
from typing import Any

from kubecluster import (
    Cluster,
    Controller,
    Kubectl,
    assert_granted,
    controller_requests,
    wait_for,
)

GROUP, VERSION = "rollout.dev", "v1alpha1"
NAMES = ("pull", "psa", "slow")

POLICY = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: direct}
spec:
  steps: [{setWeight: 50}]
"""


def service(name: str, version: str, deadline: str = "60s") -> str:
    return f"""\
apiVersion: rollout.dev/v1alpha1
kind: Service
metadata: {{name: {name}, namespace: default}}
spec:
  policy: direct
  progressDeadline: {deadline}
  routing: {{router: gateway-api, parentRefs: [{{name: public}}]}}
  template:
    spec:
      containers:
        - name: app
          image: "registry.example/{name}:{version}"
          ports: [{{containerPort: 8080}}]
"""


def stable(c: Cluster, name: str) -> str | None:
    svc = c.obj(GROUP, VERSION, "services", name) or {}
    return (svc.get("status") or {}).get("stableRevision")


def release(c: Cluster, name: str) -> dict[str, Any]:
    return (c.obj(GROUP, VERSION, "releases", name) or {}).get("status") or {}


def finished(c: Cluster, name: str) -> dict[str, Any] | None:
    status = release(c, name)
    return status if status.get("phase") in ("Failed", "Succeeded", "RolledBack") else None


def message(status: dict[str, Any]) -> str:
    return str(status.get("message", ""))


def revision_ready(c: Cluster, name: str) -> str:
    rev = c.obj(GROUP, VERSION, "revisions", name) or {}
    ready = [x for x in (rev.get("status") or {}).get("conditions") or [] if x["type"] == "Ready"]
    return str(ready[0].get("message", "")) if ready else ""


def deployment_gets(c: Cluster, name: str) -> int:
    return sum(
        1
        for r in controller_requests(c.emu)
        if (r.verb, r.resource, r.name) == ("get", "deployments", name)
    )


def test_failed_deployments_fail_their_releases_with_the_cause(
    cluster: Cluster, kubectl: Kubectl
) -> None:
    c = cluster

    def apply(text: str, name: str) -> None:  # kubectl: quicker than a CLI process
        (c.tmp / name).write_text(text)
        done = kubectl(c.kubeconfig, "apply", "--validate=false", "-f", str(c.tmp / name))
        assert done.returncode == 0, done.stderr

    c.emu.deployments.time_scale = 0.02  # a 60 s progress deadline lasts 1.2 s
    controller = Controller(c.kubeconfig, c.tmp / "controller.log")
    log = controller.output
    try:
        apply("---\n".join([POLICY, *(service(n, "v1") for n in NAMES)]), "v1.yaml")
        for name in NAMES:
            wait_for(lambda n=name: stable(c, n) == f"{n}-00001", 30, f"{name} v1\n{log()}")
        c.emu.deployments.fail("image-pull", name="pull-00002")
        c.emu.deployments.fail("pod-security", name="psa-00002")
        c.emu.deployments.hold("slow-00002")
        slow = service("slow", "v2", deadline="600s")  # 12 s: it is not to fail
        # 60 s for psa too: it must fail on the admission's refusal, not on a deadline
        # that a loaded machine lets pass before the controller's first look
        psa = service("psa", "v2", deadline="3000s")
        apply("---\n".join([service("pull", "v2"), psa, slow]), "v2.yaml")

        # A slow start is watched, not polled: measured over 3 s from when it is held.
        wait_for(
            lambda: "0/1 replicas available" in revision_ready(c, "slow-00002"),
            20,
            f"slow-00002 held\n{log()}",
        )
        before, since = deployment_gets(c, "slow-00002"), time.monotonic()

        # Pod Security: failed at once (not after the deadline), with the admission's words.
        refused = wait_for(lambda: finished(c, "psa-00002"), 20, f"psa v2\n{log()}")
        assert refused["phase"] == "Failed", refused
        assert "canary psa-00002 failed: ReplicaFailure: FailedCreate: pods " in message(refused)
        assert 'violates PodSecurity "restricted:latest"' in message(refused), refused

        # Image pull: the Deployment's deadline, its message and where to look for why.
        pull = wait_for(lambda: finished(c, "pull-00002"), 20, f"pull v2\n{log()}")
        assert pull["phase"] == "Failed", pull
        words = message(pull)
        assert "canary pull-00002 failed: ProgressDeadlineExceeded: ReplicaSet " in words, pull
        assert "has timed out progressing: 0/1 replicas available (why: kubectl describe" in words
        assert "pods -n default -l rollout.dev/revision=pull-00002)" in words, pull

        # The slow start: polling would have read its Deployment about 3 times by now.
        time.sleep(max(0.0, since + 3 - time.monotonic()))  # the window measured
        assert deployment_gets(c, "slow-00002") - before <= 1, log()
        c.emu.deployments.heal(name="slow-00002")  # its pods become ready: watched too
        slow = wait_for(lambda: finished(c, "slow-00002"), 20, f"slow v2\n{log()}")
        assert slow["phase"] == "Succeeded", slow
        assert_granted(c.emu)
    finally:
        assert controller.stop() == 0, controller.output()
